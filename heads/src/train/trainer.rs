//! The training loop shared by every mode (DESIGN §2 "Training"): AdamW, cosine learning-rate
//! decay after a linear warmup, shuffled mini-batches from the seeded RNG, model selection on a
//! validation score keeping the best weights, and early stopping.
//!
//! Per step there is no host round trip: the batch indices go to the device, the loss is summed
//! on the device and read back every `log_every` steps (to stop on NaN) and at the end of the epoch.

use super::hook::{Control, EpochReport, Stopped};
use crate::model::config::HeadsConfig;
use crate::nn::precision::with_precision;
use crate::nn::rng::HostRng;
use crate::optim::AdamW;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

/// The optimiser of a phase: [`AdamW`] over `vars` (`(name, variable)`) at the config's `lr`
/// in two decay groups, weights decaying by `weight_decay`, biases, gains and `logit_scale` not
/// ([`crate::optim::decays_by_default`]) unless the config key `weight_decay_all` is true. f32
/// CPU variables take the fused kernel, others candle ops; both are candle_nn's update bit for bit.
///
/// # Errors
/// candle errors allocating the moments.
pub fn optimiser(vars: &[(String, Var)], cfg: &HeadsConfig) -> Result<AdamW> {
    AdamW::with_decay_groups(vars, cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.weight_decay_all)
}

/// One epoch of history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1 = phase 1 (or the only phase), 2 = phase 2.
    pub phase: u8,
    /// 1-based epoch within the phase.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps.
    pub train_loss: f64,
    /// Validation top-1 (percent) of the phase's classifier after the epoch.
    pub val_top1: f64,
    /// The model-selection score (higher is better; val top-1, or minus the val loss in phase 1 of
    /// the two-phase modes).
    pub val_score: f64,
    /// Wall-clock seconds of the epoch including its evaluation (not part of metrics.json).
    pub seconds: f64,
    /// Of [`EpochRecord::seconds`], the evaluation after the training steps (the benchmarks
    /// report `seconds − eval_seconds` as training time).
    #[serde(default)]
    pub eval_seconds: f64,
}

/// Learning rate at 0-based `step` of `total`: linear warmup over `ceil(warmup·total)` steps to
/// `lr`, then cosine decay to 0 at `total`.
pub fn lr_at(step: usize, total: usize, warmup: f64, lr: f64) -> f64 {
    let w = (warmup * total as f64).ceil() as usize;
    if step < w {
        return lr * (step + 1) as f64 / w as f64;
    }
    let span = (total - w).max(1) as f64;
    let p = ((step - w) as f64 / span).min(1.0);
    lr * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
}

/// What one phase trains.
pub struct Phase<'a> {
    /// Phase number recorded in the history.
    pub phase: u8,
    /// Number of epochs (upper bound with early stopping).
    pub epochs: usize,
    /// Trainable variables by name (everything else stays frozen); the names pick the
    /// weight-decay group.
    pub vars: Vec<(String, Var)>,
    /// Global row indices the phase trains on.
    pub rows: &'a [u32],
    /// Print one line per epoch to stderr.
    pub progress: bool,
    /// Label of the progress lines.
    pub label: &'a str,
    /// Which epoch's weights the phase ends with.
    pub select: Selection,
    /// Told each epoch's val top-1; may stop the run ([`super::hook`]).
    pub hook: Option<&'a super::hook::EpochHook>,
}

/// Which epoch's weights a phase keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// The epoch with the highest [`EvalOutcome::score`] (model selection on val).
    Best,
    /// The last epoch run (early stopping still ends the phase).
    Last,
}

/// The optimisation budget of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Rows per mini-batch.
    pub batch: usize,
    /// Optimiser steps per epoch, `ceil(n / batch)`.
    pub steps_per_epoch: usize,
    /// Epochs of the phase.
    pub epochs: usize,
}

