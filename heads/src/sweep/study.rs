//! Runs a `[search]` study: worker threads claim trials one at a time ([`super::study_state`]),
//! train each trial's seeds in order with an epoch hook that applies the `[prune]` rule to the
//! rung phase, record every run in `OUT/trials/<hash>.json` (pruned runs too) and mark the
//! trial done in the journal, which the sampler then learns from.
//!
//! The rung phase is phase 1: the only phase of `baseline` and `ema`, and in `mlp`, `cdr` and
//! `fusion` the phase that trains EMA and the generator, where the time goes (13.5 s per epoch
//! on a Vireo-size cache against a small head on frozen features in phase 2). Its reported val
//! top-1 is the EMA classifier's on `x_v'`, the input that phase 2 builds on; pruning there
//! saves phase 1's remaining epochs, the sampling of `x_CDR` for every row and all of phase 2.
//! Phase 2 epochs are recorded in the curve but are neither rungs nor counted as trial-epochs.
//!
//! With several seeds, the first seed screens: only seed 0's runs report at the rungs, where they
//! are compared with the seed-0 runs of the other trials (same seed, so the same initialisation
//! and shuffling streams). A trial whose seed 0 is pruned trains no other seed; one that passes
//! every rung trains its other seeds to the end without pruning, so every complete trial has all
//! its seeds complete and its mean ± std is over finished runs only. Pruning any seed against
//! every other run instead stops good trials on one unlucky seed and leaves trials with a
//! finished seed beside a pruned one.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context, Result};

use super::engine::{progress_bar, threads_per_trial, EngineOptions, MathThreads, SweepConfig, SweepOutcome};
use super::expand::run_hash;
use super::journal::{Event, Journal, TrialState};
use super::prune::{check, Check};
use super::record::{read_record, record_path, write_record, CurvePoint, PrunedAt, TrialMetrics, TrialRecord};
use super::sampler::{complete_objective, pruned_objective};
use super::search_spec::PruneSpec;
use super::search_spec::{validate_space, with_overrides};
use super::spec::SweepSpec;
use super::study_state::{claim_next, Claim, StudyState};
use super::workers::{caught, on_trial_threads};
use crate::train::hook::{Control, EpochHook, EpochReport, Stopped};

/// The phase whose epochs are rungs and trial-epochs (see the module docs).
pub const RUNG_PHASE: u8 = 1;

/// What one run's hook saw.
#[derive(Debug, Default)]
struct RunLog {
    curve: Vec<CurvePoint>,
    planned: Option<usize>,
    rung: Option<usize>,
    /// A journal error inside the hook (the run is then a failure, not pruned).
    error: Option<String>,
}

/// Everything a worker thread needs to train claimed trials.
struct Study<'a, C, F> {
    spec: &'a SweepSpec,
    base: &'a C,
    mode: &'a str,
    out: &'a Path,
    journal: Journal,
    worker: String,
    trial_fn: &'a F,
}

