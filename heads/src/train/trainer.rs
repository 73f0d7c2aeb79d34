//! The training loop shared by every mode (DESIGN §2 "Training"): AdamW, cosine learning-rate
//! decay after a linear warmup, shuffled mini-batches from the seeded RNG, model selection on a
//! validation score keeping the best weights, and early stopping.
//!
//! Per step there is no host round trip: the batch indices go to the device, the loss is summed
//! on the device and read back every `log_every` steps (to stop on NaN) and at the end of the epoch.

use crate::nn::adamw::FusedAdamW;
use crate::model::config::HeadsConfig;
use crate::nn::rng::HostRng;
use anyhow::{bail, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

/// AdamW: the fused host version on the CPU ([`crate::nn::adamw`], bit-for-bit candle_nn's update,
/// several times faster), candle_nn's own on an accelerator.
enum Optim {
    Fused(FusedAdamW),
    Candle(AdamW),
}

impl Optim {
    fn new(vars: Vec<Var>, params: ParamsAdamW, device: &Device) -> Result<Self> {
        Ok(if device.is_cpu() {
            Optim::Fused(FusedAdamW::new(vars, params)?)
        } else {
            Optim::Candle(AdamW::new(vars, params)?)
        })
    }

    fn set_learning_rate(&mut self, lr: f64) {
        match self {
            Optim::Fused(o) => o.set_learning_rate(lr),
            Optim::Candle(o) => o.set_learning_rate(lr),
        }
    }

    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            Optim::Fused(o) => o.backward_step(loss),
            Optim::Candle(o) => Ok(o.backward_step(loss)?),
        }
    }
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
    /// Trainable variables (everything else stays frozen).
    pub vars: Vec<Var>,
    /// Global row indices the phase trains on.
    pub rows: &'a [u32],
    /// Print one line per epoch to stderr.
    pub progress: bool,
    /// Label of the progress lines.
    pub label: &'a str,
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
/// weights of the best-scoring epoch. Errors if the loss becomes NaN or infinite.
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
    let batch = cfg.batch.min(n);
    let steps_per_epoch = n.div_ceil(batch);
    let total = steps_per_epoch * phase.epochs;
    let params = ParamsAdamW { lr: cfg.lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() };
    let mut opt = Optim::new(phase.vars.clone(), params, device)?;
    let mut order: Vec<u32> = phase.rows.to_vec();
    let mut history = Vec::new();
    let mut best: Option<(f64, Vec<Tensor>)> = None;
    let mut since_best = 0usize;
    let mut global = 0usize;
    for epoch in 1..=phase.epochs {
        let t0 = std::time::Instant::now();
        rng.shuffle(&mut order);
        let mut acc = Tensor::zeros((), candle_core::DType::F32, device)?;
        for (s, chunk) in order.chunks(batch).enumerate() {
            opt.set_learning_rate(lr_at(global, total, cfg.warmup, cfg.lr));
            let idx = Tensor::from_slice(chunk, chunk.len(), device)?;
            let loss = step(&idx, rng)?;
            opt.backward_step(&loss)?;
            acc = (acc + loss.detach())?;
            global += 1;
            if (s + 1) % cfg.log_every == 0 {
                let v = acc.to_scalar::<f32>()?;
                if !v.is_finite() {
                    bail!(
                        "{} phase {}: training loss became {v} at epoch {epoch}, step {}; lower `lr`",
                        phase.label, phase.phase, s + 1
                    );
                }
            }
        }
        let train_loss = acc.to_scalar::<f32>()? as f64 / steps_per_epoch as f64;
        if !train_loss.is_finite() {
            bail!("{} phase {}: training loss became {train_loss} at epoch {epoch}; lower `lr`", phase.label, phase.phase);
        }
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
                phase.label, phase.phase, phase.epochs, ev.val_top1
            );
        }
        let improved = best.as_ref().is_none_or(|(b, _)| ev.score > *b);
        if improved {
            let snap = phase.vars.iter().map(|v| v.as_tensor().copy()).collect::<candle_core::Result<Vec<_>>>()?;
            best = Some((ev.score, snap));
            since_best = 0;
        } else {
            since_best += 1;
            if cfg.patience > 0 && since_best >= cfg.patience {
                break;
            }
        }
    }
    if let Some((_, snap)) = best {
        for (v, t) in phase.vars.iter().zip(snap) {
            v.set(&t)?;
        }
    }
    Ok(history)
}
