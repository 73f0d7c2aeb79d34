//! The denoiser network of CDR (eq. 17) and how it is trained to serve classifier-free guidance.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, unit_half_open};
use crate::model::choices::Activation;

/// Config keys `hidden`, `activation`, `temb_dim`, `cond_dropout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DenoiserConfig {
    /// Hidden width of the denoiser and of the `mlp` ablation. Default 1024.
    pub hidden: usize,
    /// Denoiser activation: `silu` (default), `relu`, `gelu`.
    pub activation: Activation,
    /// Size of the sinusoidal time embedding (even). Default 128.
    pub temb_dim: usize,
    /// Probability of replacing `x_v` by the learned null condition in training. Default 0 (off).
    pub cond_dropout: f64,
}

impl Default for DenoiserConfig {
    fn default() -> Self {
        Self { hidden: 1024, activation: Activation::Silu, temb_dim: 128, cond_dropout: 0.0 }
    }
}

impl DenoiserConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        at_least_one("hidden", self.hidden)?;
        // sin and cos halves of the time embedding need an even size.
        if self.temb_dim < 2 || !self.temb_dim.is_multiple_of(2) {
            bail!("config key `temb_dim` = {}: expected an even integer >= 2", self.temb_dim);
        }
        unit_half_open("cond_dropout", self.cond_dropout)
    }
}
