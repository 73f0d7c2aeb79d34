//! The cross-modal alignment losses of the paper's Table 1 (MARNet, ICANN 2024), each computed
//! on the EMA encoders' outputs `x_v' = g(E_v x_v)` and `x_s' = g(E_s x_s)` of a labelled batch
//! and added to the classifier's cross-entropy in place of `L_ITA`:
//!
//! - [`swd`]: sliced Wasserstein discrepancy between the two modalities' classifier outputs
//!   (Lee et al., CVPR 2019).
//! - [`ssan`]: class-centroid alignment of the two modalities (Li et al., 2020).
//! - [`cdd`]: contrastive domain discrepancy, class-conditional multi-kernel MMD (Kang et al.,
//!   CVPR 2019).
//! - [`sdm`]: similarity distribution matching (Jiang and Ye, CVPR 2023).
//!
//! None of these papers publishes code for the image-text setting, so each file documents the
//! exact definition implemented. TEAM (Xie et al.) aligns token embeddings and cannot be computed
//! from the pooled per-sample features of the cache. The helpers here turn labels into the
//! per-class averaging matrices the class-conditional losses share.

pub mod cdd;
pub mod sdm;
pub mod ssan;
pub mod swd;

use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};

/// One-hot matrix of `labels` (n,) u32: (n, k) f32 with `Y_ic = 1` when `labels_i = c`.
///
/// # Errors
/// `labels` not a rank-1 u32 tensor; candle errors.
pub fn one_hot(labels: &Tensor, k: usize) -> Result<Tensor> {
    ensure!(labels.rank() == 1 && labels.dtype() == DType::U32, "labels must be a (n,) u32 tensor");
    let classes = Tensor::arange(0u32, k as u32, labels.device())?.unsqueeze(0)?;
    Ok(labels.unsqueeze(1)?.broadcast_eq(&classes)?.to_dtype(DType::F32)?)
}

/// Per-class averaging weights of a batch: `A = Y / max(count, 1)` (n, k), whose column `c`
/// averages the rows of class `c` (all zero for a class absent from the batch), and the
/// presence mask `p` (k,) f32 (1 where the class has at least one row). Constants: no gradient
/// flows into the labels.
pub fn class_average_weights(labels: &Tensor, k: usize) -> Result<(Tensor, Tensor)> {
    let y = one_hot(labels, k)?;
    let count = y.sum(0)?;
    let present = count.gt(0.0)?.to_dtype(DType::F32)?;
    let a = y.broadcast_div(&count.maximum(1.0)?.unsqueeze(0)?)?;
    Ok((a, present))
}
