//! Benchmark of `[search]` studies (not a timed test): TPE + ASHA against an unpruned random
//! search of 32 trials over the same space, on a synthetic cache whose x_v and x_s lie around
//! class centres with noise (so that `lr`, `d` and `dropout` matter), for several sweep seeds.
//! Prints, per seed, each study's best val top-1 and trial-epochs, writes the curves of best
//! val top-1 against trial-epochs spent to `OUT/curves.csv` and `OUT/best_val_curves.png`.
//!
//! Also prints both studies' best val top-1 after given amounts of trial-epochs, averaged over
//! the seeds (a table of points of the same curves).
//!
//! Run: `cargo run --release -p marnet-heads --example bench_search -- [--out DIR] [--seeds 3]
//! [--trials 48] [--random-trials 32] [--rows 4000] [--classes 20] [--dv 256] [--ds 128]
//! [--noise 4]` (`--rows`: train rows; val and test get a fifth and a quarter of that).

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::Device;
use marnet_data::Split;
use marnet_heads::sweep::{load_records, parse_sweep, run_study, EngineOptions, TrialMetrics, TrialRecord, Worker};
use marnet_heads::train::features::{FeatureParts, Features};
use marnet_heads::train::hook::EpochHook;
use marnet_heads::{train_mode_with, HeadsConfig, Mode, RunOptions};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};

/// The space both studies search, and the fixed budget (27 epochs: ASHA rungs at 1, 3, 9).
const SPACE: &str = r#"
lr = { min = 1e-5, max = 3e-1, scale = "log" }
d = { choices = [16, 32, 64, 128, 256] }
dropout = { min = 0.0, max = 0.8 }
"#;
const FIXED: &str = "[fixed]\nepochs = 27\nmin_steps = 0\npatience = 0\nhidden = 64\n";

/// `k` class centres (unit normal) in x_v (`d_v`) and x_s (`d_s`) space; each row is its
/// class centre plus normal noise of standard deviation `noise`; a tenth of the train rows lose
/// their text.
fn synthetic(k: usize, n_train: usize, d_v: usize, d_s: usize, noise: f32) -> Result<Features> {
    let mut rng = StdRng::seed_from_u64(11);
    let unit = Normal::new(0.0f32, 1.0)?;
    let centres = |d: usize, rng: &mut StdRng| -> Vec<Vec<f32>> {
        (0..k).map(|_| (0..d).map(|_| unit.sample(rng)).collect()).collect()
    };
    let (cv, cs) = (centres(d_v, &mut rng), centres(d_s, &mut rng));
    let (n_val, n_test) = (n_train / 5, n_train / 4);
    let n = n_train + n_val + n_test;
    let mut p = FeatureParts {
        ids: (0..n).map(|i| format!("img/{i}.jpg")).collect(),
        splits: Vec::with_capacity(n),
        labels: Vec::with_capacity(n),
        x_v: Vec::with_capacity(n * d_v),
        d_v,
        x_s: Vec::with_capacity(n * d_s),
        d_s,
        has_text: Vec::with_capacity(n),
        class_names: (0..k).map(|c| format!("c{c}")).collect(),
    };
    for i in 0..n {
        let split = if i < n_train {
            Split::Train
        } else if i < n_train + n_val {
            Split::Val
        } else {
            Split::Test
        };
        let c = i % k;
        let text = split != Split::Test && i % 10 != 0;
        p.splits.push(split);
        p.labels.push(c as u32);
        p.has_text.push(text);
        p.x_v.extend(cv[c].iter().map(|m| m + noise * unit.sample(&mut rng)));
        p.x_s.extend(cs[c].iter().map(|m| if text { m + noise * unit.sample(&mut rng) } else { 0.0 }));
    }
    Features::from_parts(p, 0.1, 0, &Device::Cpu)
}

/// Runs one study (`sampler`, `trials`, `seed`, optional `[prune]`) in `out`; returns its
/// records in trial order.
fn study(f: &Features, out: &Path, sampler: &str, trials: usize, seed: u64, prune: &str) -> Result<Vec<TrialRecord>> {
    let text = format!(
        "seeds = 1\nmode = \"ema\"\n{FIXED}[search]\nsampler = \"{sampler}\"\ntrials = {trials}\nseed = {seed}\n{SPACE}{prune}"
    );
    let spec = parse_sweep(&text, "bench study")?;
    let opts = EngineOptions { jobs: 1, worker: Worker::default(), progress: false };
    let o = run_study(&spec, &HeadsConfig::default(), "ema", out, &opts, |cfg, s, hook: Option<EpochHook>| {
        let r =
            train_mode_with(f, cfg, Mode::Ema, cfg.run.seed + s, &RunOptions { progress: false, epoch_hook: hook })?;
        Ok(TrialMetrics { val_top1: r.val.top1, val_top5: r.val.top5, test_top1: r.test.top1, test_top5: r.test.top5 })
    })?;
    anyhow::ensure!(o.failures.is_empty(), "failed trials: {:?}", o.failures);
    let mut r = load_records(out)?;
    r.sort_by_key(|r| r.trial);
    Ok(r)
}

