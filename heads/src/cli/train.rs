//! `marnet-heads train` (DESIGN §7): trains the requested modes on a cache and writes the run
//! folder (config.toml, cache_metadata.json, metrics.json, heads.safetensors, predictions.parquet,
//! report.md + plots).

use crate::config::HeadsConfig;
use crate::features::Features;
use crate::modes::{train_mode_with, Mode, RunOptions};
use crate::report::{CurveSet, FidelityRow, ReportInput, ReportRow, TsneInput};
use crate::run_output::{ablation_table, write_cache_metadata, write_config, write_heads, write_metrics, write_predictions, ModeRuns};
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
    /// Which ablation to train: baseline, ema, mlp, cdr, fusion or all.
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

/// Parses `--mode` (`all` = the five modes in table order).
pub fn parse_modes(s: &str) -> Result<Vec<Mode>> {
    if s.trim().eq_ignore_ascii_case("all") {
        return Ok(Mode::ALL.to_vec());
    }
    s.split(',').map(|m| m.parse::<Mode>().with_context(|| "--mode (or `all`)".to_string())).collect()
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
    let features = Features::from_cache(&cache, cfg.val_fraction, cfg.seed, &device)
        .with_context(|| format!("feature cache {}", args.cache.display()))?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    write_config(&args.out, &cfg)?;
    write_cache_metadata(&args.out, &cache.metadata)?;
    let opts = RunOptions { progress: !args.quiet };
    let mut results = Vec::new();
    for mode in modes {
        let mut runs = Vec::new();
        for s in 0..args.seeds as u64 {
            let seed = cfg.seed + s;
            if !args.quiet {
                eprintln!("training {mode} (seed {seed})");
            }
            let mut r = train_mode_with(&features, &cfg, mode, seed, &opts).with_context(|| format!("training mode {mode}"))?;
            if s > 0 {
                // Only the first seed's embeddings and weights are written; free the rest.
                r.embeddings = None;
                r.weights.clear();
            }
            if !args.quiet {
                eprintln!(
                    "{mode}: val top-1 {:.2} %, test top-1 {:.2} % ({:.1} s)",
                    r.val.top1, r.test.top1, r.seconds
                );
            }
            runs.push(r);
        }
        results.push(ModeRuns { mode, runs });
    }
    write_metrics(&args.out, &results)?;
    write_heads(&args.out, &results, &features, &cfg)?;
    write_predictions(&args.out, &results, &features)?;
    let input = report_input(&cache.metadata.dataset, &results, &features, &cfg)?;
    let rep = crate::report::write_report(&args.out, &input)?;
    for s in &rep.skipped {
        eprintln!("note: {s}");
    }
    print!("{}", ablation_table(&results));
    Ok(())
}

/// Maps the results to the report's plain-data input.
pub fn report_input(title: &str, results: &[ModeRuns], f: &Features, cfg: &HeadsConfig) -> Result<ReportInput> {
    let rows = results
        .iter()
        .map(|mr| {
            let (m, s) = mr.summary();
            ReportRow {
                mode: mr.mode.as_str().to_string(),
                val_top1: m[0],
                val_top5: m[1],
                test_top1: m[2],
                test_top5: m[3],
                std: (mr.runs.len() > 1).then_some(s),
                seeds: mr.runs.len(),
            }
        })
        .collect();
    let sampler = format!("{} {}, T={}, K={}", cfg.sampler, cfg.schedule, cfg.timesteps, cfg.samples);
    let fidelity = results
        .iter()
        .filter_map(|mr| {
            mr.runs[0].generation.as_ref().map(|g| FidelityRow {
                source: if mr.mode == Mode::Mlp { "mlp".into() } else { format!("{} ({sampler})", mr.mode) },
                val_cosine: g.val_cosine,
                val_mse: g.val_mse,
            })
        })
        .collect();
    let curves = results
        .iter()
        .map(|mr| {
            let h = &mr.runs[0].history;
            CurveSet {
                mode: mr.mode.as_str().to_string(),
                train_loss: h.iter().enumerate().map(|(i, e)| (i + 1, e.train_loss)).collect(),
                val_top1: h.iter().enumerate().map(|(i, e)| (i + 1, e.val_top1)).collect(),
            }
        })
        .collect();
    let test_labels = f.labels_of(&f.test);
    let pick = |m: Mode| results.iter().find(|r| r.mode == m).map(|r| &r.runs[0]);
    let tsne = [Mode::Fusion, Mode::Cdr, Mode::Mlp].into_iter().find_map(&pick).and_then(|r| {
        r.embeddings.as_ref().map(|e| TsneInput {
            x_v: e.x_v.clone(),
            d_v: e.d_v,
            x_cdr: e.x_cdr.clone(),
            d_cdr: e.d,
            labels: test_labels.clone(),
        })
    });
    let top_prob = |r: &crate::modes::ModeResult| -> Vec<f32> {
        r.test_scores.chunks(r.num_classes).map(|row| row.iter().copied().fold(f32::MIN, f32::max)).collect()
    };
    let confidence = match (pick(Mode::Baseline), pick(Mode::Cdr).or(pick(Mode::Fusion))) {
        (Some(b), Some(c)) => Some((top_prob(b), top_prob(c))),
        _ => None,
    };
    let mut notes = Vec::new();
    if f.val_carved {
        notes.push(format!("The cache has no val split: {} % of train (stratified) was held out for validation.", cfg.val_fraction * 100.0));
    }
    for mr in results {
        notes.push(format!("{}: {:.1} s training (seed {}).", mr.mode, mr.runs[0].seconds, mr.runs[0].seed));
    }
    Ok(ReportInput {
        title: title.to_string(),
        rows,
        config_toml: cfg.to_toml_string()?,
        fidelity,
        curves,
        tsne,
        class_names: f.class_names.clone(),
        confidence,
        notes,
    })
}
