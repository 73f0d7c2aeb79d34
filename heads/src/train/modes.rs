//! The ablations of paper table 2 (DESIGN §2 "Ablations", "Training") and [`train_mode`].
//!
//! - `baseline`: Linear on `x_v`, CE.
//! - `ema`: EMA (`L_EMA = α1·L_CE + β·L_ITA`), classifier on `x_v'`.
//! - `cdr`, `fusion`, `mlp`: two phases. Phase 1 trains EMA + the generator (CDR denoiser, or the
//!   4-layer MLP for `mlp`) with `L_EMA + L_CDR`, selecting the epoch with the lowest val loss
//!   (fixed noise). Phase 2 freezes them, computes `x_CDR = g(E_s x̂_s^0)` once (sampled, seeded)
//!   for every row and trains the phase-2 head with CE: a Linear on `x_CDR` (`cdr`) or the fusion
//!   classifier on `(x_EMA, x_CDR)` (`fusion`, `mlp`), selecting on val top-1. With
//!   `fusion_features = "onestep"` the phase-2 head trains jointly in phase 1 on the one-step
//!   prediction instead and there is no phase 2.
//! - `swd`, `ssan`, `cdd`, `sdm` (paper table 1): `ema` with an alignment loss in place of
//!   `L_ITA` ([`super::align`]); `distill`: generalized distillation ([`super::distill`]).

use super::features::Features;
use super::one_phase::{train_baseline, train_ema};
use super::result::{Mode, ModeResult, RunOptions};
use crate::model::config::HeadsConfig;
use anyhow::Result;

/// Trains and evaluates `mode` with `cfg` and `seed` (which overrides `cfg.run.seed`).
/// Deterministic: the same inputs give the same metrics. Errors: invalid config, NaN loss,
/// empty splits.
pub fn train_mode(features: &Features, cfg: &HeadsConfig, mode: Mode, seed: u64) -> Result<ModeResult> {
    train_mode_with(features, cfg, mode, seed, &RunOptions::default())
}

/// [`train_mode`] with progress options. Runs on [`crate::nn::math_pool::on_math_pool`].
pub fn train_mode_with(
    features: &Features,
    cfg: &HeadsConfig,
    mode: Mode,
    seed: u64,
    opts: &RunOptions,
) -> Result<ModeResult> {
    cfg.validate()?;
    let start = std::time::Instant::now();
    let mut res = crate::nn::math_pool::on_math_pool(|| match mode {
        Mode::Probe => super::probe::train_probe(features, cfg, seed),
        Mode::Baseline => train_baseline(features, cfg, seed, opts),
        Mode::Ema => train_ema(features, cfg, seed, opts),
        Mode::Mlp | Mode::Cdr | Mode::Fusion => super::two_phase::train_two_phase(features, cfg, mode, seed, opts),
        Mode::Swd | Mode::Ssan | Mode::Cdd | Mode::Sdm => super::align::train_align(features, cfg, mode, seed, opts),
        Mode::Distill => super::distill::train_distill(features, cfg, seed, opts),
    })?;
    res.seconds = start.elapsed().as_secs_f64();
    Ok(res)
}
