//! Mode `distill`: generalized distillation (Lopez-Paz et al., ICLR 2016; the loss is in
//! [`crate::model::distill`]) through the shared trainer, in two runs of
//! [`super::trainer::run_phase`]:
//!
//! 1. Teacher: a Linear classifier on the privileged features (standardised `x_s`, or
//!    `[x_s, x_v]` with `distill_teacher = "text_image"`), CE on the training rows with text,
//!    selected on val top-1 over the val rows with text (the last epoch when val has none).
//! 2. Student: a Linear classifier on `x_v` (the `baseline` architecture, with `baseline`'s
//!    init, shuffling and dropout streams), soft CE against
//!    `(1 − λ)·onehot(y) + λ·softmax(teacher / T)` on the training rows with text and the plain
//!    label on training rows without text; selected on val top-1. Only the student is kept and
//!    evaluated: images only at test time.

use super::features::Features;
use super::result::{finish, map_rows, top1_of, Mode, ModeExtras, ModeResult, RunOptions};
use super::rng_streams as streams;
use super::trainer::{run_phase, EvalOutcome, Phase, Selection};
use crate::model::align::one_hot;
use crate::model::config::DistillTeacher;
use crate::model::config::HeadsConfig;
use crate::model::distill::{distill_targets, soft_cross_entropy};
use crate::nn::linear::Linear;
use crate::nn::params::{ParamBuilder, SortedVars};
use crate::nn::rng::{dropout, HostRng};
use anyhow::{bail, Result};
use candle_core::Tensor;
use candle_nn::{Module, VarMap};

// RNG streams: the student takes `baseline`'s (init, shuffling, dropout), the teacher its own
// (`streams::TEACHER`).

/// The teacher's input rows `idx`: `x_s`, or `[x_s, x_v]`.
fn teacher_input(f: &Features, kind: DistillTeacher, idx: &Tensor) -> Result<Tensor> {
    let xs = f.x_s.index_select(idx, 0)?;
    Ok(match kind {
        DistillTeacher::Text => xs,
        DistillTeacher::TextImage => Tensor::cat(&[&xs, &f.x_v.index_select(idx, 0)?], 1)?,
    })
}

/// Trains the teacher; returns it with its weights selected.
fn train_teacher(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<Linear> {
    let kind = cfg.align.distill_teacher;
    let d_in = match kind {
        DistillTeacher::Text => f.d_s,
        DistillTeacher::TextImage => f.d_s + f.d_v,
    };
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::TEACHER[0]);
    let teacher = ParamBuilder::new(&varmap, &mut init, &f.device)
        .scoped("teacher", |pb| pb.linear("classifier", d_in, f.num_classes()))?;
    let mut rng = HostRng::new(seed, streams::TEACHER[1]);
    let mut drop_rng = HostRng::new(seed, streams::TEACHER[2]);
    let has_val = !f.val_text.is_empty();
    // Without val rows with text every epoch "improves", so early stopping never ends the phase.
    let mut epochs_seen = 0.0;
    run_phase(
        cfg,
        Phase {
            phase: 1,
            epochs: cfg.budget.epochs,
            vars: varmap.all_named_vars_sorted(),
            rows: &f.train_text,
            progress: opts.progress,
            label: "distill teacher",
            select: if has_val { Selection::Best } else { Selection::Last },
            // A sweep prunes on the student's val top-1, not the teacher's.
            hook: None,
        },
        &f.device,
        &mut rng,
        |idx, _| {
            let x = dropout(&teacher_input(f, kind, idx)?, cfg.optim.dropout, true, &mut drop_rng)?;
            Ok(candle_nn::loss::cross_entropy(&teacher.forward(&x)?, &f.labels_t.index_select(idx, 0)?)?)
        },
        || {
            if !has_val {
                epochs_seen += 1.0;
                return Ok(EvalOutcome { score: epochs_seen, val_top1: f64::NAN });
            }
            let l = map_rows(f, &f.val_text, |idx| Ok(teacher.forward(&teacher_input(f, kind, idx)?)?))?;
            let t = top1_of(f, &l, &f.val_text)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    Ok(teacher)
}

/// The student's targets for every row of the cache, (N, K) f32: distillation targets on the
/// training rows with text, one-hot labels elsewhere.
fn student_targets(f: &Features, cfg: &HeadsConfig, teacher: &Linear) -> Result<Tensor> {
    let k = f.num_classes();
    let kind = cfg.align.distill_teacher;
    let rows = &f.train_text;
    let t_logits = map_rows(f, rows, |idx| Ok(teacher.forward(&teacher_input(f, kind, idx)?)?))?;
    let idx = Tensor::from_slice(rows, rows.len(), &f.device)?;
    let soft = distill_targets(
        &f.labels_t.index_select(&idx, 0)?,
        &t_logits,
        cfg.align.distill_temperature,
        cfg.align.distill_lambda,
    )?;
    let hard = one_hot(&f.labels_t, k)?;
    // Replace the rows with text: add (soft − hard) at those rows.
    let delta = (soft - hard.index_select(&idx, 0)?)?;
    Ok(hard.index_add(&idx, &delta, 0)?)
}

/// Trains mode `distill` with `seed`.
///
/// # Errors
/// No training rows (with text for the teacher), a NaN loss; candle errors.
pub fn train_distill(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    if f.train_text.is_empty() {
        bail!("mode distill needs training rows with text for its teacher");
    }
    let teacher = train_teacher(f, cfg, seed, opts)?;
    let targets = student_targets(f, cfg, &teacher)?;
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::INIT);
    let student = ParamBuilder::new(&varmap, &mut init, &f.device)
        .scoped("distill", |pb| pb.linear("classifier", f.d_v, f.num_classes()))?;
    let mut rng = HostRng::new(seed, streams::SHUFFLE);
    let mut drop_rng = HostRng::new(seed, streams::DROPOUT);
    let eval_logits = |rows: &[u32]| map_rows(f, rows, |idx| Ok(student.forward(&f.x_v.index_select(idx, 0)?)?));
    let history = run_phase(
        cfg,
        Phase {
            phase: 1,
            epochs: cfg.budget.epochs,
            vars: varmap.all_named_vars_sorted(),
            rows: &f.train,
            progress: opts.progress,
            label: "distill",
            select: Selection::Best,
            hook: opts.epoch_hook.as_ref(),
        },
        &f.device,
        &mut rng,
        |idx, _| {
            let x = dropout(&f.x_v.index_select(idx, 0)?, cfg.optim.dropout, true, &mut drop_rng)?;
            soft_cross_entropy(&student.forward(&x)?, &targets.index_select(idx, 0)?)
        },
        || {
            let t = top1_of(f, &eval_logits(&f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = eval_logits(&f.val)?;
    let test = eval_logits(&f.test)?;
    finish(f, Mode::Distill, seed, &val, &test, history, &varmap, ModeExtras::default())
}
