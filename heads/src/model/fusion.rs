//! Fusion of `x_EMA` and `x_CDR` (paper eq. 24, DESIGN §2) and the logit-level fusions of
//! Counterfactual VQA (Niu et al. 2021).
//!
//! Feature fusions feed one Linear classifier: `concat` (2d inputs), `add`, `mul` (d inputs).
//! Logit fusions combine two branch classifiers' logits `z_a = W_a x_EMA`, `z_b = W_b x_CDR`:
//! `sum`: `log σ(z_a + z_b)`; `hm`: `p = σ(z_a)·σ(z_b)`, `log(p / (1 + p))`. Both are computed in
//! log space: `log σ(z) = -softplus(-z)`, `log p = log σ(z_a) + log σ(z_b)`,
//! `log(p/(1+p)) = log p - log(1 + exp(log p))` with `log p ≤ 0`, so nothing overflows.

use crate::model::config::FusionKind;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use crate::nn::rng::{dropout, HostRng};
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::Module;

/// `softplus(x) = log(1 + e^x)`, stable: `relu(x) + log(1 + e^{-|x|})`.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// `log σ(x) = -softplus(-x)`, elementwise.
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(softplus(&x.neg()?)?.neg()?)
}

/// `sum` fusion: `log σ(z_a + z_b)`, (n, K) -> (n, K).
pub fn fuse_sum(z_a: &Tensor, z_b: &Tensor) -> Result<Tensor> {
    log_sigmoid(&(z_a + z_b)?)
}

/// `hm` fusion: `log(p / (1 + p))`, `p = σ(z_a)·σ(z_b)`, (n, K) -> (n, K).
pub fn fuse_hm(z_a: &Tensor, z_b: &Tensor) -> Result<Tensor> {
    let log_p = (log_sigmoid(z_a)? + log_sigmoid(z_b)?)?;
    let log_1p = (log_p.exp()? + 1.0)?.log()?;
    Ok((log_p - log_1p)?)
}

/// The fusion classifier of phase 2 (parameters under `fusion.`).
pub struct Fusion {
    kind: FusionKind,
    /// Classifier on the fused feature, or the `x_EMA` branch for logit fusions.
    head_a: Linear,
    /// The `x_CDR` branch classifier (logit fusions only).
    head_b: Option<Linear>,
    dropout: f64,
}

impl Fusion {
    /// A fusion head for d-wide inputs and K classes.
    pub fn new(pb: &mut ParamBuilder, kind: FusionKind, d: usize, k: usize, dropout: f64) -> Result<Self> {
        pb.scoped("fusion", |pb| {
            let (head_a, head_b) = match kind {
                FusionKind::Concat => (pb.linear("head", 2 * d, k)?, None),
                FusionKind::Add | FusionKind::Mul => (pb.linear("head", d, k)?, None),
                FusionKind::Sum | FusionKind::Hm => (pb.linear("head_a", d, k)?, Some(pb.linear("head_b", d, k)?)),
            };
            Ok(Self { kind, head_a, head_b, dropout })
        })
    }

    /// Fused logits (n, K) from `x_ema` (n, d) and `x_cdr` (n, d). Dropout (seeded) on the inputs
    /// when `train`.
    pub fn forward(&self, x_ema: &Tensor, x_cdr: &Tensor, train: bool, rng: &mut HostRng) -> Result<Tensor> {
        let a = dropout(x_ema, self.dropout, train, rng)?;
        let b = dropout(x_cdr, self.dropout, train, rng)?;
        Ok(match (self.kind, &self.head_b) {
            (FusionKind::Concat, _) => self.head_a.forward(&Tensor::cat(&[&a, &b], 1)?)?,
            (FusionKind::Add, _) => self.head_a.forward(&(a + b)?)?,
            (FusionKind::Mul, _) => self.head_a.forward(&(a * b)?)?,
            (FusionKind::Sum, Some(hb)) => fuse_sum(&self.head_a.forward(&a)?, &hb.forward(&b)?)?,
            (FusionKind::Hm, Some(hb)) => fuse_hm(&self.head_a.forward(&a)?, &hb.forward(&b)?)?,
            _ => anyhow::bail!("fusion head built without its second branch"),
        })
    }
}
