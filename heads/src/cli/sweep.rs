//! `marnet-heads sweep` and `marnet-heads sweep-report` (DESIGN §7): run a sweep file's trials on
//! one feature cache, resumably and optionally split over machines, then merge the records.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use marnet_data::scheduler::ShareSpec;

use super::train::effective_config;
use crate::model::config::HeadsConfig;
use crate::sweep::{
    load_sweep, prepare_runs, run_study, run_sweep, size_elementwise_pool, validate_space, write_sweep_report,
    EngineOptions, RunSpec, SweepOutcome, SweepSpec, TrialMetrics,
};
use crate::train::features::Features;
use crate::train::hook::EpochHook;
use crate::train::{train_mode_with, Mode, RunOptions};

/// Arguments of `marnet-heads sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Feature cache folder written by `marnet-extract run`; read once, shared by all trials.
    #[arg(long)]
    pub cache: PathBuf,
    /// Sweep file (TOML with [fixed], [grid], [random] and `seeds`, or [search] with [prune];
    /// see docs/sweeps-search-prune.md).
    #[arg(long)]
    pub sweep: PathBuf,
    /// Output folder: one record per finished run in OUT/trials/ (and a [search] study's
    /// journal.jsonl), the merged report next to it.
    /// Re-running the same command skips finished runs.
    #[arg(long)]
    pub out: PathBuf,
    /// Trials trained at the same time (default: the physical CPU cores, or `RAYON_NUM_THREADS`
    /// when set). The maths of each trial gets cores / jobs threads.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Run only share k of n (runs whose index modulo n is k), e.g. `--worker 0/2` on one
    /// machine and `--worker 1/2` on another, both writing to one shared --out. A [search]
    /// study has no fixed shares: every worker on the folder claims the next trial. `auto`: k/n of
    /// this task of a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or a
    /// Kubernetes Indexed Job (JOB_COMPLETION_INDEX, MARNET_TASK_COUNT).
    #[arg(long, default_value = "0/1")]
    pub worker: ShareSpec,
    /// Mode every trial trains (baseline, ema, mlp, cdr, fusion); default: the sweep file's
    /// `mode`, else fusion.
    #[arg(long)]
    pub mode: Option<String>,
    /// Base config TOML that the sweep's overrides apply to (default: built-in defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a base config key before the sweep's own (repeatable), e.g. `--set epochs=5`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Compute device: cpu, cuda or cuda:N (cuda needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `marnet-heads sweep-report`.
#[derive(Debug, Args)]
pub struct SweepReportArgs {
    /// Sweep output folder (the --out of `marnet-heads sweep`); merges every record found.
    #[arg(long)]
    pub out: PathBuf,
}

/// A sweep file with its runs validated: the mode, the base config, the prepared runs of a
/// `[grid]`/`[random]` sweep (empty for a `[search]` study) and the reference modes.
struct Plan {
    spec: SweepSpec,
    mode: Mode,
    base: HeadsConfig,
    runs: Vec<(RunSpec, HeadsConfig)>,
    references: Vec<(Mode, SweepSpec)>,
}

/// Parses the sweep file and checks every run's config (or the whole `[search]` space) before
/// the slow cache load.
fn plan(args: &SweepArgs) -> Result<Plan> {
    let spec = load_sweep(&args.sweep)?;
    let mode_name = args.mode.clone().or_else(|| spec.mode.clone()).unwrap_or_else(|| "fusion".into());
    let mode: Mode = mode_name.parse().with_context(|| format!("--mode / sweep file mode `{mode_name}`"))?;
    let base = effective_config(args.config.as_deref(), &args.set)?;
    let file = || format!("sweep file {}", args.sweep.display());
    let mut runs = if spec.search.is_some() {
        validate_space(&spec, &base).with_context(file)?;
        Vec::new()
    } else {
        prepare_runs(&spec, &base, mode.as_str()).with_context(file)?
    };
    let mut references = Vec::new();
    for name in &spec.reference {
        let r: Mode = name.parse().with_context(|| format!("{}: `reference`", file()))?;
        let r_spec = spec.reference_spec(r.as_str());
        runs.extend(prepare_runs(&r_spec, &base, r.as_str())?);
        references.push((r, r_spec));
    }
    let searched = spec.search.iter().flat_map(|s| s.params.keys());
    if runs.iter().any(|(_, c)| c.run.val_fraction != base.run.val_fraction)
        || searched.into_iter().any(|k| k == "val_fraction")
    {
        bail!(
            "{}: `val_fraction` cannot be swept: the val split is built once from the cache and \
             shared by every trial (set it with --set or --config instead)",
            file()
        );
    }
    Ok(Plan { spec, mode, base, runs, references })
}

