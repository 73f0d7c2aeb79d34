//! The one-phase ablations of paper table 2 (DESIGN §2 "Ablations"): `baseline` (Linear on
//! `x_v`, CE) and `ema` (`L_EMA = α1·L_CE + β·L_ITA`, classifier on `x_v'`; the loss is
//! [`Ema::loss`], beside the module).

use super::features::Features;
use super::result::{finish, map_rows, top1_of, Mode, ModeExtras, ModeResult, RunOptions};
use super::rng_streams as streams;
use super::trainer::{run_phase, EvalOutcome, Phase, Selection};
use crate::model::config::HeadsConfig;
use crate::model::ema::Ema;
use crate::nn::params::{ParamBuilder, SortedVars};
use crate::nn::rng::{dropout, HostRng};
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::{Module, VarMap};

pub fn train_baseline(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::INIT);
    let cls = ParamBuilder::new(&varmap, &mut init, &f.device)
        .scoped("baseline", |pb| pb.linear("classifier", f.d_v, f.num_classes()))?;
    let mut rng = HostRng::new(seed, streams::SHUFFLE);
    let mut drop_rng = HostRng::new(seed, streams::DROPOUT);
    let history = run_phase(
        cfg,
        Phase {
            phase: 1,
            epochs: cfg.budget.epochs,
            vars: varmap.all_named_vars_sorted(),
            rows: &f.train,
            progress: opts.progress,
            label: "baseline",
            select: Selection::Best,
            hook: opts.epoch_hook.as_ref(),
        },
        &f.device,
        &mut rng,
        |idx, _| {
            let x = dropout(&f.x_v.index_select(idx, 0)?, cfg.optim.dropout, true, &mut drop_rng)?;
            Ok(candle_nn::loss::cross_entropy(&cls.forward(&x)?, &f.labels_t.index_select(idx, 0)?)?)
        },
        || {
            let logits = map_rows(f, &f.val, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
            let t = top1_of(f, &logits, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = map_rows(f, &f.val, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
    let test = map_rows(f, &f.test, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
    finish(f, Mode::Baseline, seed, &val, &test, history, &varmap, ModeExtras::default())
}

/// EMA classifier logits (rows, K) for `rows`.
fn ema_logits(ema: &Ema, f: &Features, rows: &[u32]) -> Result<Tensor> {
    map_rows(f, rows, |idx| ema.logits(&f.x_v.index_select(idx, 0)?))
}

pub fn train_ema(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::INIT);
    let ema = Ema::new(&mut ParamBuilder::new(&varmap, &mut init, &f.device), f.d_v, f.d_s, f.num_classes(), cfg)?;
    let mut rng = HostRng::new(seed, streams::SHUFFLE);
    let mut drop_rng = HostRng::new(seed, streams::DROPOUT);
    let history = run_phase(
        cfg,
        Phase {
            phase: 1,
            epochs: cfg.budget.epochs,
            vars: varmap.all_named_vars_sorted(),
            rows: &f.train_text,
            progress: opts.progress,
            label: "ema",
            select: Selection::Best,
            hook: opts.epoch_hook.as_ref(),
        },
        &f.device,
        &mut rng,
        |idx, _| {
            let (x_v, x_s) = (f.x_v.index_select(idx, 0)?, f.x_s.index_select(idx, 0)?);
            let labels = f.labels_t.index_select(idx, 0)?;
            Ok(ema.loss(&x_v, &x_s, &labels, cfg, true, &mut drop_rng)?.loss)
        },
        || {
            let t = top1_of(f, &ema_logits(&ema, f, &f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = ema_logits(&ema, f, &f.val)?;
    let test = ema_logits(&ema, f, &f.test)?;
    let tau = ema.tau()?;
    finish(f, Mode::Ema, seed, &val, &test, history, &varmap, ModeExtras { tau: Some(tau), ..ModeExtras::default() })
}
