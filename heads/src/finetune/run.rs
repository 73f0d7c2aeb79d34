//! The fine-tune loop: resume from `DIR/checkpoints/last.safetensors` when it exists (same
//! fingerprint required; weights, AdamW moments and step restored), train step by step until the
//! schedule ends or `--max-steps`, and at every epoch end (and where the run stops) evaluate val,
//! keep `best.safetensors` by val top-1 of the selection mode and rewrite `last.safetensors`.
//! At the end the best weights are evaluated on val and test and the run folder is written
//! ([`super::outputs`]).

use super::checkpoint::{self, best_path, check_fingerprint, last_path, BestEval, CheckpointMeta, EvalRecord};
use super::evaluate::{val_top1, ModeLogits};
use super::options::FinetuneOptions;
use super::outputs::{write_outputs, FinetuneOutcome};
use super::session::Session;
use super::step::train_step;
use anyhow::{Context, Result};
use std::path::Path;

/// Builds the session and runs it ([`run_session`]).
pub fn run_finetune(opts: FinetuneOptions) -> Result<FinetuneOutcome> {
    let mut s = Session::build(opts)?;
    run_session(&mut s)
}

/// Trains (resuming if possible), checkpoints, evaluates and writes the run folder. On return
/// the session holds the best weights (those of `metrics.json` and `--export-backbone`).
pub fn run_session(s: &mut Session) -> Result<FinetuneOutcome> {
    let started = std::time::Instant::now();
    let out = s.opts.out.clone();
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if s.opts.progress {
        for n in &s.notes {
            eprintln!("[finetune] {n}");
        }
    }
    let mut state = resume(s, &out)?;
    let total = s.total_steps();
    let stop = s.opts.max_steps.map_or(total, |m| m.min(total));
    let last_eval = train_until(s, &out, &mut state, stop)?;
    let val_logits = best_weights(s, &out, &state, last_eval)?;
    let outcome = FinetuneOutcome {
        step: state.step,
        total_steps: total,
        steps_per_epoch: s.steps_per_epoch(),
        resumed_from: state.resumed_from,
        best: state.best,
        history: state.history,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_outputs(s, outcome, val_logits)
}

/// Where a run stands: restored from `last.safetensors` on resume, advanced by every step.
#[derive(Default)]
struct RunState {
    /// Optimiser steps done.
    step: u64,
    /// Best evaluation so far.
    best: Option<BestEval>,
    /// Every evaluation so far (across resumes).
    history: Vec<EvalRecord>,
    /// Step this invocation resumed at.
    resumed_from: Option<u64>,
}

/// The last evaluation of this invocation: its step and the val logits it computed.
struct LastEval {
    step: u64,
    logits: ModeLogits,
}

/// Restores weights, AdamW state, step and history from `out/checkpoints/last.safetensors` when
/// it exists (same fingerprint required); a fresh state otherwise.
fn resume(s: &mut Session, out: &Path) -> Result<RunState> {
    let last = last_path(out);
    if !last.is_file() {
        return Ok(RunState::default());
    }
    let (tensors, meta) = checkpoint::load(&last, &s.opts.device)?;
    check_fingerprint(&last, &meta.fingerprint, &s.fingerprint)?;
    s.set_weights(&tensors, &last.display().to_string())?;
    s.optimizer.load_state(&tensors, meta.step).with_context(|| last.display().to_string())?;
    if s.opts.progress {
        eprintln!("[finetune] resuming from {} at step {}", last.display(), meta.step);
    }
    Ok(RunState { step: meta.step, best: meta.best, history: meta.history, resumed_from: Some(meta.step) })
}

/// Trains step by step until `stop`, evaluating and checkpointing at every epoch end and at
/// `stop`. Returns the last evaluation of this invocation (none when no step was left).
fn train_until(s: &mut Session, out: &Path, state: &mut RunState, stop: u64) -> Result<Option<LastEval>> {
    let spe = s.steps_per_epoch();
    let total = s.total_steps();
    let (mut loss_sum, mut loss_n) = (0f64, 0u64);
    let mut last_eval = None;
    while state.step < stop {
        let t0 = std::time::Instant::now();
        let loss = train_step(s, state.step)?;
        state.step += 1;
        let step = state.step;
        loss_sum += loss;
        loss_n += 1;
        if s.opts.progress {
            eprintln!(
                "[finetune] step {step}/{total} (epoch {}): loss {loss:.4} ({:.1} s)",
                (step - 1) / spe + 1,
                t0.elapsed().as_secs_f64()
            );
        }
        if step.is_multiple_of(spe) || step == stop {
            let logits = evaluate_and_checkpoint(s, out, state, loss_sum / loss_n as f64)?;
            last_eval = Some(LastEval { step, logits });
            (loss_sum, loss_n) = (0.0, 0);
        }
    }
    Ok(last_eval)
}

/// Evaluates val at the current step, appends it to the history, writes `best.safetensors` when
/// it improves on the best so far and rewrites `last.safetensors`. Returns the val logits.
fn evaluate_and_checkpoint(s: &Session, out: &Path, state: &mut RunState, train_loss: f64) -> Result<ModeLogits> {
    let step = state.step;
    let spe = s.steps_per_epoch();
    let select = s.opts.select_mode();
    let (tops, logits) = val_top1(s)?;
    let score = tops.iter().find(|(m, _)| *m == select).map_or(0.0, |(_, t)| *t);
    state.history.push(EvalRecord {
        step,
        epoch: step as f64 / spe as f64,
        train_loss,
        val_top1: tops.iter().map(|(m, t)| (m.as_str().to_string(), *t)).collect(),
        score,
    });
    let weights = s.weights()?;
    let improved = state.best.is_none_or(|b| score > b.val_top1);
    if improved {
        state.best = Some(BestEval { val_top1: score, step });
    }
    let meta =
        CheckpointMeta { step, best: state.best, history: state.history.clone(), fingerprint: s.fingerprint.clone() };
    if improved {
        checkpoint::save(&best_path(out), &weights, &meta)?;
    }
    let mut all = weights;
    all.extend(s.optimizer.state_tensors()?);
    checkpoint::save(&last_path(out), &all, &meta)?;
    if s.opts.progress {
        eprintln!(
            "[finetune] step {step}: val top-1 {}{}",
            tops.iter().map(|(m, t)| format!("{m} {t:.2} %")).collect::<Vec<_>>().join(", "),
            if improved { " (best so far)" } else { "" }
        );
    }
    Ok(logits)
}

/// Leaves the best weights in the session. They are already in memory when the best evaluation
/// is the last one of this invocation, whose val logits are then returned for reuse; otherwise
/// `best.safetensors` is loaded (when it exists) and `None` returned.
fn best_weights(
    s: &mut Session,
    out: &Path,
    state: &RunState,
    last_eval: Option<LastEval>,
) -> Result<Option<ModeLogits>> {
    let best_step = state.best.map(|b| b.step);
    match last_eval {
        Some(e) if Some(e.step) == best_step && e.step == state.step => Ok(Some(e.logits)),
        _ => {
            let best_file = best_path(out);
            if best_file.is_file() {
                let (tensors, _) = checkpoint::load(&best_file, &s.opts.device)?;
                s.set_weights(&tensors, &best_file.display().to_string())?;
            }
            Ok(None)
        }
    }
}
