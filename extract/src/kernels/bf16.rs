//! bf16 operands and the bf16 x bf16 -> f32 product `C += A·B` (the safe half of the kernel;
//! the AVX-512 BF16 code is in [`super::bf16_simd`]).
//!
//! bf16 (bfloat16) is the upper 16 bits of an IEEE f32: 1 sign, 8 exponent, 7 mantissa bits.
//! Rounding is to nearest, ties to even, as `vcvtneps2bf16` does (Intel SDM, "VCVTNEPS2BF16"):
//! NaN stays a quiet NaN with its sign, f32 denormals become a signed zero (the instruction
//! treats them as zero), and values past the largest bf16 round to infinity.
//!
//! # Design
//! Two instructions multiply bf16 *pairs* along `k` and accumulate in f32: `vdpbf16ps` (AVX-512
//! BF16: 16 lanes, each `c += a0·b0 + a1·b1`) and `tdpbf16ps` (AMX-BF16: a 16 x 16 f32 tile
//! `C += A·B` with A 16 rows x 32 bf16 and B 16 pair-rows x 16 columns). One packed layout
//! serves both:
//! - [`PackedA`] is the activations `(rows, k)` rounded to bf16, row-major with `k` padded to a
//!   multiple of [`K_ALIGN`] = 32 and the rows to a multiple of [`ROW_ALIGN`] (zeros): the pair
//!   `(a[i, 2p], a[i, 2p+1])` is one 32-bit word (broadcast by the AVX-512 kernel), and 32
//!   consecutive bf16 of 16 rows are one AMX A tile (row stride `2·kp` bytes).
//! - [`PackedB`] is the weights `(k, n)` in panels of [`NR`] = 32 columns: per panel and k-pair
//!   `p`, the 32 columns' pairs `(b[2p, j], b[2p+1, j])` side by side, 64 bf16 = 128 bytes = two
//!   zmm loads, or the rows of two AMX B tiles (stride 128 bytes, columns 0-15 and 16-31).
//!   Packed once at load; missing columns and the padded `k` rows are zero.
//!
//! The AVX-512 micro-kernel keeps an `MR x 32` tile of C in 2·MR zmm accumulators over the whole
//! `k`; the AMX one a 32 x 32 block in four tiles (tmm0-3, with A in tmm4-5 and B in tmm6-7).
//! Neither blocks `k` (a panel of `k = 3072` is 192 KiB, inside a core's L2): C is read and
//! written once per tile, with masked loads and stores on the edges (rows past `rows`, columns
//! past `n`). The threaded driver splits C into blocks of `8·MR` rows x `8·NR` columns, one
//! rayon task each, so a task reuses its A rows (in L2) across 8 weight panels.
//!
//! [`best_kernel`] picks AMX where the CPU and OS allow it, else AVX-512 BF16 (on the Intel Xeon
//! of docs/benchmarks.md the AVX-512 BF16 kernel ran at about half the f32 gemm's rate and AMX at
//! 3-8x it, so there only AMX beats f32; the AVX-512 BF16 path is for CPUs without AMX, e.g.
//! AMD Zen 4, where it is not measured yet); CPUs with neither
//! get [`portable_matmul_acc`], the same arithmetic in plain loops (slow; the CLI refuses
//! `--dtype bf16` there, so it serves tests). docs/benchmarks.md has the measured rates.

use rayon::prelude::*;

/// Rows of C per micro-kernel tile.
pub const MR: usize = 12;
/// Columns of C per micro-kernel tile and per packed weight panel (two zmm of 16 f32).
pub const NR: usize = 32;
/// `k` is padded to a multiple of this (one AMX tile row: 32 bf16 = 64 bytes).
pub const K_ALIGN: usize = 32;
/// Rows of A are padded to a multiple of this (MR for the AVX-512 tiles, 32 for the AMX ones).
pub const ROW_ALIGN: usize = 96;

/// Which code runs [`matmul_acc_on`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AMX-BF16 tiles (`tdpbf16ps`, 32 x 32 blocks of C), Intel Sapphire Rapids and later.
    Amx,
    /// AVX-512 BF16 (`vdpbf16ps`, MR x 32 register tiles).
    Avx512,
    /// Plain loops ([`portable_matmul_acc`]).
    Portable,
}

