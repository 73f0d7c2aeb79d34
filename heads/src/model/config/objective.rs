//! The shared space and the training objective: width `d` of the EMA space (eq. 5), the loss
//! weights of `L_EMA` (eq. 13) and `L_CDR` (eq. 19), and the InfoNCE temperature.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, non_negative, positive};

/// Config keys `d`, `alpha1`, `beta`, `alpha2`, `gamma`, `tau_init`, `max_inv_tau`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectiveConfig {
    /// Shared width `d` of `E_v`, `E_s` (EMA, eq. 5). Default 512.
    pub d: usize,
    /// Weight `α1` of the EMA classifier's cross-entropy (eq. 13). Default 1.
    pub alpha1: f64,
    /// Weight `β` of `L_ITA` (eq. 13). Default 1.
    pub beta: f64,
    /// Weight `α2` of the CE on `x̂_s^0` (L_CDR). Default 1.
    pub alpha2: f64,
    /// Weight `γ` of the MSE on `x̂_s^0` (L_CDR, eq. 19). Default 1.
    pub gamma: f64,
    /// Initial temperature τ of the InfoNCE logits; stored as `logit_scale = ln(1/τ)`. Default 0.07.
    pub tau_init: f64,
    /// Upper clamp on `1/τ` (CLIP's 100). Default 100.
    pub max_inv_tau: f64,
}

impl Default for ObjectiveConfig {
    fn default() -> Self {
        Self { d: 512, alpha1: 1.0, beta: 1.0, alpha2: 1.0, gamma: 1.0, tau_init: 0.07, max_inv_tau: 100.0 }
    }
}

impl ObjectiveConfig {
    /// Checks every key of the group; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        at_least_one("d", self.d)?;
        for (k, v) in [("alpha1", self.alpha1), ("beta", self.beta), ("alpha2", self.alpha2), ("gamma", self.gamma)] {
            non_negative(k, v)?;
        }
        positive("tau_init", self.tau_init)?;
        positive("max_inv_tau", self.max_inv_tau)?;
        // The clamp would otherwise bite at step 0 and the initial temperature never be used.
        if 1.0 / self.tau_init > self.max_inv_tau {
            bail!(
                "config key `tau_init` = {}: 1/tau_init = {} exceeds max_inv_tau = {}",
                self.tau_init,
                1.0 / self.tau_init,
                self.max_inv_tau
            );
        }
        Ok(())
    }
}
