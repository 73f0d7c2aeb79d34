//! The fine-tune loop: resume from `DIR/checkpoints/last.safetensors` when it exists (same
//! fingerprint required; weights, AdamW moments and step restored), train step by step until the
//! schedule ends or `--max-steps`, and at every epoch end (and where the run stops) evaluate val,
//! keep `best.safetensors` by val top-1 of the selection mode and rewrite `last.safetensors`.
//! At the end the best weights are evaluated on val and test and the run folder is written
//! ([`super::outputs`]).

use super::checkpoint::{self, best_path, check_fingerprint, last_path, CheckpointMeta, EvalRecord};
use super::evaluate::val_top1;
use super::options::FinetuneOptions;
use super::outputs::{write_outputs, FinetuneOutcome};
use super::session::Session;
use super::step::train_step;
use anyhow::{Context, Result};

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
    let progress = s.opts.progress;
    if progress {
        for n in &s.notes {
            eprintln!("[finetune] {n}");
        }
    }
    let last = last_path(&out);
    let (mut step, mut best, mut history, mut resumed_from) = (0u64, None, Vec::new(), None);
    if last.is_file() {
        let (tensors, meta) = checkpoint::load(&last, &s.opts.device)?;
        check_fingerprint(&last, &meta.fingerprint, &s.fingerprint)?;
        s.set_weights(&tensors, &last.display().to_string())?;
        s.optimizer.load_state(&tensors, meta.step).with_context(|| last.display().to_string())?;
        (step, best, history, resumed_from) = (meta.step, meta.best, meta.history, Some(meta.step));
        if progress {
            eprintln!("[finetune] resuming from {} at step {step}", last.display());
        }
    }
    let spe = s.steps_per_epoch();
    let total = s.total_steps();
    let stop = s.opts.max_steps.map_or(total, |m| m.min(total));
    let select = s.opts.select_mode();
    let (mut loss_sum, mut loss_n) = (0f64, 0u64);
    let mut last_eval = None;
    while step < stop {
        let t0 = std::time::Instant::now();
        let loss = train_step(s, step)?;
        step += 1;
        loss_sum += loss;
        loss_n += 1;
        if progress {
            eprintln!(
                "[finetune] step {step}/{total} (epoch {}): loss {loss:.4} ({:.1} s)",
                (step - 1) / spe + 1,
                t0.elapsed().as_secs_f64()
            );
        }
        if step % spe == 0 || step == stop {
            let (tops, logits) = val_top1(s)?;
            last_eval = Some((step, logits));
            let score = tops.iter().find(|(m, _)| *m == select).map_or(0.0, |(_, t)| *t);
            history.push(EvalRecord {
                step,
                epoch: step as f64 / spe as f64,
                train_loss: loss_sum / loss_n as f64,
                val_top1: tops.iter().map(|(m, t)| (m.as_str().to_string(), *t)).collect(),
                score,
            });
            (loss_sum, loss_n) = (0.0, 0);
            let weights = s.weights()?;
            let improved = best.is_none_or(|(b, _)| score > b);
            if improved {
                best = Some((score, step));
            }
            let meta = CheckpointMeta { step, best, history: history.clone(), fingerprint: s.fingerprint.clone() };
            if improved {
                checkpoint::save(&best_path(&out), &weights, &meta)?;
            }
            let mut all = weights;
            all.extend(s.optimizer.state_tensors()?);
            checkpoint::save(&last, &all, &meta)?;
            if progress {
                eprintln!(
                    "[finetune] step {step}: val top-1 {}{}",
                    tops.iter().map(|(m, t)| format!("{m} {t:.2} %")).collect::<Vec<_>>().join(", "),
                    if improved { " (best so far)" } else { "" }
                );
            }
        }
    }
    // The weights in memory are the best ones when the best evaluation is the last one of this
    // invocation: its val logits are reused. Otherwise load best.safetensors.
    let best_step = best.map(|(_, b)| b);
    let val_logits = match last_eval {
        Some((at, logits)) if Some(at) == best_step && at == step => Some(logits),
        _ => {
            let best_file = best_path(&out);
            if best_file.is_file() {
                let (tensors, _) = checkpoint::load(&best_file, &s.opts.device)?;
                s.set_weights(&tensors, &best_file.display().to_string())?;
            }
            None
        }
    };
    let outcome = FinetuneOutcome {
        step,
        total_steps: total,
        steps_per_epoch: spe,
        resumed_from,
        best,
        history,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_outputs(s, outcome, val_logits)
}
