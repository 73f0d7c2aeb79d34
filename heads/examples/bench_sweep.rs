//! `just bench` (sweep part): trials per minute of a fixed 16-trial fusion sweep on a synthetic
//! cache (20 classes; 2,000 train, 400 val, 600 test rows; x_v 512, x_s 384), run with
//! `--jobs 1` and `--jobs 2`, and the speed-up. Prints a markdown section for docs/benchmarks.md.
//!
//! Each `--jobs` value runs in its own child process, as `marnet-heads sweep` does: candle sizes
//! its elementwise thread pool once per process (see `marnet_heads::sweep::engine`).
//!
//! Run: `cargo run --release -p marnet-heads --example bench_sweep [-- --jobs 1,2,4]`

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use std::time::Instant;

use anyhow::Context;
use candle_core::Device;
use marnet_data::Split;
use marnet_heads::sweep::{parse_sweep, run_sweep, size_elementwise_pool, EngineOptions, TrialMetrics, Worker};
use marnet_heads::train::features::{FeatureParts, Features};
use marnet_heads::{train_mode, HeadsConfig, Mode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const D_V: usize = 512;
const D_S: usize = 384;
const K: usize = 20;

/// The benchmark sweep: 2 x 2 x 2 x 2 = 16 trials, one seed, 3 + 3 epochs each.
const SWEEP: &str = r#"
seeds = 1
[fixed]
epochs = 3
phase2_epochs = 3
hidden = 256
patience = 0
[grid]
d = [64, 128]
fusion = ["concat", "add"]
timesteps = [10, 20]
gamma = [0.5, 1.0]
"#;

/// Gaussian class clusters: x_v = mean_v[c] + noise, x_s = mean_s[c] + noise (no text on test).
fn synthetic(n_train: usize, n_val: usize, n_test: usize) -> anyhow::Result<Features> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut normal = move || {
        let u1: f32 = 1.0 - rng.random::<f32>();
        let u2: f32 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    };
    let means_v: Vec<Vec<f32>> = (0..K).map(|_| (0..D_V).map(|_| normal()).collect()).collect();
    let means_s: Vec<Vec<f32>> = (0..K).map(|_| (0..D_S).map(|_| normal()).collect()).collect();
    let n = n_train + n_val + n_test;
    let splits: Vec<Split> = (0..n)
        .map(|i| {
            if i < n_train {
                Split::Train
            } else if i < n_train + n_val {
                Split::Val
            } else {
                Split::Test
            }
        })
        .collect();
    let labels: Vec<u32> = (0..n).map(|i| (i % K) as u32).collect();
    let mut x_v = Vec::with_capacity(n * D_V);
    let mut x_s = Vec::with_capacity(n * D_S);
    for (i, &l) in labels.iter().enumerate() {
        x_v.extend(means_v[l as usize].iter().map(|m| m + 2.0 * normal()));
        let text = splits[i] != Split::Test;
        x_s.extend(means_s[l as usize].iter().map(|m| if text { m + 2.0 * normal() } else { 0.0 }));
    }
    let parts = FeatureParts {
        ids: (0..n).map(|i| format!("img/{i}.jpg")).collect(),
        has_text: splits.iter().map(|s| *s != Split::Test).collect(),
        splits,
        labels,
        x_v,
        d_v: D_V,
        x_s,
        d_s: D_S,
        class_names: (0..K).map(|c| format!("c{c}")).collect(),
    };
    Features::from_parts(parts, 0.1, 0, &Device::Cpu)
}

/// Runs the benchmark sweep once with `jobs` concurrent trials; returns (trials run, seconds).
fn run_once(jobs: usize) -> anyhow::Result<(usize, f64)> {
    size_elementwise_pool(jobs);
    let features = synthetic(2000, 400, 600)?;
    let spec = parse_sweep(SWEEP, "bench sweep")?;
    let base = HeadsConfig::default();
    let out = tempfile::tempdir()?;
    let opts = EngineOptions { jobs, worker: Worker::default(), progress: false };
    let start = Instant::now();
    let outcome = run_sweep(&spec, &base, "fusion", out.path(), &opts, |cfg, seed| {
        let r = train_mode(&features, cfg, Mode::Fusion, cfg.run.seed + seed)?;
        Ok(TrialMetrics { val_top1: r.val.top1, val_top5: r.val.top5, test_top1: r.test.top1, test_top5: r.test.top5 })
    })?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(outcome.failures.is_empty(), "failed runs: {:?}", outcome.failures);
    Ok((outcome.ran, secs))
}

fn main() -> anyhow::Result<()> {
    marnet_data::alloc::keep_freed_memory();
    marnet_heads::nn::math_pool::quiet_elementwise_workers();
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let jobs: usize = args.get(i + 1).and_then(|s| s.parse().ok()).context("--child JOBS")?;
        let (ran, secs) = run_once(jobs)?;
        println!("{ran} {secs}");
        return Ok(());
    }
    let jobs_list: Vec<usize> = match args.iter().position(|a| a == "--jobs") {
        Some(i) => {
            args.get(i + 1).map(|s| s.split(',').filter_map(|j| j.trim().parse().ok()).collect()).unwrap_or_default()
        }
        None => vec![1, 2],
    };
    let cores = candle_core::utils::get_num_threads();
    let exe = std::env::current_exe()?;
    // (label, jobs, math threads forced to 1?) The extra row is a one-core trial: the reference
    // for how well trials themselves parallelise.
    let mut cases: Vec<(String, usize, bool)> = jobs_list.iter().map(|&j| (j.to_string(), j, false)).collect();
    cases.insert(0, ("1, one math thread".to_string(), 1, true));
    let mut rows = Vec::new();
    for (label, jobs, one_thread) in cases {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["--child", &jobs.to_string()]);
        if one_thread {
            cmd.env("RAYON_NUM_THREADS", "1");
        }
        let child = cmd.output()?;
        anyhow::ensure!(child.status.success(), "--jobs {label}: {}", String::from_utf8_lossy(&child.stderr));
        let line = String::from_utf8_lossy(&child.stdout);
        let mut it = line.split_whitespace();
        let ran: usize = it.next().and_then(|s| s.parse().ok()).context("child output")?;
        let secs: f64 = it.next().and_then(|s| s.parse().ok()).context("child output")?;
        let per_min = ran as f64 / secs * 60.0;
        eprintln!("--jobs {label}: {ran} trials in {secs:.1} s ({per_min:.1} trials/min)");
        rows.push((label, ran, secs, per_min));
    }
    println!("## Sweep throughput (`bench_sweep`)\n");
    println!(
        "Fixed 16-trial fusion sweep (d x fusion x T x gamma, 3 + 3 epochs, hidden 256) on a synthetic \
         cache of 3,000 rows (x_v 512, x_s 384, 20 classes), release build, {cores} cores, each \
         --jobs value in a fresh process.\n"
    );
    println!(
        "| --jobs | trials | seconds | trials/min | speed-up vs one math thread | speed-up vs --jobs {} |",
        jobs_list.first().copied().unwrap_or(1)
    );
    println!("|--|--:|--:|--:|--:|--:|");
    let one_rate = rows.first().map(|r| r.3).unwrap_or(f64::NAN);
    let base_rate = rows.get(1).map(|r| r.3).unwrap_or(f64::NAN);
    for (label, ran, secs, per_min) in rows {
        println!(
            "| {label} | {ran} | {secs:.1} | {per_min:.1} | {:.2}x | {:.2}x |",
            per_min / one_rate,
            per_min / base_rate
        );
    }
    Ok(())
}
