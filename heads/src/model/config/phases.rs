//! How a phase ends and what phase 2 of the two-phase modes is handed: early stopping, the
//! phase-1 epoch kept, and cross-fitting of phase-1 features.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::model::choices::Phase1Select;

/// Config keys `patience`, `patience_start`, `phase1_select`, `crossfit_folds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PhasesConfig {
    /// Stop a phase after this many epochs without a better val score; 0 = never. Default 10.
    pub patience: usize,
    /// Fraction of a phase's epochs before which early stopping cannot end it (the learning
    /// rate has decayed by then). Default 0.5.
    pub patience_start: f64,
    /// Phase-1 epoch the two-phase modes keep: `val_loss` or `last`.
    pub phase1_select: Phase1Select,
    /// Cross-fitted phase 2: train phase 1 on k folds of the train rows and give the phase-2
    /// classifier out-of-fold `x_CDR`/`x_EMA` for them; 0 = off (a fold count >= 2 turns it on).
    pub crossfit_folds: usize,
}

impl Default for PhasesConfig {
    fn default() -> Self {
        Self { patience: 10, patience_start: 0.5, phase1_select: Phase1Select::ValLoss, crossfit_folds: 0 }
    }
}

impl PhasesConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.patience_start) {
            bail!("config key `patience_start` = {}: expected a fraction in [0, 1]", self.patience_start);
        }
        // One fold would train the out-of-fold model on no rows at all.
        if self.crossfit_folds == 1 {
            bail!("config key `crossfit_folds` = 1: expected 0 (off) or at least 2 folds");
        }
        Ok(())
    }
}
