//! `marnet-heads train` (DESIGN §7): trains the requested modes on a cache and writes the run
//! folder (config.toml, cache_metadata.json, metrics.json, heads.safetensors, predictions.parquet,
//! report.md + plots).

use crate::model::config::HeadsConfig;
use crate::report::report_input;
use crate::report::run_output::{
    ablation_table, write_cache_metadata, write_config, write_heads, write_metrics, write_predictions, ModeFailure,
    ModeRuns,
};
use crate::train::features::Features;
use crate::train::{train_mode_with, Mode, RunOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `marnet-heads train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Feature cache folder written by `marnet-extract run`.
    #[arg(long)]
    pub cache: PathBuf,
    /// Run folder to write (created if missing; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file with config keys (missing keys keep their defaults).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. `--set lr=3e-4 --set fusion=hm` (repeatable; after --config).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Which modes to train: probe, baseline, ema, mlp, cdr, fusion, swd, ssan, cdd, sdm,
    /// distill, a comma-separated list, all (the six modes of paper table 2) or table1 (the
    /// paper's Table 1 rows in its order: baseline, probe, swd, ssan, cdd, sdm, ema, fusion,
    /// distill; TEAM is listed as not runnable on pooled features).
    #[arg(long, default_value = "all")]
    pub mode: String,
    /// Train each mode with this many seeds (seed, seed+1, ...); metrics report mean and std.
    #[arg(long, default_value_t = 1)]
    pub seeds: usize,
    /// Compute device: cpu, cuda or cuda:N (cuda needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print no per-epoch progress.
    #[arg(long)]
    pub quiet: bool,
}

/// Builds the effective config: `--config` file (or defaults), then every `--set`, validated.
pub fn effective_config(config: Option<&Path>, sets: &[String]) -> Result<HeadsConfig> {
    let mut cfg = match config {
        Some(p) => HeadsConfig::from_toml_file(p)?,
        None => HeadsConfig::default(),
    };
    for s in sets {
        let Some((k, v)) = s.split_once('=') else {
            bail!("--set `{s}`: expected KEY=VALUE");
        };
        cfg.apply_override(k, v).with_context(|| format!("--set `{s}`"))?;
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Parses `--mode`: `all` (the six modes of paper table 2 in table order), `table1` (the
/// trainable rows of paper table 1 in its order) or a comma-separated list of modes.
///
/// # Errors
/// An unknown name; the message lists every accepted value, `all` and `table1` included.
pub fn parse_modes(s: &str) -> Result<Vec<Mode>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Mode::ALL.to_vec());
    }
    if crate::report::table1::requested(s) {
        return Ok(Mode::TABLE1.to_vec());
    }
    let accepted = || format!("all, table1, {}", Mode::EVERY.map(|m| m.as_str()).join(", "));
    s.split(',')
        .map(|m| {
            m.parse::<Mode>().map_err(|_| {
                anyhow::anyhow!("--mode `{}`: expected one of {} (or a comma-separated list)", m.trim(), accepted())
            })
        })
        .collect()
}

/// Runs `marnet-heads train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let cfg = effective_config(args.config.as_deref(), &args.set)?;
    let modes = parse_modes(&args.mode)?;
    if args.seeds == 0 {
        bail!("--seeds 0: expected at least 1");
    }
    let device = marnet_extract::select_device(&args.device)?;
    let cache = marnet_data::cache::read_cache(&args.cache)
        .with_context(|| format!("reading feature cache {}", args.cache.display()))?;
    let features = Features::from_cache(&cache, cfg.run.val_fraction, cfg.run.seed, &device)
        .with_context(|| format!("feature cache {}", args.cache.display()))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_config(&args.out, &cfg)?;
    write_cache_metadata(&args.out, &cache.metadata)?;
    let opts = RunOptions { progress: !args.quiet, ..RunOptions::default() };
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for mode in modes {
        match train_seeds(&features, &cfg, mode, args.seeds, args.quiet, &opts) {
            Ok(runs) => results.push(ModeRuns { mode, runs }),
            Err(e) => {
                // One failing mode (e.g. a NaN loss at a high lr) does not lose the others:
                // it is reported and the exit status is non-zero at the end.
                let reason = one_line(&format!("{e:#}"));
                eprintln!("{mode}: failed: {reason}");
                failed.push(ModeFailure { mode, reason });
            }
        }
    }
    let table1 = crate::report::table1::requested(&args.mode);
    if table1 {
        crate::report::table1::write_metrics(&args.out, &results, &failed)?;
    } else {
        write_metrics(&args.out, &results, &failed)?;
    }
    write_heads(&args.out, &results, &features, &cfg)?;
    write_predictions(&args.out, &results, &features)?;
    let mut input = report_input(&cache.metadata.dataset, &results, &failed, &features, &cfg)?;
    if table1 {
        input.sections.push(crate::report::table1::table1_markdown(&results, &failed));
    }
    let rep = crate::report::write_report(&args.out, &input)?;
    for s in &rep.skipped {
        eprintln!("note: {s}");
    }
    if table1 {
        print!("{}", crate::report::table1::table1_text(&results, &failed));
    } else {
        print!("{}", ablation_table(&results, &failed));
    }
    if !failed.is_empty() {
        let names: Vec<&str> = failed.iter().map(|f| f.mode.as_str()).collect();
        bail!(
            "{} of {} modes failed ({}); the results of the others are in {}",
            failed.len(),
            failed.len() + results.len(),
            names.join(", "),
            args.out.display()
        );
    }
    Ok(())
}

/// Trains `mode` with `seeds` seeds (`cfg.run.seed`, `cfg.run.seed + 1`, ...); the first error ends it.
fn train_seeds(
    features: &Features,
    cfg: &HeadsConfig,
    mode: Mode,
    seeds: usize,
    quiet: bool,
    opts: &RunOptions,
) -> Result<Vec<crate::train::ModeResult>> {
    let mut runs = Vec::new();
    for s in 0..seeds as u64 {
        let seed = cfg.run.seed + s;
        if !quiet {
            eprintln!("training {mode} (seed {seed})");
        }
        let mut r = train_mode_with(features, cfg, mode, seed, opts)
            .with_context(|| format!("training mode {mode} (seed {seed})"))?;
        if s > 0 {
            // Only the first seed's embeddings and weights are written; free the rest.
            r.embeddings = None;
            r.weights.clear();
        }
        if !quiet {
            eprintln!("{mode}: val top-1 {:.2} %, test top-1 {:.2} % ({:.1} s)", r.val.top1, r.test.top1, r.seconds);
        }
        runs.push(r);
    }
    Ok(runs)
}

/// `text` on one line: line breaks and runs of spaces become single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