/// The kernels this CPU (and OS) can run, fastest first; [`Bf16Kernel::Portable`] always.
/// AMX needs the kernel's permission (Linux `arch_prctl(ARCH_REQ_XCOMP_PERM)`, asked once) and
/// is skipped when the environment sets `MARNET_BF16_AMX=0`.
pub fn available_kernels() -> Vec<Bf16Kernel> {
    let mut v = Vec::with_capacity(3);
    if has_avx512_bf16() {
        if super::bf16_simd::amx_ready() && std::env::var("MARNET_BF16_AMX").map_or(true, |v| v != "0") {
            v.push(Bf16Kernel::Amx);
        }
        v.push(Bf16Kernel::Avx512);
    }
    v.push(Bf16Kernel::Portable);
    v
}

/// The kernel [`matmul_acc`] uses (the first of [`available_kernels`], decided once).
pub fn best_kernel() -> Bf16Kernel {
    static BEST: std::sync::OnceLock<Bf16Kernel> = std::sync::OnceLock::new();
    *BEST.get_or_init(|| available_kernels()[0])
}

/// Whether this CPU runs the AVX-512 BF16 micro-kernel (`avx512f` and `avx512bf16`, detected at
/// run time and cached by std).
pub fn has_avx512_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `x` rounded to bf16 (ties to even, denormals to signed zero, NaN quiet), as raw bits.
pub fn round_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) as u16) | 0x0040;
    }
    if bits & 0x7F80_0000 == 0 {
        return ((bits >> 16) as u16) & 0x8000;
    }
    let round = 0x7FFF + ((bits >> 16) & 1);
    (bits.wrapping_add(round) >> 16) as u16
}

/// The f32 value of bf16 bits `h` (exact).
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Activations `(rows, k)` rounded to bf16 in the layout the micro-kernels read (module docs).
pub struct PackedA {
    /// Logical rows.
    pub rows: usize,
    /// Logical depth.
    pub k: usize,
    /// Row stride: `k` rounded up to a multiple of [`K_ALIGN`].
    pub(super) kp: usize,
    /// `(rows rounded up to ROW_ALIGN, kp)` row-major bf16 bits, pads zero.
    pub(super) data: Vec<u16>,
}

impl PackedA {
    /// Rounds `x` `(rows, k)` row-major f32 to bf16, rows in parallel.
    ///
    /// # Panics
    /// When `x.len() != rows·k` (a bug in the caller).
    pub fn from_rows(x: &[f32], rows: usize, k: usize) -> Self {
        assert_eq!(x.len(), rows * k, "PackedA: operand length");
        let kp = k.next_multiple_of(K_ALIGN);
        let mut data = vec![0u16; rows.next_multiple_of(ROW_ALIGN) * kp];
        if k > 0 {
            data.par_chunks_mut(kp).zip(x.par_chunks(k)).for_each(|(dst, src)| super::bf16_simd::round_row(src, dst));
        }
        PackedA { rows, k, kp, data }
    }
}

/// Weights `(k, n)` rounded to bf16 in 32-column panels of k-pairs (module docs), packed once.
pub struct PackedB {
    /// Depth (rows of the weight matrix, the layer's `d_in`).
    pub k: usize,
    /// Columns (the layer's `d_out`).
    pub n: usize,
    /// k-pairs per panel: `k` rounded up to [`K_ALIGN`], halved.
    pub(super) kp2: usize,
    /// `panels · kp2 · 2·NR` bf16 bits.
    pub(super) data: Vec<u16>,
}

impl PackedB {
    /// Packs `w` `(k, n)` row-major f32 (the layout of `Dense::w`, HF `weight` transposed).
    ///
    /// # Panics
    /// When `w.len() != k·n` (a bug in the caller).
    pub fn from_rows(w: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(w.len(), k * n, "PackedB: operand length");
        let kp2 = k.next_multiple_of(K_ALIGN) / 2;
        let panel_len = kp2 * 2 * NR;
        let mut data = vec![0u16; n.div_ceil(NR) * panel_len];
        data.par_chunks_mut(panel_len.max(1)).enumerate().for_each(|(q, panel)| {
            for (p, pairs) in panel.chunks_mut(2 * NR).enumerate() {
                for j in 0..NR.min(n - q * NR) {
                    let col = q * NR + j;
                    if 2 * p >= k {
                        break;
                    }
                    pairs[2 * j] = round_to_bf16(w[2 * p * n + col]);
                    if 2 * p + 1 < k {
                        pairs[2 * j + 1] = round_to_bf16(w[(2 * p + 1) * n + col]);
                    }
                }
            }
        });
        PackedB { k, n, kp2, data }
    }

