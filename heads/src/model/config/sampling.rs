//! How `x̂_s^0` is drawn from the trained denoiser (DDPM / DDIM, guidance, K chains) and how the
//! resulting `x_CDR` is fused with `x_EMA` (eq. 24).

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, non_negative};
use crate::model::choices::{FusionFeatures, FusionKind, SamplerKind};

/// Config keys `guidance`, `fusion`, `fusion_features`, `sampler`, `ddim_steps`, `samples`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingConfig {
    /// Classifier-free guidance weight `w` at sampling. Default 0.
    pub guidance: f64,
    /// Fusion of `x_EMA` and `x_CDR`: `concat` (default), `add`, `mul`, `sum`, `hm`.
    pub fusion: FusionKind,
    /// CDR features for the fusion classifier: `sampled` (default) or `onestep`.
    pub fusion_features: FusionFeatures,
    /// Sampler: `ddpm` (default) or `ddim`.
    pub sampler: SamplerKind,
    /// Number of DDIM steps (≤ timesteps). Default 10.
    pub ddim_steps: usize,
    /// Number K of sampling chains averaged into `x̂_s^0`. Default 1.
    pub samples: usize,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self {
            guidance: 0.0,
            fusion: FusionKind::Concat,
            fusion_features: FusionFeatures::Sampled,
            sampler: SamplerKind::Ddpm,
            ddim_steps: 10,
            samples: 1,
        }
    }
}

impl SamplingConfig {
    /// Checks every key of the group; the checks against `timesteps` and `cond_dropout` are in
    /// [`super::HeadsConfig::validate`].
    pub fn validate(&self) -> Result<()> {
        non_negative("guidance", self.guidance)?;
        at_least_one("ddim_steps", self.ddim_steps)?;
        at_least_one("samples", self.samples)
    }
}
