//! Runs the trials of a sweep in parallel, resumably.
//!
//! 1. Expand the sweep ([`super::expand`]) and build and validate the config of *every* run
//!    first, so an unknown key or a bad value fails before any training starts.
//! 2. Keep this worker's share (`--worker k/n`: run index modulo n) and drop runs whose record
//!    already exists (resume).
//! 3. Run the rest on `jobs` threads. Each thread owns a rayon pool of `cores / jobs` threads
//!    and runs its trial inside it, so candle's gemm (which splits matmuls over the *current*
//!    rayon pool) never uses more than `cores` threads in total. Scheduling whole trials with
//!    rayon itself would let a thread blocked in a gemm join steal a second trial. `cores` is
//!    candle's thread count (`RAYON_NUM_THREADS`, else the physical cores), and while the trials
//!    run `RAYON_NUM_THREADS` is set to `cores / jobs`: candle reads it on every matmul to pick
//!    gemm's split count. Candle also runs large elementwise ops on one process-wide pool sized
//!    once, at its first use, from `CANDLE_NUM_THREADS`; concurrent trials queue on that pool's
//!    lock while its threads spin, so a multi-job sweep must size it to `cores / jobs` before
//!    touching candle ([`size_elementwise_pool`], which `marnet-heads sweep` calls first thing).
//!    Measured: 16 trials at `--jobs 2` took 24-26 s with a 1-thread shared pool and 12 s without.
//! 4. Write each finished run's record atomically; a failed or panicking run is reported and
//!    not recorded, so the next invocation retries it.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::expand::{expand_runs, RunSpec};
use super::record::{is_done, write_record, TrialMetrics, TrialRecord};
use super::spec::SweepSpec;
use super::workers::{caught, on_trial_threads};

/// Math threads for each of `jobs` concurrent trials: candle's thread count
/// (`RAYON_NUM_THREADS`, else the physical cores) divided by `jobs`, at least 1.
pub fn threads_per_trial(jobs: usize) -> usize {
    (candle_core::utils::get_num_threads() / jobs.max(1)).max(1)
}

/// Sizes candle's process-wide elementwise thread pool for `jobs` concurrent trials by setting
/// `CANDLE_NUM_THREADS` to [`threads_per_trial`] (left alone if the user set it).
///
/// Candle builds that pool once, at the first elementwise op on 65,536 or more elements, so
/// call this before loading features or training; later calls have no effect on it. Only
/// call it while no other thread reads the environment (at the start of `main`).
pub fn size_elementwise_pool(jobs: usize) {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", threads_per_trial(jobs).to_string());
    }
}

/// Sets `RAYON_NUM_THREADS` (which candle reads on every matmul) for as long as it lives, and
/// restores the previous value on drop. Set before any trial thread starts.
pub(crate) struct MathThreads {
    previous: Option<std::ffi::OsString>,
}

impl MathThreads {
    const VAR: &'static str = "RAYON_NUM_THREADS";

    pub(crate) fn set(threads: usize) -> Self {
        let previous = std::env::var_os(Self::VAR);
        std::env::set_var(Self::VAR, threads.to_string());
        Self { previous }
    }
}

impl Drop for MathThreads {
    fn drop(&mut self) {
        match &self.previous {
            Some(v) => std::env::set_var(Self::VAR, v),
            None => std::env::remove_var(Self::VAR),
        }
    }
}

/// A config a sweep can vary: `HeadsConfig` in the binary, a stand-in in tests.
pub trait SweepConfig: Clone + Send + Sync {
    /// Sets `key` from its string form (as `--set key=value`).
    ///
    /// # Errors
    /// Unknown key or a value that does not parse.
    fn apply_override(&mut self, key: &str, value: &str) -> Result<()>;
    /// Checks the whole config for consistency.
    ///
    /// # Errors
    /// Any invalid combination of values.
    fn validate(&self) -> Result<()>;
}

impl SweepConfig for crate::HeadsConfig {
    fn apply_override(&mut self, key: &str, value: &str) -> Result<()> {
        crate::HeadsConfig::apply_override(self, key, value)
    }
    fn validate(&self) -> Result<()> {
        crate::HeadsConfig::validate(self)
    }
}

/// `--worker k/n`: this process runs the runs whose index modulo `count` is `index`; the `k/n`
/// share type of `marnet-extract --shard` too, where `auto` is resolved (`marnet_data::scheduler`).
pub use marnet_data::scheduler::Share as Worker;

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Trials run at the same time (≥ 1).
    pub jobs: usize,
    pub worker: Worker,
    /// Draw an indicatif progress bar on stderr.
    pub progress: bool,
}

/// What [`run_sweep`] did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepOutcome {
    /// Runs in the whole sweep (all workers).
    pub total_runs: usize,
    /// Runs assigned to this worker.
    pub assigned: usize,
    /// Of those, runs skipped because their record existed.
    pub already_done: usize,
    /// Runs completed by this call.
    pub ran: usize,
    /// One message per failed run (not recorded; retried next time).
    pub failures: Vec<String>,
}

