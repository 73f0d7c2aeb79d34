//! The linear probe (mode `probe`): CLIP's protocol, L-BFGS logistic regression on `x_v` with the
//! L2 strength chosen on val.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, non_negative};

/// Config keys `probe_l2`, `probe_max_iter`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeConfig {
    /// L2 strengths `λ` tried by the linear probe (mode `probe`), the best chosen on val top-1
    /// (loss `Σ CE + λ/2·‖W‖²`, i.e. `λ = 1/C` of scikit-learn). Default 10^-3 .. 10^3.
    pub probe_l2: Vec<f64>,
    /// L-BFGS iterations of the linear probe at most. Default 1000.
    pub probe_max_iter: usize,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self { probe_l2: vec![1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3], probe_max_iter: 1000 }
    }
}

impl ProbeConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        if self.probe_l2.is_empty() {
            bail!("config key `probe_l2` = []: expected at least one L2 strength");
        }
        for &l in &self.probe_l2 {
            non_negative("probe_l2", l)?;
        }
        at_least_one("probe_max_iter", self.probe_max_iter)
    }
}