    /// Packs `B = w_tᵀ` `(k, n)` from `w_t` `(n, k)` row-major: a PyTorch/HF `weight`
    /// `(out, in)` as the `(in, out)` operand of `x · Wᵀ`, without an f32 transpose first. Each
    /// column of `B` is a contiguous row of `w_t`, rounded 16 lanes at a time where the CPU
    /// allows ([`super::bf16_simd`]); the packed bits equal [`PackedB::from_rows`] of the
    /// transpose.
    ///
    /// # Panics
    /// When `w_t.len() != k·n` (a bug in the caller).
    pub fn from_transposed(w_t: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(w_t.len(), k * n, "PackedB: operand length");
        let kp2 = k.next_multiple_of(K_ALIGN) / 2;
        let panel_len = kp2 * 2 * NR;
        let mut data = vec![0u16; n.div_ceil(NR) * panel_len];
        data.par_chunks_mut(panel_len.max(1)).enumerate().for_each_init(
            || vec![0u16; k],
            |col_bits, (q, panel)| {
                for j in 0..NR.min(n - q * NR) {
                    let col = q * NR + j;
                    super::bf16_simd::round_row(&w_t[col * k..(col + 1) * k], col_bits);
                    // Row i of B goes to pair i/2, slot i%2 of column j in the panel.
                    for (i, &h) in col_bits.iter().enumerate() {
                        panel[(i / 2) * 2 * NR + 2 * j + i % 2] = h;
                    }
                }
            },
        );
        PackedB { k, n, kp2, data }
    }

    /// Weight panels of [`NR`] columns.
    pub(super) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// `b[i, j]` as f32 (for the portable path and tests).
    fn get(&self, i: usize, j: usize) -> f32 {
        let (q, c) = (j / NR, j % NR);
        bf16_to_f32(self.data[(q * self.kp2 + i / 2) * 2 * NR + 2 * c + i % 2])
    }
}

/// `c += A·B` with `c` `(a.rows, b.n)` row-major f32: bf16 inputs, f32 accumulation, on
/// [`best_kernel`].
///
/// # Panics
/// When `a.k != b.k` or `c.len() != a.rows·b.n` (a bug in the caller).
pub fn matmul_acc(a: &PackedA, b: &PackedB, c: &mut [f32]) {
    matmul_acc_on(best_kernel(), a, b, c);
}

/// [`matmul_acc`] on a given kernel, one of [`available_kernels`].
///
/// # Panics
/// As [`matmul_acc`], and when `kernel` is not available on this CPU.
pub fn matmul_acc_on(kernel: Bf16Kernel, a: &PackedA, b: &PackedB, c: &mut [f32]) {
    assert!(a.k == b.k && c.len() == a.rows * b.n, "bf16 matmul: operand shapes");
    if a.rows == 0 || b.n == 0 || a.k == 0 {
        return;
    }
    match kernel {
        Bf16Kernel::Amx => super::bf16_simd::matmul_acc(a, b, c, true),
        Bf16Kernel::Avx512 => super::bf16_simd::matmul_acc(a, b, c, false),
        Bf16Kernel::Portable => portable_matmul_acc(a, b, c),
    }
}

/// [`matmul_acc`] in plain loops over the widened bf16 values (every product of two bf16 is
/// exact in f32), rows in parallel; for CPUs without AVX-512 BF16.
///
/// # Panics
/// As [`matmul_acc`].
pub fn portable_matmul_acc(a: &PackedA, b: &PackedB, c: &mut [f32]) {
    assert!(a.k == b.k && c.len() == a.rows * b.n, "bf16 matmul: operand shapes");
    let n = b.n;
    if n == 0 {
        return;
    }
    c.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for p in 0..a.k {
            let x = bf16_to_f32(a.data[i * a.kp + p]);
            row.iter_mut().enumerate().for_each(|(j, y)| *y += x * b.get(p, j));
        }
    });
}

#[cfg(test)]
#[path = "bf16_tests.rs"]
mod tests;