/// Best val top-1 of complete trials after each trial, against cumulative trial-epochs.
fn best_curve(records: &[TrialRecord]) -> Vec<(usize, f64)> {
    let (mut spent, mut best) = (0, f64::NAN);
    records
        .iter()
        .map(|r| {
            spent += r.epochs_used.unwrap_or(0);
            if !r.is_pruned() && (best.is_nan() || r.metrics.val_top1 > best) {
                best = r.metrics.val_top1;
            }
            (spent, best)
        })
        .collect()
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// Best val top-1 on `curve` once at most `budget` trial-epochs were spent (NaN: no complete
/// trial yet).
fn best_at(curve: &[(usize, f64)], budget: usize) -> f64 {
    curve.iter().take_while(|(e, _)| *e <= budget).last().map_or(f64::NAN, |p| p.1)
}

/// Best-val curve of one study: `(trial-epochs spent, best val top-1 so far)` points.
type Curve = Vec<(usize, f64)>;

/// Markdown table: mean (over seeds) best val top-1 of each study after fractions of the random
/// study's trial-epochs; `–` where a seed had no complete trial yet.
fn checkpoint_table(curves: &[(Curve, Curve)], full: usize) -> String {
    let mut t = String::from(
        "| trial-epochs | random best val (mean of seeds) | TPE+ASHA best val (mean of seeds) |\n|--:|--:|--:|\n",
    );
    for frac in [1.0 / 16.0, 1.0 / 8.0, 1.0 / 4.0, 1.0 / 3.0, 1.0 / 2.0, 1.0] {
        let budget = (full as f64 * frac).round() as usize;
        let mean = |pick: &dyn Fn(&(Curve, Curve)) -> f64| {
            let v: Vec<f64> = curves.iter().map(pick).collect();
            if v.iter().any(|x| x.is_nan()) {
                "–".to_string()
            } else {
                format!("{:.2}", v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        let (r, t2) = (mean(&|c| best_at(&c.0, budget)), mean(&|c| best_at(&c.1, budget)));
        let _ = writeln!(t, "| {budget} | {r} | {t2} |");
    }
    t
}

fn main() -> Result<()> {
    marnet_data::alloc::keep_freed_memory();
    marnet_heads::nn::math_pool::quiet_elementwise_workers();
    let args: Vec<String> = std::env::args().collect();
    let out: PathBuf = arg(&args, "--out", PathBuf::from("target/bench_search"));
    let (seeds, trials, random_trials): (u64, usize, usize) =
        (arg(&args, "--seeds", 3), arg(&args, "--trials", 48), arg(&args, "--random-trials", 32));
    let (rows, classes, noise): (usize, usize, f32) =
        (arg(&args, "--rows", 4000), arg(&args, "--classes", 20), arg(&args, "--noise", 4.0));
    let (d_v, d_s): (usize, usize) = (arg(&args, "--dv", 256), arg(&args, "--ds", 128));
    let f = synthetic(classes, rows, d_v, d_s, noise)?;
    let asha = "[prune]\nrule = \"asha\"\nmin_epochs = 1\nreduction_factor = 3\n";
    let (mut csv, mut table, mut series, mut curves) =
        (String::from("study,seed,trial,trial_epochs,best_val_top1\n"), String::new(), Vec::new(), Vec::new());
    let mut full = 0;
    for seed in 0..seeds {
        let t0 = std::time::Instant::now();
        let dir = out.join(format!("seed{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
        let random = study(&f, &dir.join("random"), "random", random_trials, seed, "")?;
        let t1 = t0.elapsed().as_secs_f64();
        let tpe = study(&f, &dir.join("tpe-asha"), "tpe", trials, seed, asha)?;
        let t2 = t0.elapsed().as_secs_f64() - t1;
        let (cr, ct) = (best_curve(&random), best_curve(&tpe));
        let (er, br) = *cr.last().context("no random trial")?;
        let (et, bt) = *ct.last().context("no TPE trial")?;
        full = er;
        let pruned = tpe.iter().filter(|r| r.is_pruned()).count();
        let _ = writeln!(
            table,
            "| {seed} | {br:.2} | {er} | {bt:.2} | {et} | {:+.2} | {:.3} | {pruned}/{} | {t1:.0} / {t2:.0} |",
            bt - br,
            et as f64 / er as f64,
            tpe.len()
        );
        for (name, c) in [("random", &cr), ("tpe-asha", &ct)] {
            for (i, (e, b)) in c.iter().enumerate() {
                let _ = writeln!(csv, "{name},{seed},{i},{e},{b}");
            }
            series.push((format!("{name} seed {seed}"), c.clone()));
        }
        curves.push((cr, ct));
        eprintln!(
            "seed {seed}: random {br:.2} in {er} epochs ({t1:.0} s), TPE+ASHA {bt:.2} in {et} epochs ({t2:.0} s)"
        );
    }
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("curves.csv"), csv)?;
    marnet_heads::report::plots::plot_curves(
        &out.join("best_val_curves.png"),
        "best val top-1 against trial-epochs spent",
        &series,
        "best val top-1 (%)",
    )?;
    println!(
        "Synthetic cache: {classes} classes, {rows} train / {} val / {} test rows, x_v {d_v}, x_s {d_s}, \
         noise σ = {noise}; mode ema, 27 epochs, space lr log [1e-5, 0.3], d in {{16..256}}, dropout [0, 0.8]; \
         TPE ({trials} trials, 10 startup) + ASHA (min 1, η 3) vs random search ({random_trials} trials, unpruned); --jobs 1.\n",
        rows / 5,
        rows / 4
    );
    println!("| sweep seed | random best val | random trial-epochs | TPE+ASHA best val | TPE+ASHA trial-epochs | Δ best | epochs ratio | pruned | seconds (random / TPE) |");
    println!("|--|--:|--:|--:|--:|--:|--:|--:|--:|");
    print!("{table}");
    println!("\n{}", checkpoint_table(&curves, full));
    Ok(())
}