/// Runs `marnet-heads sweep`: validates every trial, loads the cache, trains this worker's
/// unfinished runs (or joins the `[search]` study), then writes the merged report of whatever is
/// recorded so far.
pub fn run(args: SweepArgs) -> Result<()> {
    let share = args.worker.resolve_from_process_env().context("--worker auto")?;
    if let Some(source) = &share.source {
        eprintln!("--worker auto: worker {} ({source})", share.share);
    }
    let worker = share.share;
    let plan = plan(&args)?;
    let jobs = match args.jobs {
        Some(0) => bail!("--jobs 0: expected at least 1"),
        Some(j) => j,
        None => candle_core::utils::get_num_threads(),
    };
    // Before the first candle op: candle sizes its elementwise pool once per process.
    size_elementwise_pool(jobs);
    let features = load_features(&args, &plan.base)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let text = std::fs::read(&args.sweep).with_context(|| format!("reading {}", args.sweep.display()))?;
    crate::report::write_atomic(&args.out.join("sweep.toml"), &text)?;
    if !args.quiet {
        let what = match &plan.spec.search {
            Some(s) => format!("a study of {} trials × {} seeds", s.trials, plan.spec.seeds),
            None => format!("{} runs in all", plan.runs.len()),
        };
        let (w, mode) = (worker, plan.mode);
        eprintln!("sweep {}: {what}, worker {}/{} ({jobs} jobs, mode {mode})", args.sweep.display(), w.index, w.count);
    }
    let opts = EngineOptions { jobs, worker, progress: !args.quiet };
    let outcome = run_all(&plan, &features, &args, &opts)?;
    if !args.quiet {
        eprintln!(
            "this worker: {} runs assigned, {} already done, {} trained, {} failed",
            outcome.assigned,
            outcome.already_done,
            outcome.ran,
            outcome.failures.len()
        );
    }
    finish_report(&args, &outcome)
}

/// Reads the cache once into device tensors shared by every trial.
fn load_features(args: &SweepArgs, base: &HeadsConfig) -> Result<Features> {
    let device = marnet_extract::select_device(&args.device)?;
    let cache = marnet_data::cache::read_cache(&args.cache)
        .with_context(|| format!("reading feature cache {}", args.cache.display()))?;
    Features::from_cache(&cache, base.run.val_fraction, base.run.seed, &device)
        .with_context(|| format!("feature cache {}", args.cache.display()))
}

/// The study or the sweep's runs, then the reference modes (every seed with only the `[fixed]`
/// overrides, for the paired comparison).
fn run_all(plan: &Plan, features: &Features, args: &SweepArgs, opts: &EngineOptions) -> Result<SweepOutcome> {
    let train = |mode: Mode| {
        move |cfg: &HeadsConfig, seed: u64, hook: Option<EpochHook>| -> Result<TrialMetrics> {
            let run_opts = RunOptions { progress: false, epoch_hook: hook };
            let r = train_mode_with(features, cfg, mode, cfg.run.seed + seed, &run_opts)?;
            Ok(TrialMetrics {
                val_top1: r.val.top1,
                val_top5: r.val.top5,
                test_top1: r.test.top1,
                test_top5: r.test.top5,
            })
        }
    };
    let (spec, base, mode) = (&plan.spec, &plan.base, plan.mode);
    let mut outcome = if spec.search.is_some() {
        run_study(spec, base, mode.as_str(), &args.out, opts, train(mode))?
    } else {
        let t = train(mode);
        run_sweep(spec, base, mode.as_str(), &args.out, opts, |c, s| t(c, s, None))?
    };
    for (r, r_spec) in &plan.references {
        let t = train(*r);
        let o = run_sweep(r_spec, base, r.as_str(), &args.out, opts, |c, s| t(c, s, None))?;
        outcome.assigned += o.assigned;
        outcome.already_done += o.already_done;
        outcome.ran += o.ran;
        outcome.failures.extend(o.failures);
    }
    Ok(outcome)
}

/// Writes the merged report; with failed runs, says so rather than "no finished trial".
fn finish_report(args: &SweepArgs, outcome: &SweepOutcome) -> Result<()> {
    match write_sweep_report(&args.out) {
        Ok(report) if !args.quiet => {
            eprintln!("{} runs recorded; leaderboard: {}", report.runs, args.out.join("leaderboard.md").display())
        }
        Ok(_) => {}
        Err(e) if outcome.failures.is_empty() => return Err(e),
        Err(e) => eprintln!("note: no report yet: {e:#}"),
    }
    if !outcome.failures.is_empty() {
        bail!("{} runs failed (listed above); run the same command again to retry them", outcome.failures.len());
    }
    Ok(())
}

/// Runs `marnet-heads sweep-report`: merges the records of every worker into results.parquet,
/// results.csv, leaderboard.md and the plot.
pub fn run_report(args: SweepReportArgs) -> Result<()> {
    let report = write_sweep_report(&args.out)?;
    eprintln!("{} runs of {} trials merged into {}", report.runs, report.trials, args.out.display());
    if let Some(best) = &report.best {
        let keys: Vec<String> = best.overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("best by mean val top-1: {:.2} % ({})", best.val_top1.mean, keys.join(", "));
    }
    Ok(())
}
