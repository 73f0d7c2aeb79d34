//! `just bench` (heads part): seconds per epoch per mode (the second of two, training steps apart
//! from the evaluation after them) on a synthetic cache of Vireo-Food172 size
//! (66,071 train rows, 11,016 val, 33,154 test; x_v 768, x_s 384, 172 classes), CDR sampling time
//! for the 33,154 test rows, peak memory (VmHWM) and the training loop's GFLOP/s against a
//! measured matmul peak. Prints a markdown section for docs/benchmarks.md.
//!
//! Run: `cargo run --release -p marnet-heads --example bench_heads [-- --quick] [--device cuda:N]
//! [--precision f32|bf16]`
//! (`--quick` divides the row counts by 8; `--device` as in `marnet-heads train`, default cpu,
//! cuda needs `--features cuda`; the GPU aim is a fusion epoch <= 1 s, docs/gpu.md).

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use marnet_data::Split;
use marnet_heads::model::denoiser::Denoiser;
use marnet_heads::model::sampler::sample;
use marnet_heads::model::schedule::schedule_host;
use marnet_heads::nn::params::ParamBuilder;
use marnet_heads::nn::precision::Precision;
use marnet_heads::nn::rng::HostRng;
use marnet_heads::train::features::{FeatureParts, Features};
use marnet_heads::{train_mode, HeadsConfig, Mode};
use std::time::Instant;

const D_V: usize = 768;
const D_S: usize = 384;
const K: usize = 172;

fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn synthetic(n_train: usize, n_val: usize, n_test: usize, device: &Device) -> Features {
    let mut rng = HostRng::new(1, 1);
    let n = n_train + n_val + n_test;
    let x_v = rng.normal(n, D_V, &Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut x_s = rng.normal(n, D_S, &Device::Cpu).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    x_s[(n_train + n_val) * D_S..].fill(0.0);
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
    let parts = FeatureParts {
        ids: (0..n).map(|i| format!("img/{i}.jpg")).collect(),
        has_text: splits.iter().map(|s| *s != Split::Test).collect(),
        splits,
        labels: (0..n).map(|i| (i % K) as u32).collect(),
        x_v,
        d_v: D_V,
        x_s,
        d_s: D_S,
        class_names: (0..K).map(|c| format!("c{c}")).collect(),
    };
    Features::from_parts(parts, 0.1, 0, device).unwrap()
}

/// GFLOP/s of a 4096×768·768×768 f32 matmul on `device` (best of 5).
fn matmul_peak(device: &Device) -> f64 {
    let a = HostRng::new(2, 2).normal(4096, 768, device).unwrap();
    let b = HostRng::new(3, 3).normal(768, 768, device).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let c = a.matmul(&b).unwrap();
        let _ = c.sum_all().unwrap().to_vec0::<f32>().unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * 4096.0 * 768.0 * 768.0 / best / 1e9
}

/// Multiply-accumulates per row of one training step (forward); ×6 (fwd + 2 bwd matmuls, ×2 flop
/// per MAC... i.e. 2·3) gives FLOPs. ITA adds the b×b similarity matmul.
fn macs_per_row(mode: Mode, phase: u8, cfg: &HeadsConfig) -> f64 {
    let (d, h, e) = (cfg.objective.d as f64, cfg.denoiser.hidden as f64, cfg.denoiser.temb_dim as f64);
    let (dv, ds, k) = (D_V as f64, D_S as f64, K as f64);
    let ema = dv * d + ds * d + d * k + cfg.budget.batch as f64 * d; // E_v, E_s, classifier, S = x_v' x_s'ᵀ
    let den = (ds + e + dv) * h + 2.0 * h * h + h * ds + 2.0 * e * e + ds * d + d * k;
    let mlp = dv * h + 2.0 * h * h + h * ds + ds * d + d * k;
    let fusion = 2.0 * d * k;
    match (mode, phase) {
        (Mode::Baseline, _) => dv * k,
        (Mode::Ema, _) => ema,
        (Mode::Mlp, 1) => ema + mlp,
        (Mode::Cdr | Mode::Fusion, 1) => ema + den,
        (_, _) => fusion,
    }
}

fn main() {
    marnet_data::alloc::keep_freed_memory();
    marnet_heads::nn::math_pool::quiet_elementwise_workers();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let device_name =
        args.iter().position(|a| a == "--device").and_then(|i| args.get(i + 1)).map_or("cpu", String::as_str);
    let device = marnet_extract::select_device(device_name).unwrap_or_else(|e| {
        eprintln!("bench_heads: {e:#}");
        std::process::exit(2)
    });
    let div = if quick { 8 } else { 1 };
    let (n_train, n_val, n_test) = (66_071 / div, 11_016 / div, 33_154 / div);
    let t = Instant::now();
    let f = synthetic(n_train, n_val, n_test, &device);
    eprintln!("synthetic cache built in {:.1} s", t.elapsed().as_secs_f64());
    let peak = matmul_peak(&device);
    eprintln!("matmul peak {peak:.0} GFLOP/s");
    // Two epochs per phase; the second is reported (the first is the warm-up, as in the PyTorch
    // reference, whose timed epoch follows a short warm-up epoch).
    let mut cfg = HeadsConfig::default();
    (cfg.budget.epochs, cfg.budget.phase2_epochs, cfg.phases.patience) = (2, 2, 10);
    if let Some(p) = args.iter().position(|a| a == "--precision").and_then(|i| args.get(i + 1)) {
        cfg.run.precision = match p.as_str() {
            "f32" => Precision::F32,
            "bf16" => Precision::Bf16,
            other => {
                eprintln!("bench_heads: --precision {other}: expected f32 or bf16");
                std::process::exit(2)
            }
        };
    }
    if let Err(e) = cfg.run.precision.check_supported() {
        eprintln!("bench_heads: {e:#}");
        std::process::exit(2)
    }
    let mut lines = vec![
        format!(
            "### heads (marnet-heads, release, {} threads, device {device_name}, precision {})\n",
            rayon::current_num_threads(),
            cfg.run.precision.name()
        ),
        format!("Synthetic cache: {n_train} train / {n_val} val / {n_test} test rows, x_v {D_V}, x_s {D_S}, {K} classes; defaults of DESIGN §2 (batch 256, d 512, hidden 1024, T 50).\n"),
        format!("Matmul peak (4096×768·768×768 f32): {peak:.0} GFLOP/s\n"),
        "| mode | phase | s / epoch, training steps | + evaluation | GFLOP/s (matmuls, training) | PyTorch eager, same machine (`just bench-pytorch`, training steps) |".into(),
        "|---|---|---|---|---|---|".into(),
    ];
    // `cdr` trains exactly like `fusion` (same phase 1, a smaller phase-2 head): skipped for time.
    for mode in [Mode::Baseline, Mode::Ema, Mode::Mlp, Mode::Fusion] {
        let r = train_mode(&f, &cfg, mode, 0).unwrap();
        for e in r.history.iter().filter(|e| e.epoch == 2) {
            let rows = if e.phase == 1 && mode != Mode::Baseline { f.train_text.len() } else { f.train.len() };
            let train_s = e.seconds - e.eval_seconds;
            let gflops = 6.0 * macs_per_row(mode, e.phase, &cfg) * rows as f64 / train_s / 1e9;
            let target = match (mode, e.phase) {
                (Mode::Baseline, _) => "0.37 s",
                (Mode::Fusion, 1) => "13.1 s",
                _ => "",
            };
            lines.push(format!(
                "| {mode} | {} | {train_s:.2} | {:.2} | {gflops:.0} | {target} |",
                e.phase, e.eval_seconds
            ));
            eprintln!("{}", lines.last().unwrap());
        }
        eprintln!("{mode}: total {:.1} s (includes sampling every row once for cdr/fusion)", r.seconds);
        lines.push(format!("| {mode} | total (2+2 epochs, evaluations, sampling) | {:.1} | | | |", r.seconds));
    }
    // CDR sampling of the test rows with the default sampler (DDPM, T = 50, K = 1).
    let vm = VarMap::new();
    let mut init = HostRng::new(0, 1);
    let den = Denoiser::new(&mut ParamBuilder::new(&vm, &mut init, &device), D_V, D_S, &cfg).unwrap();
    let idx = Tensor::from_slice(&f.test, f.test.len(), &device).unwrap();
    let xv = f.x_v.index_select(&idx, 0).unwrap();
    let sched = schedule_host(&cfg).unwrap();
    let t = Instant::now();
    let out = sample(&den, &sched, &xv, D_S, &cfg, &mut HostRng::new(0, 6)).unwrap();
    let _ = out.sum_all().unwrap().to_vec0::<f32>().unwrap();
    let s = t.elapsed().as_secs_f64();
    let flops = 2.0 * (D_S as f64 * 1024.0 + 2.0 * 1024.0 * 1024.0 + 1024.0 * D_S as f64) * f.test.len() as f64 * 50.0;
    lines.push(String::new());
    lines.push(format!(
        "CDR sampling (DDPM, T = 50, K = 1) of {} test rows: {s:.1} s ({:.0} GFLOP/s; PyTorch eager 58.0 s)\n",
        f.test.len(),
        flops / s / 1e9
    ));
    lines.push(format!("Peak memory (VmHWM): {:.0} MiB\n", vm_hwm_mib()));
    println!("{}", lines.join("\n"));
}
