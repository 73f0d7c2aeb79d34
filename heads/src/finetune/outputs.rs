//! The files of a fine-tune run folder, in the formats of `marnet-heads train` (DESIGN §7) so the
//! same tools read them: `config.toml`, `metrics.json` (`{"<mode>": {"val": {"top1", "top5",
//! ...}, "test": {...}}}`, percent; modes `ema`, `cdr`, `fusion`, or `baseline` without a text
//! model), `predictions.parquet`, `heads.safetensors` (`fusion.*` / `baseline.*` + `x_s_mean`,
//! `x_s_std`; usable by `--init-heads`), `report.md` with plots, plus `finetune.json` (steps,
//! best step, evaluation history, what was loaded) and, with `--export-backbone`, the HF folder.

use super::checkpoint::{BestEval, EvalRecord};
use super::evaluate::logits_of;
use super::export::export_backbone;
use super::session::Session;
use crate::report::run_output::{
    ablation_table, write_config, write_heads, write_metrics, write_predictions, ModeRuns,
};
use crate::train::trainer::EpochRecord;
use crate::train::{finish, Mode, ModeExtras, ModeResult};
use anyhow::{Context, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use serde_json::json;

/// Summary of a finished (or stopped) run.
#[derive(Debug, Clone)]
pub struct FinetuneOutcome {
    /// Optimiser steps done.
    pub step: u64,
    /// Steps of the full schedule.
    pub total_steps: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Step the run resumed at, if it resumed.
    pub resumed_from: Option<u64>,
    /// Best val top-1 of the selection mode and its step.
    pub best: Option<BestEval>,
    /// Every evaluation (across resumes).
    pub history: Vec<EvalRecord>,
    /// Wall-clock seconds of this invocation.
    pub seconds: f64,
}

/// Evaluates the session's current weights on val (unless `val_logits` of these weights are
/// given) and test, and writes the run folder.
pub fn write_outputs(
    s: &Session,
    outcome: FinetuneOutcome,
    val_logits: Option<Vec<(Mode, Tensor)>>,
) -> Result<FinetuneOutcome> {
    let out = &s.opts.out;
    let f = &s.rows.features;
    let val = match val_logits {
        Some(v) => v,
        None => logits_of(s, &f.val)?,
    };
    let test = logits_of(s, &f.test)?;
    let results = mode_results(s, &outcome, &val, &test)?;
    write_run_files(s, &results)?;
    write_report_md(s, &results)?;
    crate::report::write_atomic(
        &out.join("finetune.json"),
        (serde_json::to_string_pretty(&finetune_summary(s, &outcome))? + "\n").as_bytes(),
    )?;
    if let Some(dir) = &s.opts.export_backbone {
        export_backbone(&s.image.files, &s.image_values()?, dir)
            .with_context(|| format!("--export-backbone {}", dir.display()))?;
    }
    if s.opts.progress {
        eprint!("{}", ablation_table(&results, &[]));
    }
    Ok(outcome)
}

/// One [`ModeResult`] per mode from its val and test logits, in the form `train` reports: the
/// evaluation history as phase-1 epochs, the heads' weights on the mode that owns them.
fn mode_results(
    s: &Session,
    outcome: &FinetuneOutcome,
    val: &[(Mode, Tensor)],
    test: &[(Mode, Tensor)],
) -> Result<Vec<ModeRuns>> {
    let f = &s.rows.features;
    let weights_mode = s.heads.weights_mode();
    let empty = VarMap::new();
    let tau = s.heads.tau()?;
    let mut results = Vec::new();
    for ((mode, v), (_, t)) in val.iter().zip(test.iter()) {
        let history = epoch_history(&outcome.history, *mode);
        let varmap = if *mode == weights_mode { &s.heads.varmap } else { &empty };
        let tau = if *mode == Mode::Baseline { None } else { tau };
        let mut r: ModeResult =
            finish(f, *mode, s.opts.cfg.run.seed, v, t, history, varmap, ModeExtras { tau, ..ModeExtras::default() })?;
        r.seconds = outcome.seconds;
        results.push(ModeRuns { mode: *mode, runs: vec![r] });
    }
    Ok(results)
}

/// The evaluations of a fine-tune as `train`'s epoch records of `mode` (phase 1, one per
/// evaluation, no timings).
fn epoch_history(history: &[EvalRecord], mode: Mode) -> Vec<EpochRecord> {
    history
        .iter()
        .enumerate()
        .map(|(i, h)| EpochRecord {
            phase: 1,
            epoch: i + 1,
            train_loss: h.train_loss,
            val_top1: h.val_top1.iter().find(|(m, _)| m == mode.as_str()).map_or(0.0, |(_, x)| *x),
            val_score: h.score,
            seconds: 0.0,
            eval_seconds: 0.0,
        })
        .collect()
}

/// `config.toml`, `metrics.json`, `predictions.parquet` and `heads.safetensors` (the weights of
/// the mode that owns them).
fn write_run_files(s: &Session, results: &[ModeRuns]) -> Result<()> {
    let out = &s.opts.out;
    let f = &s.rows.features;
    let cfg = &s.opts.cfg;
    write_config(out, cfg)?;
    write_metrics(out, results, &[])?;
    write_predictions(out, results, f)?;
    // heads.safetensors records d_v: the backbone width, not the placeholder of the rows.
    let mut f_heads = f.clone();
    f_heads.d_v = s.image.dim();
    let weights_mode = s.heads.weights_mode();
    let weight_runs: Vec<ModeRuns> = results
        .iter()
        .filter(|r| r.mode == weights_mode)
        .map(|r| ModeRuns { mode: r.mode, runs: r.runs.clone() })
        .collect();
    write_heads(out, &weight_runs, &f_heads, cfg)
}

/// `report.md` with its plots; a report that cannot be written is a note, not an error.
fn write_report_md(s: &Session, results: &[ModeRuns]) -> Result<()> {
    let input = crate::report::report_input(
        &format!("{} (fine-tuned {})", s.dataset_name, s.opts.image_model),
        results,
        &[],
        &s.rows.features,
        &s.opts.cfg,
    )?;
    match crate::report::write_report(&s.opts.out, &input) {
        Ok(rep) => {
            for n in rep.skipped {
                eprintln!("note: {n}");
            }
        }
        Err(e) => eprintln!("note: report.md not written: {e:#}"),
    }
    Ok(())
}

/// The JSON of `finetune.json`: steps, best evaluation, history and the run's settings.
fn finetune_summary(s: &Session, outcome: &FinetuneOutcome) -> serde_json::Value {
    json!({
        "steps_done": outcome.step,
        "total_steps": outcome.total_steps,
        "steps_per_epoch": outcome.steps_per_epoch,
        "finished": outcome.step >= outcome.total_steps,
        "resumed_from": outcome.resumed_from,
        "best": outcome.best.map(|b| json!({"val_top1": b.val_top1, "step": b.step, "mode": s.opts.select_mode().as_str()})),
        "history": outcome.history,
        "image_model": s.opts.image_model,
        "text_model": s.opts.text_model,
        "train_image_backbone": s.opts.train_image_backbone,
        "train_text_backbone": s.opts.train_text_backbone,
        "freeze_blocks": s.opts.freeze_blocks,
        "backbone_lr": s.opts.backbone_lr,
        "heads_lr": s.opts.cfg.optim.lr,
        "batch_size": s.opts.batch_size,
        "accum_steps": s.opts.accum_steps,
        "epochs": s.opts.epochs,
        "dtype": format!("{:?}", s.opts.dtype),
        "notes": s.notes,
    })
}
