//! The training budget: batch size, epochs and optimiser steps of each phase, and the share of
//! the steps spent on learning-rate warmup.

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, unit_half_open};

/// Config keys `batch`, `min_steps_per_epoch`, `min_steps`, `epochs`, `phase2_epochs`, `warmup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetConfig {
    /// Largest mini-batch size. Default 256.
    pub batch: usize,
    /// Lower bound on optimiser steps per epoch: the batch shrinks to `n_train /
    /// min_steps_per_epoch` rows when that is smaller than `batch`; 0 = off. Default 8.
    pub min_steps_per_epoch: usize,
    /// Lower bound on optimiser steps per phase: the epochs grow until they reach it; 0 = off.
    /// Default 1000.
    pub min_steps: usize,
    /// Epochs of phase 1 (and of single-phase modes). Default 50.
    pub epochs: usize,
    /// Epochs of phase 2 (fusion / cdr classifier on sampled features). Default 50.
    pub phase2_epochs: usize,
    /// Fraction of the steps used for linear learning-rate warmup. Default 0.05.
    pub warmup: f64,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self { batch: 256, min_steps_per_epoch: 8, min_steps: 1000, epochs: 50, phase2_epochs: 50, warmup: 0.05 }
    }
}

impl BudgetConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        at_least_one("batch", self.batch)?;
        at_least_one("epochs", self.epochs)?;
        at_least_one("phase2_epochs", self.phase2_epochs)?;
        unit_half_open("warmup", self.warmup)
    }
}
