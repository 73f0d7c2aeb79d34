//! Similarity distribution matching (SDM; Jiang and Ye, "Cross-Modal Implicit Relation
//! Reasoning and Aligning for Text-to-Image Person Retrieval", CVPR 2023, eqs. 1-4).
//!
//! For a batch of n image embeddings `x_v'` and their n text embeddings `x_s'` with labels `y`:
//! `p_ij = softmax_j(cos(x_v'_i, x_s'_j) / τ)` (config key `sdm_tau`, IRRA's 0.02),
//! `q_ij = y_ij / Σ_k y_ik` with `y_ij = 1` when rows i and j share a label (the normalised
//! label-match distribution; row i matches at least itself), and
//!
//! `L_i2t = 1/n Σ_i KL(p_i ‖ q_i) = 1/n Σ_i Σ_j p_ij (log p_ij − log(q_ij + ε))`,
//!
//! `L_t2i` the same with the transposed similarity matrix, `L_SDM = L_i2t + L_t2i`;
//! `ε` = [`SDM_EPS`] as in IRRA's code keeps `log q` finite where `q = 0`.

use super::one_hot;
use crate::model::ema::cosine_matrix;
use anyhow::{ensure, Result};
use candle_core::{Tensor, D};

/// `ε` inside `log(q + ε)`.
pub const SDM_EPS: f64 = 1e-8;

/// Mean over rows of `KL(softmax(logits_i) ‖ q_i)` for logits and target distributions (n, m).
pub fn kl_rows(logits: &Tensor, q: &Tensor) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let log_q = (q + SDM_EPS)?.log()?;
    Ok((log_p.exp()? * (log_p - log_q)?)?.sum(D::Minus1)?.mean_all()?)
}

/// The label-match distribution `q` (n, n): row i is uniform over the rows with `i`'s label.
pub fn label_match(labels: &Tensor, k: usize) -> Result<Tensor> {
    let y = one_hot(labels, k)?;
    let m = y.matmul(&y.t()?)?;
    Ok(m.broadcast_div(&m.sum_keepdim(1)?)?)
}

/// `L_SDM` of `x_v'` (n, d), `x_s'` (n, d), `labels` (n,) u32 in `0..k` at temperature `tau`:
/// a scalar f32 (≥ 0 up to ε).
///
/// # Errors
/// `tau` not positive, mismatched shapes; candle errors.
pub fn sdm_loss(xv_p: &Tensor, xs_p: &Tensor, labels: &Tensor, k: usize, tau: f64) -> Result<Tensor> {
    ensure!(tau > 0.0, "SDM needs tau > 0, got {tau}");
    ensure!(xv_p.dims() == xs_p.dims(), "SDM needs equal shapes, got {:?} and {:?}", xv_p.dims(), xs_p.dims());
    let s = (cosine_matrix(xv_p, xs_p)? / tau)?;
    // Labels match symmetrically, so q serves both directions.
    let q = label_match(labels, k)?;
    Ok((kl_rows(&s, &q)? + kl_rows(&s.t()?.contiguous()?, &q)?)?)
}
