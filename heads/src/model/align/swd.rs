//! Sliced Wasserstein discrepancy (SWD; Lee, Batra, Baig and Ulbricht, "Sliced Wasserstein
//! Discrepancy for Unsupervised Domain Adaptation", CVPR 2019, eq. 5 and its reference code).
//!
//! Lee et al. compare two classifiers' probability outputs on the same samples. Here the two
//! distributions are the shared classifier's softmax outputs on the two modalities,
//! `p_v = softmax(C(x_v'))` and `p_s = softmax(C(x_s'))`, each (n, K). With `M` random unit
//! directions `θ_m ∈ R^K` (config key `swd_projections`, fresh each step from the seeded RNG):
//!
//! `SWD = 1/(n·M) Σ_m Σ_i (sort(p_v θ_m)_i − sort(p_s θ_m)_i)²`
//!
//! where `sort` orders the n projected values of the batch: the squared 1-D Wasserstein-2
//! distance between the projected empirical distributions, averaged over directions. It does
//! not pair row `i` of one modality with row `i` of the other, so a permutation of one batch
//! leaves it unchanged.

use crate::nn::rng::HostRng;
use anyhow::{ensure, Result};
use candle_core::{Device, Tensor, D};

/// `m` random unit directions in `R^k` as the columns of a (k, m) f32 matrix: standard normal
/// draws divided by their norm (uniform on the sphere).
///
/// # Errors
/// `k` or `m` zero; candle errors.
pub fn random_projections(rng: &mut HostRng, k: usize, m: usize, device: &Device) -> Result<Tensor> {
    ensure!(k > 0 && m > 0, "random projections need k > 0 and m > 0 (got k = {k}, m = {m})");
    let theta = rng.normal(k, m, device)?;
    // A column of k standard normals is never exactly zero in practice; the floor keeps the
    // division finite all the same.
    let norm = theta.sqr()?.sum_keepdim(0)?.sqrt()?.maximum(1e-12)?;
    Ok(theta.broadcast_div(&norm)?)
}

/// Sliced Wasserstein discrepancy of the rows of `a` (n, K) and `b` (n, K) along the columns of
/// `projections` (K, M): a scalar f32, `mean over (i, m) of (sort(aθ_m)_i − sort(bθ_m)_i)²`.
///
/// # Errors
/// Shapes that do not match (`a` and `b` need the same number of rows); candle errors.
pub fn sliced_wasserstein(a: &Tensor, b: &Tensor, projections: &Tensor) -> Result<Tensor> {
    ensure!(a.dims() == b.dims(), "SWD needs equal shapes, got {:?} and {:?}", a.dims(), b.dims());
    // (n, M) -> (M, n): sort each direction's n projected values.
    let pa = a.matmul(projections)?.t()?.contiguous()?;
    let pb = b.matmul(projections)?.t()?.contiguous()?;
    let (sa, _) = pa.sort_last_dim(true)?;
    let (sb, _) = pb.sort_last_dim(true)?;
    Ok((sa - sb)?.sqr()?.mean_all()?)
}

/// SWD between the softmax outputs of the classifier logits of the two modalities, `logits_v`
/// and `logits_s` (n, K), along `projections` (K, M).
pub fn swd_loss(logits_v: &Tensor, logits_s: &Tensor, projections: &Tensor) -> Result<Tensor> {
    let p_v = candle_nn::ops::softmax(logits_v, D::Minus1)?;
    let p_s = candle_nn::ops::softmax(logits_s, D::Minus1)?;
    sliced_wasserstein(&p_v, &p_s, projections)
}
