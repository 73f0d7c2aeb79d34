//! Training of the Table 1 alignment rows `swd`, `ssan`, `cdd`, `sdm` through the shared trainer
//! ([`super::trainer::run_phase`]), exactly like `ema` but with the alignment loss in place of
//! `L_ITA`: `L = α1·CE(C(x_v'), y) + w·L_align(x_v', x_s', y)` on the EMA encoders' outputs
//! `x_v' = g(E_v x_v)`, `x_s' = g(E_s x_s)`, over the training rows with text. The classifier `C`
//! on `x_v'` is selected on val top-1 and is all that runs at test time (images only).
//!
//! The parameters are the EMA module's (`ema.e_v`, `ema.e_s`, `ema.classifier`; `logit_scale`
//! stays at its initial value and is not trained), so `marnet-heads predict` loads these modes
//! like `ema`.

use super::features::Features;
use super::result::{finish, map_rows, top1_of, Mode, ModeExtras, ModeResult, RunOptions};
use super::rng_streams as streams;
use super::trainer::{run_phase, EvalOutcome, Phase, Selection};
use crate::model::align::{cdd::cdd_loss, sdm::sdm_loss, ssan::ssan_loss, swd};
use crate::model::config::HeadsConfig;
use crate::model::ema::Ema;
use crate::nn::params::{ParamBuilder, SortedVars};
use crate::nn::rng::{dropout, HostRng};
use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_nn::{Module, VarMap};

// RNG streams: `streams::INIT`, `SHUFFLE`, `DROPOUT` as `ema`, so a seed starts every row of the
// table from the same weights and batch order.

/// One batch as the alignment losses see it.
struct AlignBatch<'a> {
    /// `x_v'` (n, d).
    xv_p: &'a Tensor,
    /// `x_s'` (n, d).
    xs_p: &'a Tensor,
    /// Classifier logits of `x_v'` (n, K).
    logits_v: &'a Tensor,
    /// Labels (n,) u32.
    y: &'a Tensor,
}

/// The weighted alignment term of `mode` for one batch of `k` classes.
fn align_term(
    mode: Mode,
    ema: &Ema,
    cfg: &HeadsConfig,
    b: &AlignBatch,
    k: usize,
    proj_rng: &mut HostRng,
) -> Result<Tensor> {
    let AlignBatch { xv_p, xs_p, logits_v, y } = *b;
    let a = &cfg.align;
    Ok(match mode {
        Mode::Swd => {
            let proj = swd::random_projections(proj_rng, k, a.swd_projections, xv_p.device())?;
            (swd::swd_loss(logits_v, &ema.classifier.forward(xs_p)?, &proj)? * a.swd_weight)?
        }
        Mode::Ssan => (ssan_loss(xv_p, xs_p, y, k)? * a.ssan_weight)?,
        Mode::Cdd => (cdd_loss(xv_p, xs_p, y, k, a.cdd_kernels, a.cdd_kernel_mul)? * a.cdd_weight)?,
        Mode::Sdm => (sdm_loss(xv_p, xs_p, y, k, a.sdm_tau)? * a.sdm_weight)?,
        other => bail!("mode {other} has no alignment loss"),
    })
}

/// Classifier logits on `x_v'` for `rows` (what runs at test time).
fn logits(ema: &Ema, f: &Features, rows: &[u32]) -> Result<Tensor> {
    map_rows(f, rows, |idx| Ok(ema.classifier.forward(&ema.embed_v(&f.x_v.index_select(idx, 0)?)?)?))
}

/// Trains alignment mode `mode` (`swd`, `ssan`, `cdd` or `sdm`) with `seed`.
///
/// # Errors
/// Another mode, no training rows with text, a NaN loss; candle errors.
pub fn train_align(f: &Features, cfg: &HeadsConfig, mode: Mode, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    if !matches!(mode, Mode::Swd | Mode::Ssan | Mode::Cdd | Mode::Sdm) {
        bail!("mode {mode} is not an alignment mode");
    }
    let k = f.num_classes();
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::INIT);
    let ema = Ema::new(&mut ParamBuilder::new(&varmap, &mut init, &f.device), f.d_v, f.d_s, k, cfg)?;
    let vars = varmap.all_named_vars_sorted().into_iter().filter(|(n, _)| !n.ends_with("logit_scale")).collect();
    let mut rng = HostRng::new(seed, streams::SHUFFLE);
    let mut drop_rng = HostRng::new(seed, streams::DROPOUT);
    let mut proj_rng = HostRng::new(seed, streams::SWD_PROJECTIONS);
    let history = run_phase(
        cfg,
        Phase {
            phase: 1,
            epochs: cfg.budget.epochs,
            vars,
            rows: &f.train_text,
            progress: opts.progress,
            label: mode.as_str(),
            select: Selection::Best,
            hook: opts.epoch_hook.as_ref(),
        },
        &f.device,
        &mut rng,
        |idx, _| {
            let xv_p = ema.embed_v(&f.x_v.index_select(idx, 0)?)?;
            let xs_p = ema.embed_s(&f.x_s.index_select(idx, 0)?)?;
            let y = f.labels_t.index_select(idx, 0)?;
            let logits_v = ema.classifier.forward(&dropout(&xv_p, cfg.optim.dropout, true, &mut drop_rng)?)?;
            let ce = candle_nn::loss::cross_entropy(&logits_v, &y)?;
            let batch = AlignBatch { xv_p: &xv_p, xs_p: &xs_p, logits_v: &logits_v, y: &y };
            let align = align_term(mode, &ema, cfg, &batch, k, &mut proj_rng)?;
            Ok(((ce * cfg.objective.alpha1)? + align)?)
        },
        || {
            let t = top1_of(f, &logits(&ema, f, &f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = logits(&ema, f, &f.val)?;
    let test = logits(&ema, f, &f.test)?;
    finish(f, mode, seed, &val, &test, history, &varmap, ModeExtras::default())
}
