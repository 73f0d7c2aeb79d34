//! Generalized distillation (Lopez-Paz, Bottou, Schölkopf and Vapnik, "Unifying Distillation
//! and Privileged Information", ICLR 2016, section 4): the text features are privileged
//! information, available for training rows only.
//!
//! 1. A teacher `f_t` learns the labels from the privileged features `x*` (here the standardised
//!    text feature `x_s`, or `[x_s, x_v]`; config key `distill_teacher`).
//! 2. Its soft labels `s_i = softmax(f_t(x*_i) / T)` (temperature `T`, `distill_temperature`).
//! 3. The student `f_s` sees `x_v` only and minimises
//!    `1/n Σ_i [(1 − λ)·ℓ(y_i, σ(f_s(x_i))) + λ·ℓ(s_i, σ(f_s(x_i)))]` with `ℓ` the cross-entropy
//!    and `λ` the imitation weight (`distill_lambda`).
//!
//! Cross-entropy is linear in its target, so the objective is one soft cross-entropy against
//! `t_i = (1 − λ)·onehot(y_i) + λ·s_i` ([`distill_targets`], [`soft_cross_entropy`]). As in the
//! paper, the student's softmax has no temperature.

use anyhow::{ensure, Result};
use candle_core::{Tensor, D};

/// Soft targets `(1 − λ)·onehot(labels) + λ·softmax(teacher_logits / T)`: (n, K) f32 rows that
/// sum to 1.
///
/// `labels` (n,) u32 in `0..K`, `teacher_logits` (n, K). Errors: `T ≤ 0`, `λ` outside [0, 1],
/// mismatched shapes.
pub fn distill_targets(labels: &Tensor, teacher_logits: &Tensor, temperature: f64, lambda: f64) -> Result<Tensor> {
    ensure!(temperature > 0.0, "distillation temperature must be > 0, got {temperature}");
    ensure!((0.0..=1.0).contains(&lambda), "imitation weight λ must be in [0, 1], got {lambda}");
    let (n, k) = teacher_logits.dims2()?;
    ensure!(labels.dims() == [n], "labels {:?} do not match teacher logits {:?}", labels.dims(), [n, k]);
    let soft = candle_nn::ops::softmax(&(teacher_logits.detach() / temperature)?, D::Minus1)?;
    let hard = crate::model::align::one_hot(labels, k)?;
    Ok(((hard * (1.0 - lambda))? + (soft * lambda)?)?)
}

/// Mean over rows of `−Σ_j t_ij · log softmax(logits_i)_j`: logits and targets (n, K), a scalar
/// f32. Equals `candle_nn::loss::cross_entropy` when the targets are one-hot.
pub fn soft_cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let log_p = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    Ok((log_p * targets)?.sum(D::Minus1)?.mean_all()?.neg()?)
}
