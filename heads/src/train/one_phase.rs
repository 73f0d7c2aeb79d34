//! The one-phase ablations of paper table 2 (DESIGN §2 "Ablations"): `baseline` (Linear on
//! `x_v`, CE) and `ema` (`L_EMA = α1·L_CE + β·L_ITA`, classifier on `x_v'`), and the EMA loss and
//! logits that the two-phase modes reuse.

use super::features::Features;
use super::result::{finish, map_rows, top1_of, Mode, ModeResult, RunOptions};
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
    let mut init = HostRng::new(seed, 1);
    let cls = ParamBuilder::new(&varmap, &mut init, &f.device)
        .scoped("baseline", |pb| pb.linear("classifier", f.d_v, f.num_classes()))?;
    let mut rng = HostRng::new(seed, 2);
    let mut drop_rng = HostRng::new(seed, 3);
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
    finish(f, Mode::Baseline, seed, &val, &test, history, &varmap, (None, None, None))
}

/// `L_EMA = α1·CE(classifier(x_v')) + β·L_ITA(x_v', x_s')` for a batch of rows with text.
/// Returns `(L_EMA, x_v')`; dropout before the classifier only when `train`.
pub fn ema_loss(
    ema: &Ema,
    f: &Features,
    idx: &Tensor,
    cfg: &HeadsConfig,
    train: bool,
    drop_rng: &mut HostRng,
) -> Result<(Tensor, Tensor)> {
    let xv_p = ema.embed_v(&f.x_v.index_select(idx, 0)?)?;
    let xs_p = ema.embed_s(&f.x_s.index_select(idx, 0)?)?;
    let logits = ema.classifier.forward(&dropout(&xv_p, cfg.optim.dropout, train, drop_rng)?)?;
    let ce = candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?;
    let loss = ((ce * cfg.objective.alpha1)? + (ema.ita(&xv_p, &xs_p)? * cfg.objective.beta)?)?;
    Ok((loss, xv_p))
}

/// EMA classifier logits for `rows`.
pub fn ema_logits(ema: &Ema, f: &Features, rows: &[u32]) -> Result<Tensor> {
    map_rows(f, rows, |idx| Ok(ema.classifier.forward(&ema.embed_v(&f.x_v.index_select(idx, 0)?)?)?))
}

pub fn train_ema(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, 1);
    let ema = Ema::new(&mut ParamBuilder::new(&varmap, &mut init, &f.device), f.d_v, f.d_s, f.num_classes(), cfg)?;
    let mut rng = HostRng::new(seed, 2);
    let mut drop_rng = HostRng::new(seed, 3);
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
        |idx, _| Ok(ema_loss(&ema, f, idx, cfg, true, &mut drop_rng)?.0),
        || {
            let t = top1_of(f, &ema_logits(&ema, f, &f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = ema_logits(&ema, f, &f.val)?;
    let test = ema_logits(&ema, f, &f.test)?;
    let tau = ema.tau()?;
    finish(f, Mode::Ema, seed, &val, &test, history, &varmap, (None, None, Some(tau)))
}
