//! Matrix-product kernels the `gemm` crate (0.19) and candle (0.11) do not have: a bf16 x bf16
//! -> f32 product for x86-64 CPUs with AVX-512 BF16 (`vdpbf16ps`), used by the host encoder
//! layers under `--dtype bf16` on the CPU (docs/extraction.md).
//!
//! [`bf16`] holds the safe part (rounding, packing, the public product); [`bf16_simd`] the
//! AVX-512 BF16 micro-kernel and the threaded driver, the only `unsafe` code of the kernels.

pub mod bf16;
mod bf16_simd;

pub use bf16::{has_avx512_bf16, PackedA, PackedB};
