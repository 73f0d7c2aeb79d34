//! The `mlp` ablation of paper table 2 (DESIGN §2): a 4-layer MLP regressing the standardised
//! `x_s` from `x_v` with MSE (+ CE on `g(E_s x̂_s)`), no diffusion. It replaces the denoiser in the
//! two-phase pipeline so the comparison with CDR changes only the generator.

use crate::model::config::Activation;
use crate::nn::activation::Act;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use anyhow::Result;
use candle_core::Tensor;

/// `x_v` (n, d_v) -> `x̂_s` (n, d_s) through Linear-act-Linear-act-Linear-act-Linear.
pub struct MlpHead {
    layers: [Linear; 4],
    act: Activation,
}

impl MlpHead {
    /// Parameters under `mlp.` (hidden width `hidden`).
    pub fn new(pb: &mut ParamBuilder, d_v: usize, d_s: usize, hidden: usize, act: Activation) -> Result<Self> {
        pb.scoped("mlp", |pb| {
            Ok(Self {
                layers: [
                    pb.linear("l1", d_v, hidden)?,
                    pb.linear("l2", hidden, hidden)?,
                    pb.linear("l3", hidden, hidden)?,
                    pb.linear("l4", hidden, d_s)?,
                ],
                act,
            })
        })
    }

    /// `x̂_s` (n, d_s).
    pub fn forward(&self, x_v: &Tensor) -> Result<Tensor> {
        let act = Act::from(self.act);
        let mut h = x_v.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward_act(&h, if i < 3 { act } else { Act::Identity })?;
        }
        Ok(h)
    }
}
