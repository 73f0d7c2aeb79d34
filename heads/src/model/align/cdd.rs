//! Contrastive domain discrepancy (CDD; Kang, Jiang, Yang and Hauptmann, "Contrastive
//! Adaptation Network for Unsupervised Domain Adaptation", CVPR 2019, eqs. 2-5), with the image
//! embeddings `x_v'` as one domain and the text embeddings `x_s'` as the other, both labelled.
//!
//! For classes `c1`, `c2` the class-conditional squared MMD is
//! `D^{c1c2} = e1 + e2 − 2·e3` with `e1` the mean kernel value over pairs of image rows of class
//! `c1`, `e2` over pairs of text rows of class `c2` and `e3` over (image of `c1`, text of `c2`)
//! pairs; every pair of rows is counted, a row with itself included (the biased V-statistic of
//! CAN's reference code, so `D^{cc} ≥ 0`). Over the set `C_b` of classes present in the batch:
//!
//! `CDD = 1/|C_b| Σ_c D^{cc} − 1/(|C_b|(|C_b|−1)) Σ_{c1 ≠ c2} D^{c1c2}`
//!
//! (intra-class minus inter-class discrepancy; the second term is 0 when one class is present).
//!
//! Kernel: a sum of `L` Gaussians (config key `cdd_kernels`, CAN's default 5)
//! `k(a, b) = Σ_l exp(−‖a − b‖² / σ_l)`, `σ_l = σ · mul^{l − ⌊L/2⌋}` (`cdd_kernel_mul`, default 2),
//! and the bandwidth rule of CAN's code: `σ` is the mean squared distance over all pairs of
//! distinct rows of the joint batch `[x_v'; x_s']`, taken as a constant (no gradient) and floored
//! at [`MIN_BANDWIDTH`] so that identical rows do not divide by zero.

use super::class_average_weights;
use anyhow::{ensure, Result};
use candle_core::Tensor;

/// Floor of the base bandwidth `σ` (squared-distance units).
pub const MIN_BANDWIDTH: f64 = 1e-6;

/// Squared Euclidean distances `‖a_i − b_j‖²`: (n, d), (m, d) -> (n, m), clamped at 0 against
/// rounding.
pub fn squared_distances(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let aa = a.sqr()?.sum_keepdim(1)?;
    let bb = b.sqr()?.sum_keepdim(1)?.t()?;
    let ab = a.matmul(&b.t()?)?;
    Ok(aa.broadcast_add(&bb)?.broadcast_sub(&(ab * 2.0)?)?.relu()?)
}

/// CAN's base bandwidth of `x_v'` (n, d) and `x_s'` (n, d): the mean of `‖z_i − z_j‖²` over the
/// `2n(2n − 1)` ordered pairs `i ≠ j` of `z = [x_v'; x_s']`, detached, at least [`MIN_BANDWIDTH`].
/// A scalar f32 tensor.
pub fn base_bandwidth(xv_p: &Tensor, xs_p: &Tensor) -> Result<Tensor> {
    let z = Tensor::cat(&[xv_p, xs_p], 0)?.detach();
    let m = z.dim(0)?;
    // The diagonal of the distance matrix is 0, so the sum over all pairs is the sum over i ≠ j.
    let pairs = (m * m.saturating_sub(1)).max(1) as f64;
    Ok((squared_distances(&z, &z)?.sum_all()? / pairs)?.maximum(MIN_BANDWIDTH)?)
}

/// Multi-kernel Gaussian values `Σ_l exp(−d2 / (σ·mul^{l − ⌊L/2⌋}))` of squared distances `d2`
/// (any shape) with the scalar base bandwidth `sigma`.
pub fn gaussian_kernels(d2: &Tensor, sigma: &Tensor, kernels: usize, mul: f64) -> Result<Tensor> {
    let mut total = d2.zeros_like()?;
    for l in 0..kernels {
        let bw = (sigma * mul.powi(l as i32 - (kernels / 2) as i32))?;
        total = (total + d2.broadcast_div(&bw)?.neg()?.exp()?)?;
    }
    Ok(total)
}

/// CDD of `x_v'` (n, d), `x_s'` (n, d) with `labels` (n,) u32 in `0..k`, `kernels` Gaussians
/// spaced by `mul` around CAN's base bandwidth: a scalar f32 (may be negative).
///
/// # Errors
/// `kernels` zero, mismatched shapes; candle errors.
pub fn cdd_loss(xv_p: &Tensor, xs_p: &Tensor, labels: &Tensor, k: usize, kernels: usize, mul: f64) -> Result<Tensor> {
    let sigma = base_bandwidth(xv_p, xs_p)?;
    cdd_with_bandwidth(xv_p, xs_p, labels, k, &sigma, kernels, mul)
}

/// [`cdd_loss`] with the base bandwidth `sigma` (scalar tensor) given.
pub fn cdd_with_bandwidth(
    xv_p: &Tensor,
    xs_p: &Tensor,
    labels: &Tensor,
    k: usize,
    sigma: &Tensor,
    kernels: usize,
    mul: f64,
) -> Result<Tensor> {
    ensure!(kernels > 0, "CDD needs at least one kernel");
    ensure!(xv_p.dims() == xs_p.dims(), "CDD needs equal shapes, got {:?} and {:?}", xv_p.dims(), xs_p.dims());
    let kern = |a: &Tensor, b: &Tensor| gaussian_kernels(&squared_distances(a, b)?, sigma, kernels, mul);
    let (a, present) = class_average_weights(labels, k)?;
    let at = a.t()?;
    // (k, n) K (n, k): entry (c1, c2) is the mean kernel value over (class c1, class c2) pairs.
    let e_vv = at.matmul(&kern(xv_p, xv_p)?)?.matmul(&a)?;
    let e_ss = at.matmul(&kern(xs_p, xs_p)?)?.matmul(&a)?;
    let e_vs = at.matmul(&kern(xv_p, xs_p)?)?.matmul(&a)?;
    let eye = Tensor::eye(k, candle_core::DType::F32, xv_p.device())?;
    let e1 = (e_vv * &eye)?.sum_keepdim(1)?; // (k, 1): e1 of class c1
    let e2 = (e_ss * &eye)?.sum_keepdim(0)?; // (1, k): e2 of class c2
    let d = e1.broadcast_add(&e2)?.broadcast_sub(&(e_vs * 2.0)?)?;
    let pair = present.unsqueeze(1)?.broadcast_mul(&present.unsqueeze(0)?)?;
    let n_present = present.sum_all()?;
    let intra = (&d * &eye)?.mul(&pair)?.sum_all()?.broadcast_div(&n_present.maximum(1.0)?)?;
    let off = pair.broadcast_mul(&eye.affine(-1.0, 1.0)?)?;
    let n_pairs = off.sum_all()?;
    let inter = (d * &off)?.sum_all()?.broadcast_div(&n_pairs.maximum(1.0)?)?;
    Ok((intra - inter)?)
}
