//! The Linear op's products under `precision = "bf16"`: each operand rounded to bf16, products
//! accumulated in f32. On CPUs with AVX-512 BF16 the operands are packed for
//! [`marnet_extract::kernels::bf16`] (AVX-512 BF16 or AMX tiles); packing happens per call, as the
//! weights change every step and activations and gradients are new each time. Elsewhere (only
//! reachable with [`crate::nn::precision::ALLOW_PORTABLE_ENV`]) the rounded operands go through
//! the f32 `gemm` path: the same arithmetic (a product of two bf16 is exact in f32), in gemm's
//! summation order, at f32 speed plus the rounding.

use marnet_extract::kernels::bf16::{
    best_kernel, bf16_to_f32, matmul_acc, round_to_bf16, Bf16Kernel, PackedA, PackedB,
};
use rayon::prelude::*;

use super::host::{gemm_row_major, new_product, transposed};

/// Whether a bf16 micro-kernel (not the plain loops) runs on this CPU.
fn simd_kernel() -> bool {
    best_kernel() != Bf16Kernel::Portable
}

/// `v` with every entry rounded to bf16 and widened back to f32.
fn rounded(v: &[f32]) -> Vec<f32> {
    v.par_iter().map(|&x| bf16_to_f32(round_to_bf16(x))).collect()
}

/// `z (b, out) += x (b, in) · Wᵀ` with `w` `(out, in)` row-major (the PyTorch layout).
pub(super) fn add_x_wt(z: &mut [f32], x: &[f32], w: &[f32], b: usize, d_in: usize, d_out: usize) {
    assert!(z.len() == b * d_out && x.len() == b * d_in && w.len() == d_out * d_in, "bf16 linear: operand lengths");
    if simd_kernel() {
        matmul_acc(&PackedA::from_rows(x, b, d_in), &PackedB::from_transposed(w, d_in, d_out), z);
    } else {
        let w_t = transposed(&rounded(w), d_out, d_in); // (in, out)
                                                        // SAFETY: z is (b, out) and initialised, x (b, in) and w_t (in, out) row-major (asserted above).
        unsafe { gemm_row_major(z.as_mut_ptr(), true, &rounded(x), &w_t, b, d_in, d_out) };
    }
}

/// A new `(m, n)` matrix `lhs (m, k) · rhs (k, n)`, both row-major.
pub(super) fn product(lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    if !simd_kernel() {
        return new_product(&rounded(lhs), &rounded(rhs), m, k, n);
    }
    let mut out = vec![0f32; m * n];
    matmul_acc(&PackedA::from_rows(lhs, m, k), &PackedB::from_rows(rhs, k, n), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use crate::nn::activation::Act;
    use crate::nn::linear::Linear;
    use crate::nn::precision::{with_precision, Precision};
    use candle_core::{DType, Device, Result, Tensor, Var};

    /// `t` with every entry rounded to bf16 by candle's own conversion (the `half` crate: to
    /// nearest, ties to even) and widened back: the operands the bf16 products must see.
    fn rounded(t: &Tensor) -> Result<Tensor> {
        t.to_dtype(DType::BF16)?.to_dtype(DType::F32)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
        (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
    }

    /// A bf16 layer (bias, SiLU) against candle's f32 ops on the bf16-rounded operands, for the
    /// value and every gradient: `dX = r(dZ)·r(W)`, `dW = r(dZ)ᵀ·r(X)` with `r` the rounding and
    /// `dZ = mix ⊙ silu'(z)`, `db` = column sums of `dZ` (unrounded). Shapes off the kernel
    /// tiles (29 x 53 · 53 x 37). Both sides accumulate the same exact products in f32, so they
    /// agree to ~1e-6; the f32 layer differs from them by ~1e-3 (the rounding of the inputs),
    /// which the last assertion checks so that a layer ignoring the precision would fail.
    #[test]
    fn bf16_layer_rounds_every_product_input() -> Result<()> {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::randn(0f32, 0.3, (37, 53), &dev)?)?;
        let b = Var::from_tensor(&Tensor::randn(0f32, 0.5, 37, &dev)?)?;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (29, 53), &dev)?)?;
        let mix = Tensor::randn(0f32, 1.0, (29, 37), &dev)?;
        let lin = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let y = with_precision(Precision::Bf16, || lin.forward_act(x.as_tensor(), Act::Silu))?;
        let grads = (&y * &mix)?.sum_all()?.backward()?;

        let (rx, rw) = (rounded(x.as_tensor())?, rounded(w.as_tensor())?);
        let z = rx.matmul(&rw.t()?)?.broadcast_add(b.as_tensor())?;
        let want_y = z.silu()?;
        // silu'(z) = s + z·s·(1 - s) with s = sigmoid(z).
        let s = candle_nn::ops::sigmoid(&z)?;
        let dz = (&mix * (&s + (&z * &s)?.mul(&(1.0 - &s)?)?)?)?;
        let want_dx = rounded(&dz)?.matmul(&rw)?;
        let want_dw = rounded(&dz)?.t()?.matmul(&rx)?;
        let want_db = dz.sum(0)?;
        let get = |v: &Var| grads.get(v.as_tensor()).cloned().expect("gradient");
        assert!(max_diff(&y, &want_y)? < 2e-5, "values differ by {}", max_diff(&y, &want_y)?);
        assert!(max_diff(&get(&x), &want_dx)? < 2e-5, "dX differs by {}", max_diff(&get(&x), &want_dx)?);
        assert!(max_diff(&get(&w), &want_dw)? < 2e-5, "dW differs by {}", max_diff(&get(&w), &want_dw)?);
        assert!(max_diff(&get(&b), &want_db)? < 2e-5, "db differs by {}", max_diff(&get(&b), &want_db)?);

        let y_f32 = lin.forward_act(x.as_tensor(), Act::Silu)?;
        assert!(max_diff(&y_f32, &want_y)? > 1e-4, "the f32 layer should differ from the rounded products");
        Ok(())
    }

    /// A `(batch, out)` shift and no bias (the denoiser's first layer) under bf16: the shift is
    /// added exactly, the product rounded.
    #[test]
    fn bf16_shifted_layer_adds_the_shift_unrounded() -> Result<()> {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 0.3, (40, 23), &dev)?;
        let x = Tensor::randn(0f32, 1.0, (9, 23), &dev)?;
        let shift = Tensor::randn(0f32, 1.0, (9, 40), &dev)?;
        let lin = Linear::new(w.clone(), None);
        let y = with_precision(Precision::Bf16, || lin.forward_shift_act(&x, &shift, Act::Identity))?;
        let want = (rounded(&x)?.matmul(&rounded(&w)?.t()?)? + &shift)?;
        assert!(max_diff(&y, &want)? < 2e-5, "differs by {}", max_diff(&y, &want)?);
        Ok(())
    }
}