/// Builds and validates the config of every run: `base` with the run's overrides applied.
///
/// # Errors
/// The first run whose overrides or config are invalid, naming the trial and the key.
pub fn prepare_runs<C: SweepConfig>(spec: &SweepSpec, base: &C, mode: &str) -> Result<Vec<(RunSpec, C)>> {
    let mut out = Vec::new();
    for run in expand_runs(spec, mode) {
        let mut cfg = base.clone();
        for (k, v) in &run.overrides {
            cfg.apply_override(k, &v.to_string())
                .with_context(|| format!("sweep trial {}: key `{k}` = `{v}`", run.trial))?;
        }
        cfg.validate().with_context(|| format!("sweep trial {}: invalid config {}", run.trial, describe(&run)))?;
        out.push((run, cfg));
    }
    Ok(out)
}

/// `key=value, ...` of a run's overrides.
pub fn describe(run: &RunSpec) -> String {
    run.overrides.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

/// Runs this worker's unfinished runs of `spec` with `trial_fn(config, seed)` and records each
/// in `out/trials/`. See the module docs for the order of work.
///
/// # Errors
/// An invalid run config (before anything runs), `jobs == 0`, or a thread pool that cannot be
/// created. Failures of single runs are returned in [`SweepOutcome::failures`].
pub fn run_sweep<C, F>(
    spec: &SweepSpec,
    base: &C,
    mode: &str,
    out: &Path,
    opts: &EngineOptions,
    trial_fn: F,
) -> Result<SweepOutcome>
where
    C: SweepConfig,
    F: Fn(&C, u64) -> Result<TrialMetrics> + Sync,
{
    if opts.jobs == 0 {
        bail!("--jobs must be at least 1");
    }
    let runs = prepare_runs(spec, base, mode)?;
    let total_runs = runs.len();
    let (todo, assigned) = this_workers_todo(runs, opts.worker, out);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let bar = progress_bar(opts.progress, todo.len(), "trials")?;
    let jobs = opts.jobs.min(todo.len().max(1));
    let inner = threads_per_trial(jobs);
    let _threads = MathThreads::set(inner);
    let cursor = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let ran = AtomicUsize::new(0);
    on_trial_threads(jobs, inner, |pool| {
        while let Some((run, cfg)) = todo.get(cursor.fetch_add(1, Ordering::Relaxed)) {
            let start = Instant::now();
            let outcome = caught(pool, || trial_fn(cfg, run.seed))
                .and_then(|m| write_record(out, &record_of(run, mode, m, start.elapsed().as_secs_f64())));
            match outcome {
                Ok(()) => {
                    ran.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    let msg =
                        format!("run {} (trial {}, seed {}; {}): {e:#}", run.index, run.trial, run.seed, describe(run));
                    bar.println(format!("failed: {msg}"));
                    failures.lock().unwrap_or_else(|p| p.into_inner()).push(msg);
                }
            }
            bar.inc(1);
        }
    })?;
    bar.finish_and_clear();
    Ok(SweepOutcome {
        total_runs,
        assigned,
        already_done: assigned - todo.len(),
        ran: ran.into_inner(),
        failures: failures.into_inner().unwrap_or_else(|p| p.into_inner()),
    })
}

/// This worker's share of `runs` without the recorded ones, and the size of the share.
fn this_workers_todo<C>(runs: Vec<(RunSpec, C)>, worker: Worker, out: &Path) -> (Vec<(RunSpec, C)>, usize) {
    let mine: Vec<(RunSpec, C)> = runs.into_iter().filter(|(r, _)| r.index % worker.count == worker.index).collect();
    let assigned = mine.len();
    (mine.into_iter().filter(|(r, _)| !is_done(out, &r.hash)).collect(), assigned)
}

/// An indicatif bar over `len` items on stderr (hidden unless `shown`).
///
/// # Errors
/// Never in practice (a constant template).
pub(crate) fn progress_bar(shown: bool, len: usize, unit: &str) -> Result<ProgressBar> {
    let bar = if shown { ProgressBar::new(len as u64) } else { ProgressBar::hidden() };
    let template =
        format!("{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{eta}} left) {{msg}}");
    bar.set_style(ProgressStyle::with_template(&template).map_err(|e| anyhow!("progress template: {e}"))?);
    Ok(bar)
}

fn record_of(run: &RunSpec, mode: &str, metrics: TrialMetrics, seconds: f64) -> TrialRecord {
    TrialRecord {
        hash: run.hash.clone(),
        trial: run.trial,
        seed: run.seed,
        mode: mode.to_string(),
        overrides: run.overrides.clone(),
        metrics,
        seconds,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        pruned: None,
        rung: None,
        epochs_used: None,
        epochs_planned: None,
        curve: Vec::new(),
    }
}