/// The optimisation budget of a phase over `n` rows.
///
/// The batch is `min(batch, max(1, n / min_steps_per_epoch))` (config keys `batch`,
/// `min_steps_per_epoch`), so a small train split still gets `min_steps_per_epoch` optimiser
/// steps per epoch instead of one full-batch step, while a large one keeps `batch`
/// (248 demo rows at batch 256 made 50 epochs 50 steps). The epochs are `epochs`, raised to reach
/// at least `min_steps` optimiser steps in all.
pub fn budget(n: usize, epochs: usize, cfg: &HeadsConfig) -> Budget {
    // min_steps_per_epoch = 0 turns the cap off.
    let by_steps = n.checked_div(cfg.budget.min_steps_per_epoch).map_or(n, |b| b.max(1));
    let batch = cfg.budget.batch.min(by_steps).min(n).max(1);
    let steps_per_epoch = n.div_ceil(batch);
    let epochs = epochs.max(cfg.budget.min_steps.div_ceil(steps_per_epoch));
    Budget { batch, steps_per_epoch, epochs }
}

/// Result of the evaluation after an epoch.
pub struct EvalOutcome {
    /// Higher is better.
    pub score: f64,
    /// Val top-1 in percent (for the history).
    pub val_top1: f64,
}

/// Runs one phase: `step(batch_rows)` returns the scalar loss of a batch (global row indices, (b,)
/// u32 on the device), `eval()` scores the current weights. At the end the variables hold the
/// weights of the best-scoring epoch. Errors if the loss becomes NaN or infinite, and with
/// [`Stopped`] when `phase.hook` answers [`Control::Stop`] after an epoch.
pub fn run_phase(
    cfg: &HeadsConfig,
    phase: Phase,
    device: &Device,
    rng: &mut HostRng,
    mut step: impl FnMut(&Tensor, &mut HostRng) -> Result<Tensor>,
    mut eval: impl FnMut() -> Result<EvalOutcome>,
) -> Result<Vec<EpochRecord>> {
    let n = phase.rows.len();
    if n == 0 {
        bail!("no training rows for phase {} of {}", phase.phase, phase.label);
    }
    cfg.run.precision.check_supported()?;
    let Budget { batch, steps_per_epoch, epochs } = budget(n, phase.epochs, cfg);
    let mut run = PhaseRun { cfg, batch, steps_per_epoch, total: steps_per_epoch * epochs, global: 0 };
    // Early stopping may end the phase only once this many epochs have run, so that the
    // learning-rate schedule has decayed before a noisy val curve can stop it.
    let first_stop = (cfg.phases.patience_start * epochs as f64).ceil() as usize;
    let mut opt = optimiser(&phase.vars, cfg)?;
    let mut order: Vec<u32> = phase.rows.to_vec();
    let mut history = Vec::new();
    let mut best = BestWeights::default();
    for epoch in 1..=epochs {
        let t0 = std::time::Instant::now();
        rng.shuffle(&mut order);
        let train_loss = run.epoch(&phase, epoch, &order, &mut opt, device, rng, &mut step)?;
        let t_eval = std::time::Instant::now();
        let ev = eval()?;
        let eval_seconds = t_eval.elapsed().as_secs_f64();
        history.push(EpochRecord {
            phase: phase.phase,
            epoch,
            train_loss,
            val_top1: ev.val_top1,
            val_score: ev.score,
            seconds: t0.elapsed().as_secs_f64(),
            eval_seconds,
        });
        if phase.progress {
            eprintln!(
                "[{}] phase {} epoch {epoch}/{}: train loss {train_loss:.4}, val top-1 {:.2} %",
                phase.label, phase.phase, epochs, ev.val_top1
            );
        }
        if let Some(hook) = phase.hook {
            let at = EpochReport { phase: phase.phase, epoch, planned_epochs: epochs, val_top1: ev.val_top1 };
            if hook.report(&at) == Control::Stop {
                return Err(Stopped { at }.into());
            }
        }
        let since_best = best.record(ev.score, &phase)?;
        if since_best > 0 && cfg.phases.patience > 0 && since_best >= cfg.phases.patience && epoch >= first_stop {
            break;
        }
    }
    best.restore(&phase)?;
    Ok(history)
}

