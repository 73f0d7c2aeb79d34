//! Class-centroid alignment of the two modalities (SSAN; Li et al., 2020: a semantic
//! alignment term that pulls each class's centroid in one domain onto the same class's centroid
//! in the other).
//!
//! Choice documented here: centroids are **batch** centroids of L2-normalised rows, not moving
//! averages. Batch centroids keep the loss stateless, so a step depends only on its batch and
//! the run stays deterministic per seed; normalising the rows stops the loss from being lowered
//! by shrinking both embeddings towards 0. With `u_i = x_v'_i/‖x_v'_i‖`, `w_i = x_s'_i/‖x_s'_i‖`,
//! the classes `C_b` present in the batch and `μ_v^c`, `μ_s^c` the means of `u`, `w` over the rows
//! of class `c`:
//!
//! `L_SSAN = 1/|C_b| Σ_{c ∈ C_b} ‖μ_v^c − μ_s^c‖²`  (in [0, 4]).
//!
//! A class absent from the batch contributes nothing (its centroids are not defined).

use super::class_average_weights;
use crate::model::ema::l2_normalize;
use anyhow::Result;
use candle_core::Tensor;

/// `L_SSAN` of `x_v'` (n, d) and `x_s'` (n, d) with `labels` (n,) u32 in `0..k`: a scalar f32.
///
/// # Errors
/// Mismatched shapes; candle errors.
pub fn ssan_loss(xv_p: &Tensor, xs_p: &Tensor, labels: &Tensor, k: usize) -> Result<Tensor> {
    let (a, present) = class_average_weights(labels, k)?;
    // (k, n) x (n, d) = (k, d): row c is the centroid of class c (zero when absent).
    let at = a.t()?;
    let mu_v = at.matmul(&l2_normalize(xv_p)?)?;
    let mu_s = at.matmul(&l2_normalize(xs_p)?)?;
    let per_class = (mu_v - mu_s)?.sqr()?.sum(1)?;
    let n_present = present.sum_all()?;
    Ok((per_class * &present)?.sum_all()?.broadcast_div(&n_present.maximum(1.0)?)?)
}