/// Runs `spec`'s `[search]` study in `out` with `trial_fn(config, seed, hook)`, which must pass
/// the hook to the trainer ([`crate::train::RunOptions::epoch_hook`]) and return its error.
/// Every worker process on the same `out` joins the same study (`opts.worker` only labels the
/// journal lines); see the module docs.
///
/// # Errors
/// No `[search]`, an invalid space, `jobs == 0`, or journal errors. Failed trials are returned
/// in [`SweepOutcome::failures`] and retried by the next invocation.
pub fn run_study<C, F>(
    spec: &SweepSpec,
    base: &C,
    mode: &str,
    out: &Path,
    opts: &EngineOptions,
    trial_fn: F,
) -> Result<SweepOutcome>
where
    C: SweepConfig,
    F: Fn(&C, u64, Option<EpochHook>) -> Result<TrialMetrics> + Sync,
{
    if opts.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let search = spec.search.as_ref().context("the sweep file has no [search]")?;
    validate_space(spec, base)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let journal = Journal::new(out);
    let done_before = StudyState::from_events(&journal.read()?).done.len();
    let worker = format!("{}/{}", opts.worker.index, opts.worker.count);
    let study = Study { spec, base, mode, out, journal, worker, trial_fn: &trial_fn };
    let bar = progress_bar(opts.progress, search.trials.saturating_sub(done_before), "trials")?;
    let jobs = opts.jobs.min(search.trials.saturating_sub(done_before).max(1));
    let inner = threads_per_trial(jobs);
    let _threads = MathThreads::set(inner);
    let skip = Mutex::new(BTreeSet::new());
    let tally = Mutex::new(SweepOutcome { total_runs: search.trials * spec.seeds.max(1), ..Default::default() });
    on_trial_threads(jobs, inner, |pool| loop {
        let skipped = skip.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let claim = match claim_next(&study.journal, search, out, &study.worker, &skipped) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                tally.lock().unwrap_or_else(|p| p.into_inner()).failures.push(format!("{e:#}"));
                break;
            }
        };
        let result = study.run_trial(&claim, pool);
        let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
        match result {
            Ok((ran, recorded)) => {
                t.assigned += ran + recorded;
                t.ran += ran;
                t.already_done += recorded;
            }
            Err(e) => {
                let msg = format!("trial {} ({}): {e:#}", claim.trial, describe_params(&claim));
                bar.println(format!("failed: {msg}"));
                t.failures.push(msg);
                skip.lock().unwrap_or_else(|p| p.into_inner()).insert(claim.trial);
            }
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    Ok(tally.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn describe_params(c: &Claim) -> String {
    c.params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// How one seed of a trial ended.
enum RunEnd {
    Complete(f64),
    Pruned(PrunedAt),
}

impl<C, F> Study<'_, C, F>
where
    C: SweepConfig,
    F: Fn(&C, u64, Option<EpochHook>) -> Result<TrialMetrics> + Sync,
{
    /// Trains (or finds recorded) the seeds of a claimed trial, then appends its `done` event.
    /// Returns `(runs trained, runs found recorded)`.
    fn run_trial(&self, claim: &Claim, pool: &rayon::ThreadPool) -> Result<(usize, usize)> {
        let mut overrides = self.spec.fixed.clone();
        overrides.extend(claim.params.clone());
        let kv: Vec<(String, String)> = overrides.iter().map(|(k, v)| (k.clone(), v.to_string())).collect();
        let cfg = with_overrides(self.base, &kv).with_context(|| format!("trial {}", claim.trial))?;
        let (mut ran, mut recorded, mut vals, mut pruned) = (0, 0, Vec::new(), None);
        for seed in 0..self.spec.seeds.max(1) as u64 {
            let hash = run_hash(&overrides, seed, self.mode);
            let end = match read_record(&record_path(self.out, &hash)) {
                Ok(rec) => {
                    recorded += 1;
                    rec.pruned.map_or(RunEnd::Complete(rec.metrics.val_top1), RunEnd::Pruned)
                }
                Err(_) => {
                    ran += 1;
                    let rec = self.train_run(claim, &cfg, seed, hash, &overrides, pool)?;
                    rec.pruned.map_or(RunEnd::Complete(rec.metrics.val_top1), RunEnd::Pruned)
                }
            };
            match end {
                RunEnd::Complete(v) => vals.push(v),
                RunEnd::Pruned(at) => {
                    pruned = Some(at);
                    break;
                }
            }
        }
        let done = match pruned {
            Some(at) => Event::Done {
                trial: claim.trial,
                state: TrialState::Pruned,
                objective: pruned_objective(at.epoch, at.val_top1),
                epoch: at.epoch,
                val_top1: at.val_top1,
            },
            None => {
                let mean = vals.iter().sum::<f64>() / vals.len().max(1) as f64;
                let (trial, state, objective) = (claim.trial, TrialState::Complete, complete_objective(mean));
                Event::Done { trial, state, objective, epoch: 0, val_top1: mean }
            }
        };
        self.journal.transact(|_| Ok((vec![done], ())))?;
        Ok((ran, recorded))
    }

    /// Trains one seed with the pruning hook and writes its record (complete or pruned).
    fn train_run(
        &self,
        claim: &Claim,
        cfg: &C,
        seed: u64,
        hash: String,
        overrides: &std::collections::BTreeMap<String, super::value::Value>,
        pool: &rayon::ThreadPool,
    ) -> Result<TrialRecord> {
        let log = Arc::new(Mutex::new(RunLog::default()));
        let rule = if seed == SCREENING_SEED { self.spec.prune } else { None };
        let hook = make_hook(self.journal.clone(), rule, claim.trial, seed, log.clone());
        let start = Instant::now();
        let result = caught(pool, || (self.trial_fn)(cfg, seed, Some(hook)));
        let log = std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()));
        if let Some(e) = log.error {
            bail!("seed {seed}: recording a rung value: {e}");
        }
        let stopped = match &result {
            Err(e) => e.chain().find_map(|c| c.downcast_ref::<Stopped>()).copied(),
            Ok(_) => None,
        };
        let (metrics, pruned) = match (result, stopped) {
            (Ok(m), _) => (m, None),
            (Err(_), Some(s)) => (
                TrialMetrics { val_top1: s.at.val_top1, ..TrialMetrics::default() },
                Some(PrunedAt { epoch: s.at.epoch, val_top1: s.at.val_top1 }),
            ),
            (Err(e), None) => return Err(e.context(format!("seed {seed}"))),
        };
        let epochs_used = log.curve.iter().filter(|p| p.phase == RUNG_PHASE).count();
        let rec = TrialRecord {
            hash,
            trial: claim.trial,
            seed,
            mode: self.mode.to_string(),
            overrides: overrides.clone(),
            metrics,
            seconds: start.elapsed().as_secs_f64(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            pruned,
            rung: log.rung,
            epochs_used: Some(epochs_used),
            epochs_planned: log.planned.or(Some(epochs_used)),
            curve: log.curve,
        };
        write_record(self.out, &rec)?;
        Ok(rec)
    }
}

/// The seed whose runs are compared at the rungs (see the module docs).
pub const SCREENING_SEED: u64 = 0;

/// The hook of one run: logs the curve; at each check epoch of the rung phase, records the value
/// in the journal and applies the rule, both in one transaction.
fn make_hook(journal: Journal, rule: Option<PruneSpec>, trial: usize, seed: u64, log: Arc<Mutex<RunLog>>) -> EpochHook {
    EpochHook::new(move |r: &EpochReport| {
        let mut l = log.lock().unwrap_or_else(|p| p.into_inner());
        l.curve.push(CurvePoint { phase: r.phase, epoch: r.epoch, val_top1: r.val_top1 });
        if r.phase != RUNG_PHASE {
            return Control::Continue;
        }
        l.planned = Some(r.planned_epochs);
        let Some(rule) = rule else { return Control::Continue };
        let decided = journal.transact(|events| {
            let others = StudyState::from_events(events).values_at(r.phase, r.epoch, trial, seed);
            let c = check(&rule, r.epoch, r.planned_epochs, r.val_top1, &others);
            let report = Event::Report { trial, seed, phase: r.phase, epoch: r.epoch, val_top1: r.val_top1 };
            Ok((if c == Check::NotARung { Vec::new() } else { vec![report] }, c))
        });
        match decided {
            Ok(Check::NotARung) => Control::Continue,
            Ok(Check::Continue) => {
                l.rung = Some(r.epoch);
                Control::Continue
            }
            Ok(Check::Prune) => {
                l.rung = Some(r.epoch);
                Control::Stop
            }
            Err(e) => {
                l.error = Some(format!("{e:#}"));
                Control::Stop
            }
        }
    })
}
