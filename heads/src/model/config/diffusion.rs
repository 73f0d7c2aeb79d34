//! The forward diffusion process of CDR: the number of steps T and the noise schedule
//! (DDPM, Ho et al. 2020; cosine, Nichol & Dhariwal 2021).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::check::{at_least_one, positive, unit_open};
use crate::model::schedule::{schedule_host, ScheduleKind, ScheduleSpec};

/// Largest `alphas_cumprod[T-1]` accepted when sampling starts from pure noise.
pub const MAX_FINAL_ALPHA_CUMPROD: f64 = 0.05;

/// Config keys `timesteps`, `schedule`, `beta_start`, `beta_end`, `cosine_s`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffusionConfig {
    /// Number of diffusion steps T. Default 50.
    pub timesteps: usize,
    /// Noise schedule: `cosine` (default) or `linear`.
    pub schedule: ScheduleKind,
    /// First beta of the linear schedule. Default 1e-4.
    pub beta_start: f64,
    /// Last beta of the linear schedule. Default 0.02.
    pub beta_end: f64,
    /// Offset `s` of the cosine schedule. Default 0.008.
    pub cosine_s: f64,
}

impl Default for DiffusionConfig {
    fn default() -> Self {
        Self { timesteps: 50, schedule: ScheduleKind::Cosine, beta_start: 1e-4, beta_end: 0.02, cosine_s: 0.008 }
    }
}

impl From<&DiffusionConfig> for ScheduleSpec {
    fn from(c: &DiffusionConfig) -> Self {
        ScheduleSpec {
            kind: c.schedule,
            timesteps: c.timesteps,
            beta_start: c.beta_start,
            beta_end: c.beta_end,
            cosine_s: c.cosine_s,
        }
    }
}

impl DiffusionConfig {
    /// Checks every key of the group and that the schedule ends in (almost) pure noise.
    pub fn validate(&self) -> Result<()> {
        at_least_one("timesteps", self.timesteps)?;
        unit_open("beta_start", self.beta_start)?;
        unit_open("beta_end", self.beta_end)?;
        if self.beta_start > self.beta_end {
            bail!(
                "config key `beta_start` = {} is greater than `beta_end` = {}: the noise minimum must not exceed its maximum",
                self.beta_start, self.beta_end
            );
        }
        positive("cosine_s", self.cosine_s)?;
        // Sampling starts from x_s^T ~ N(0, I); that is only the true marginal at t = T when
        // almost no signal is left, i.e. alphas_cumprod[T-1] is close to zero.
        let sched = schedule_host(self).with_context(|| format!("config key `schedule` = {}", self.schedule))?;
        let last = *sched.alphas_cumprod.last().context("the schedule has no steps")?;
        if last > MAX_FINAL_ALPHA_CUMPROD {
            bail!(
                "config keys `schedule` = {}, `timesteps` = {}, `beta_start`/`beta_end` = {}/{}: \
                 alphas_cumprod[T-1] = {last:.4} > {MAX_FINAL_ALPHA_CUMPROD}; sampling starts from pure \
                 noise N(0, I), which is only the distribution of x_s^T when almost no signal is left at \
                 t = T, so the sampler would start far from what the denoiser was trained on. Raise \
                 `timesteps` or `beta_end`, or use the cosine schedule",
                self.schedule,
                self.timesteps,
                self.beta_start,
                self.beta_end
            );
        }
        Ok(())
    }
}
