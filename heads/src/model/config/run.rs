//! The run itself: its seed, the val split carved from train when the cache has none, how
//! often the loss is read back for the log, and the arithmetic of the training steps' products.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, unit_open};
use crate::nn::precision::Precision;

/// Config keys `seed`, `val_fraction`, `log_every`, `precision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// Seed of every random choice (init, shuffling, noise, sampling). Default 0.
    pub seed: u64,
    /// Fraction of train held out (stratified) when the dataset has no val split. Default 0.1.
    pub val_fraction: f64,
    /// Read the loss scalar back from the device every this many steps. Default 20.
    pub log_every: usize,
    /// Arithmetic of the Linear layers' products in training steps: `f32` (default) or `bf16`
    /// (inputs rounded to bf16, f32 accumulation; weights, AdamW state and losses stay f32;
    /// CPUs with AVX-512 BF16, see [`crate::nn::precision`]). Written to `config.toml` only when
    /// not `f32`, so f32 runs keep the config text (and outputs) they had before the key.
    #[serde(skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self { seed: 0, val_fraction: 0.1, log_every: 20, precision: Precision::F32 }
    }
}

impl RunConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        unit_open("val_fraction", self.val_fraction)?;
        at_least_one("log_every", self.log_every)
    }
}
