//! The optimiser (AdamW, decoupled weight decay; Loshchilov & Hutter 2019) and the dropout
//! regularising every classifier.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::check::{non_negative, positive, unit_half_open};

/// Config keys `lr`, `weight_decay`, `weight_decay_all`, `dropout`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OptimConfig {
    /// AdamW learning rate (peak, after warmup). Default 1e-3.
    pub lr: f64,
    /// AdamW decoupled weight decay. Default 1e-4.
    pub weight_decay: f64,
    /// Decay every parameter (true) instead of weights only (false, default: no decay on
    /// biases, LayerNorm gains, `logit_scale` and other 1-d parameters; CLIP / open_clip).
    pub weight_decay_all: bool,
    /// Dropout before every classifier (and in the fusion classifier). Default 0.
    pub dropout: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self { lr: 1e-3, weight_decay: 1e-4, weight_decay_all: false, dropout: 0.0 }
    }
}

impl OptimConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        unit_half_open("dropout", self.dropout)
    }
}
