//! The config keys of the Table 1 rows (alignment baselines and the distillation yardstick), one
//! group flattened into [`super::HeadsConfig`] (same flat TOML keys as every other key).
//!
//! The defaults follow the cited papers where they give one (SWD: 128 projections, Lee et al.
//! 2019; CDD: 5 Gaussian kernels spaced by 2, Kang et al. 2019; SDM: τ = 0.02, Jiang and Ye 2023)
//! and are otherwise ours; `heads/sweeps/table1.toml` tunes them on val.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What the distillation teacher sees (privileged features, training rows only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DistillTeacher {
    /// The standardised text feature `x_s` alone.
    Text,
    /// `[x_s, x_v]` concatenated.
    TextImage,
}

impl fmt::Display for DistillTeacher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DistillTeacher::Text => "text",
            DistillTeacher::TextImage => "text_image",
        })
    }
}

/// Weights and hyperparameters of modes `swd`, `ssan`, `cdd`, `sdm` and `distill`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlignConfig {
    /// Weight of the SWD term next to `α1·L_CE` (mode `swd`). Default 1.
    pub swd_weight: f64,
    /// Number M of random unit directions per step of SWD. Default 128.
    pub swd_projections: usize,
    /// Weight of the class-centroid term (mode `ssan`). Default 1.
    pub ssan_weight: f64,
    /// Weight of CDD (mode `cdd`). Default 1.
    pub cdd_weight: f64,
    /// Number L of Gaussian kernels of CDD. Default 5.
    pub cdd_kernels: usize,
    /// Ratio between neighbouring CDD bandwidths (> 1). Default 2.
    pub cdd_kernel_mul: f64,
    /// Weight of SDM (mode `sdm`). Default 1.
    pub sdm_weight: f64,
    /// Temperature τ of SDM's similarity softmax. Default 0.02.
    pub sdm_tau: f64,
    /// Temperature T of the teacher's soft labels (mode `distill`). Default 2.
    pub distill_temperature: f64,
    /// Imitation weight λ ∈ [0, 1] of the soft labels. Default 0.5.
    pub distill_lambda: f64,
    /// Teacher input: `text` (default) or `text_image`.
    pub distill_teacher: DistillTeacher,
}

impl Default for AlignConfig {
    fn default() -> Self {
        Self {
            swd_weight: 1.0,
            swd_projections: 128,
            ssan_weight: 1.0,
            cdd_weight: 1.0,
            cdd_kernels: 5,
            cdd_kernel_mul: 2.0,
            sdm_weight: 1.0,
            sdm_tau: 0.02,
            distill_temperature: 2.0,
            distill_lambda: 0.5,
            distill_teacher: DistillTeacher::Text,
        }
    }
}

impl AlignConfig {
    /// Checks every value; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        for (k, v) in [
            ("swd_weight", self.swd_weight),
            ("ssan_weight", self.ssan_weight),
            ("cdd_weight", self.cdd_weight),
            ("sdm_weight", self.sdm_weight),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("config key `{k}` = {v}: expected a finite value >= 0");
            }
        }
        for (k, v) in [("swd_projections", self.swd_projections), ("cdd_kernels", self.cdd_kernels)] {
            if v == 0 {
                bail!("config key `{k}` = 0: expected an integer >= 1");
            }
        }
        if !(self.cdd_kernel_mul > 1.0 && self.cdd_kernel_mul.is_finite()) {
            bail!("config key `cdd_kernel_mul` = {}: expected a finite ratio > 1", self.cdd_kernel_mul);
        }
        for (k, v) in [("sdm_tau", self.sdm_tau), ("distill_temperature", self.distill_temperature)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("config key `{k}` = {v}: expected a finite value > 0");
            }
        }
        if !(0.0..=1.0).contains(&self.distill_lambda) {
            bail!("config key `distill_lambda` = {}: expected a weight in [0, 1]", self.distill_lambda);
        }
        Ok(())
    }
}
