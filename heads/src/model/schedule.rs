//! Diffusion noise schedule of CDR (DESIGN §2, paper eqs. 14-16 and 21-23).
//!
//! Computed in f64 on the host, then copied to f32 tensors. `alphas_cumprod` is
//! `exp(cumsum(ln(1 - betas)))` (candle has no cumprod). Index `i` (0-based) holds step
//! `t = i + 1`; `alphas_cumprod_prev[0] = 1` (ᾱ_0 = 1), so at the first step
//! `posterior_mean_coef1 = 1`, `posterior_mean_coef2 = 0` and `posterior_variance = 0`.
//!
//! - linear: Ho et al. 2020, `betas = linspace(beta_start, beta_end, T)`.
//! - cosine: Nichol & Dhariwal 2021, `f(t) = cos²((t/T + s)/(1 + s)·π/2)`,
//!   `betas_t = min(1 - f(t)/f(t-1), 0.999)`.

use anyhow::{bail, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Noise schedule of the CDR diffusion (DESIGN §2, eqs. 14-16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Nichol & Dhariwal (2021): `alphas_cumprod(t) = cos²((t/T + s)/(1 + s)·π/2)` normalised.
    Cosine,
    /// Ho et al. (2020): betas evenly spaced from `beta_start` to `beta_end`.
    Linear,
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleKind::Cosine => "cosine",
            ScheduleKind::Linear => "linear",
        })
    }
}

/// The keys that define a schedule (a [`crate::model::config::HeadsConfig`] converts into one),
/// so that this module does not depend on the config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScheduleSpec {
    /// Config key `schedule`.
    pub kind: ScheduleKind,
    /// Config key `timesteps` (T).
    pub timesteps: usize,
    /// Config key `beta_start` (linear schedule).
    pub beta_start: f64,
    /// Config key `beta_end` (linear schedule).
    pub beta_end: f64,
    /// Config key `cosine_s` (cosine schedule offset s).
    pub cosine_s: f64,
}

/// Largest beta of the cosine schedule (Nichol & Dhariwal clip, avoids a singular last step).
pub const COSINE_MAX_BETA: f64 = 0.999;

/// Schedule arrays in f64, each of length T (index `i` = step `t = i + 1`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostSchedule {
    pub betas: Vec<f64>,
    pub alphas: Vec<f64>,
    pub alphas_cumprod: Vec<f64>,
    /// `ᾱ_{t-1}`, with `ᾱ_0 = 1`.
    pub alphas_cumprod_prev: Vec<f64>,
    /// `sqrt(ᾱ_{t-1})·β_t / (1 - ᾱ_t)`: weight of `x̂_s^0` in the posterior mean.
    pub posterior_mean_coef1: Vec<f64>,
    /// `sqrt(α_t)·(1 - ᾱ_{t-1}) / (1 - ᾱ_t)`: weight of `x_s^t` in the posterior mean.
    pub posterior_mean_coef2: Vec<f64>,
    /// `β̂_t = (1 - ᾱ_{t-1}) / (1 - ᾱ_t)·β_t` (zero at t = 1).
    pub posterior_variance: Vec<f64>,
}

/// Betas of the linear schedule (`linspace(start, end, T)`; `[start]` when T = 1).
pub fn linear_betas(t: usize, start: f64, end: f64) -> Vec<f64> {
    if t == 1 {
        return vec![start];
    }
    (0..t).map(|i| start + (end - start) * i as f64 / (t - 1) as f64).collect()
}

/// Betas of the cosine schedule with offset `s`, clipped at [`COSINE_MAX_BETA`].
pub fn cosine_betas(t: usize, s: f64) -> Vec<f64> {
    let f = |x: f64| ((x / t as f64 + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
    (0..t).map(|i| (1.0 - f((i + 1) as f64) / f(i as f64)).min(COSINE_MAX_BETA)).collect()
}

impl HostSchedule {
    /// Builds every derived array from `betas`. Errors if a beta lies outside (0, 1).
    pub fn from_betas(betas: Vec<f64>) -> Result<Self> {
        if betas.is_empty() {
            bail!("config key `timesteps`: the schedule needs at least one step");
        }
        if let Some((i, b)) = betas.iter().enumerate().find(|(_, b)| !(**b > 0.0 && **b < 1.0)) {
            bail!("beta at step t = {} is {b}: every beta must lie in (0, 1)", i + 1);
        }
        let alphas: Vec<f64> = betas.iter().map(|b| 1.0 - b).collect();
        let mut acc = 0.0;
        let alphas_cumprod: Vec<f64> = alphas
            .iter()
            .map(|a| {
                acc += a.ln();
                acc.exp()
            })
            .collect();
        let alphas_cumprod_prev: Vec<f64> =
            std::iter::once(1.0).chain(alphas_cumprod.iter().copied().take(betas.len() - 1)).collect();
        let n = betas.len();
        let (mut c1, mut c2, mut var) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let (b, a, ac, prev) = (betas[i], alphas[i], alphas_cumprod[i], alphas_cumprod_prev[i]);
            c1.push(prev.sqrt() * b / (1.0 - ac));
            c2.push(a.sqrt() * (1.0 - prev) / (1.0 - ac));
            var.push((1.0 - prev) / (1.0 - ac) * b);
        }
        Ok(Self {
            betas,
            alphas,
            alphas_cumprod,
            alphas_cumprod_prev,
            posterior_mean_coef1: c1,
            posterior_mean_coef2: c2,
            posterior_variance: var,
        })
    }

    /// Number of steps T.
    pub fn len(&self) -> usize {
        self.betas.len()
    }

    /// Always false (a schedule has at least one step).
    pub fn is_empty(&self) -> bool {
        self.betas.is_empty()
    }
}

/// The schedule a config describes (`schedule`, `timesteps`, `beta_start`, `beta_end`, `cosine_s`).
pub fn schedule_host(spec: impl Into<ScheduleSpec>) -> Result<HostSchedule> {
    let cfg = spec.into();
    if cfg.timesteps == 0 {
        bail!("config key `timesteps` = 0: expected an integer >= 1");
    }
    let betas = match cfg.kind {
        ScheduleKind::Linear => linear_betas(cfg.timesteps, cfg.beta_start, cfg.beta_end),
        ScheduleKind::Cosine => cosine_betas(cfg.timesteps, cfg.cosine_s),
    };
    HostSchedule::from_betas(betas)
}

/// The per-step factors training needs, as f32 tensors of shape (T,) on a device.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub host: HostSchedule,
    /// `sqrt(ᾱ_t)`, (T,) f32.
    pub sqrt_alphas_cumprod: Tensor,
    /// `sqrt(1 - ᾱ_t)`, (T,) f32.
    pub sqrt_one_minus_alphas_cumprod: Tensor,
}

impl Schedule {
    /// Builds the host arrays and the device tensors.
    pub fn new(spec: impl Into<ScheduleSpec>, device: &Device) -> Result<Self> {
        let cfg = spec.into();
        let host = schedule_host(cfg)?;
        let sa: Vec<f32> = host.alphas_cumprod.iter().map(|a| a.sqrt() as f32).collect();
        let s1: Vec<f32> = host.alphas_cumprod.iter().map(|a| (1.0 - a).sqrt() as f32).collect();
        let n = host.len();
        Ok(Self {
            sqrt_alphas_cumprod: Tensor::from_vec(sa, n, device)?,
            sqrt_one_minus_alphas_cumprod: Tensor::from_vec(s1, n, device)?,
            host,
        })
    }

    /// Number of steps T.
    pub fn timesteps(&self) -> usize {
        self.host.len()
    }
}