/// The step plan of a running phase and its global step count (the learning-rate schedule's `t`).
struct PhaseRun<'a> {
    cfg: &'a HeadsConfig,
    batch: usize,
    steps_per_epoch: usize,
    total: usize,
    global: usize,
}

impl PhaseRun<'_> {
    /// One epoch over `order` in mini-batches: per step the scheduled learning rate, the loss of
    /// `step`, one AdamW update; the loss sum is read back every `log_every` steps to stop on a
    /// non-finite loss. Returns the mean training loss of the epoch.
    #[allow(clippy::too_many_arguments)] // the epoch's inputs: phase, epoch, order, optimiser, device, rng, step
    fn epoch(
        &mut self,
        phase: &Phase,
        epoch: usize,
        order: &[u32],
        opt: &mut AdamW,
        device: &Device,
        rng: &mut HostRng,
        step: &mut impl FnMut(&Tensor, &mut HostRng) -> Result<Tensor>,
    ) -> Result<f64> {
        let cfg = self.cfg;
        let mut acc = Tensor::zeros((), candle_core::DType::F32, device)?;
        for (s, chunk) in order.chunks(self.batch).enumerate() {
            let (global, total) = (self.global, self.total);
            opt.set_learning_rates(|peak| lr_at(global, total, cfg.budget.warmup, peak));
            let idx = Tensor::from_slice(chunk, chunk.len(), device)?;
            // The products of the step's forward and backward in `precision`; evaluation stays f32.
            let loss = with_precision(cfg.run.precision, || -> Result<Tensor> {
                let loss = step(&idx, rng)?;
                opt.backward_step(&loss)?;
                Ok(loss)
            })?;
            acc = (acc + loss.detach())?;
            self.global += 1;
            if (s + 1) % cfg.run.log_every == 0 {
                let v = acc.to_scalar::<f32>()?;
                if !v.is_finite() {
                    bail!(
                        "{} phase {}: training loss became {v} at epoch {epoch}, step {}; lower `lr`",
                        phase.label,
                        phase.phase,
                        s + 1
                    );
                }
            }
        }
        let train_loss = acc.to_scalar::<f32>()? as f64 / self.steps_per_epoch as f64;
        if !train_loss.is_finite() {
            bail!(
                "{} phase {}: training loss became {train_loss} at epoch {epoch}; lower `lr`",
                phase.label,
                phase.phase
            );
        }
        Ok(train_loss)
    }
}

/// The best val score of a phase so far and, with [`Selection::Best`], a copy of its weights.
#[derive(Default)]
struct BestWeights {
    best: Option<(f64, Vec<Tensor>)>,
    since_best: usize,
}

impl BestWeights {
    /// Records an epoch's val `score` (higher is better); returns the epochs since the best one
    /// (0 when this one is the best).
    fn record(&mut self, score: f64, phase: &Phase) -> Result<usize> {
        let improved = self.best.as_ref().is_none_or(|(b, _)| score > *b);
        if improved {
            let snap = if phase.select == Selection::Best {
                phase.vars.iter().map(|(_, v)| v.as_tensor().copy()).collect::<candle_core::Result<Vec<_>>>()?
            } else {
                Vec::new()
            };
            self.best = Some((score, snap));
            self.since_best = 0;
        } else {
            self.since_best += 1;
        }
        Ok(self.since_best)
    }

    /// With [`Selection::Best`], sets the phase's variables back to the best epoch's weights.
    fn restore(self, phase: &Phase) -> Result<()> {
        if let (Selection::Best, Some((_, snap))) = (phase.select, self.best) {
            for ((_, v), t) in phase.vars.iter().zip(snap) {
                v.set(&t)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_gives_small_train_splits_enough_steps() {
        let mut cfg = HeadsConfig::default();
        (cfg.budget.batch, cfg.budget.min_steps_per_epoch, cfg.budget.min_steps) = (256, 8, 0);
        // 248 demo rows: 248 / 8 = 31 rows per batch, ceil(248 / 31) = 8 steps, 50 epochs.
        assert_eq!(budget(248, 50, &cfg), Budget { batch: 31, steps_per_epoch: 8, epochs: 50 });
        // Vireo-172 train split: 66071 / 8 > 256, so the batch stays 256: ceil(66071/256) = 259.
        assert_eq!(budget(66_071, 50, &cfg), Budget { batch: 256, steps_per_epoch: 259, epochs: 50 });
        // Fewer rows than steps: one row per batch.
        assert_eq!(budget(5, 50, &cfg), Budget { batch: 1, steps_per_epoch: 5, epochs: 50 });
        // Off: the batch is min(batch, n) as before (one full-batch step per epoch).
        let mut off = cfg.clone();
        off.budget.min_steps_per_epoch = 0;
        assert_eq!(budget(248, 50, &off), Budget { batch: 248, steps_per_epoch: 1, epochs: 50 });
        // A floor of 1000 steps at 8 steps per epoch needs ceil(1000 / 8) = 125 epochs.
        let mut floor = cfg;
        floor.budget.min_steps = 1000;
        assert_eq!(budget(248, 50, &floor), Budget { batch: 31, steps_per_epoch: 8, epochs: 125 });
        assert_eq!(budget(66_071, 50, &floor), Budget { batch: 256, steps_per_epoch: 259, epochs: 50 });
    }

    /// One AdamW step with zero gradients, lr 0.1, weight_decay 0.1. The
    /// decoupled decay multiplies a decayed parameter by 1 − lr·λ = 1 − 0.01 = 0.99 and the Adam
    /// term is 0 (m = v = 0), so a weight 1.0 becomes 0.99 while a bias 1.0 and
    /// logit_scale = ln(1/0.07) = 2.6593 stay as they are (CLIP's parameter groups).
    #[test]
    fn weight_decay_skips_biases_and_logit_scale() -> Result<()> {
        for (all, device) in [(false, Device::Cpu), (true, Device::Cpu)] {
            let mut cfg = HeadsConfig::default();
            (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.weight_decay_all) = (0.1, 0.1, all);
            let w = Var::from_tensor(&Tensor::ones((2, 3), candle_core::DType::F32, &device)?)?;
            let b = Var::from_tensor(&Tensor::ones(2, candle_core::DType::F32, &device)?)?;
            let ls = Var::from_tensor(&Tensor::new((1.0f32 / 0.07).ln(), &device)?)?;
            let vars = vec![
                ("ema.e_v.weight".to_string(), w.clone()),
                ("ema.e_v.bias".to_string(), b.clone()),
                ("ema.logit_scale".to_string(), ls.clone()),
            ];
            let mut opt = optimiser(&vars, &cfg)?;
            opt.set_learning_rates(|_| 0.1);
            // A loss whose gradient is exactly zero for every variable: Σ (θ − stop_grad(θ))²
            // has gradient 2(θ − θ) = 0 at the current point.
            let zero_grad =
                |v: &Var| -> candle_core::Result<Tensor> { (v.as_tensor() - v.as_tensor().detach())?.sqr()?.sum_all() };
            let loss = ((zero_grad(&w)? + zero_grad(&b)?)? + zero_grad(&ls)?)?;
            opt.backward_step(&loss)?;
            let wv = w.as_tensor().flatten_all()?.to_vec1::<f32>()?;
            assert!(wv.iter().all(|&x| (x - 0.99).abs() < 1e-7), "weight {wv:?}");
            let bv = b.as_tensor().to_vec1::<f32>()?;
            let lsv = ls.as_tensor().to_scalar::<f32>()?;
            if all {
                assert!(bv.iter().all(|&x| (x - 0.99).abs() < 1e-7), "bias with weight_decay_all: {bv:?}");
                assert!((lsv - 2.6593 * 0.99).abs() < 1e-3, "logit_scale with weight_decay_all: {lsv}");
            } else {
                assert_eq!(bv, vec![1.0, 1.0], "bias");
                assert!((lsv - 2.6593).abs() < 1e-4, "logit_scale {lsv}");
            }
        }
        Ok(())
    }
}
