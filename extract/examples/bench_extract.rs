//! Extraction speed of the demo encoders on this machine (`just bench-extract`, release build):
//! decode + preprocess images/s, image-encoder images/s and text-encoder texts/s at two batch
//! sizes, the achieved GFLOP/s of the image encoder against a measured candle matmul peak
//! (4096×768 · 768×768 f32), and how far a batched forward's features are from per-image ones.
//! Writes a Markdown table (default `target/bench_extract.md`) and prints it.
//!
//! ViT FLOPs per image (multiply-add = 2 FLOPs), T tokens, D hidden, I intermediate, L layers:
//! `L·(2·T·4·D² + 2·T·2·D·I + 2·2·T²·D) + 2·(T−1)·(3·P²)·D` (Q/K/V/out, MLP, attention scores
//! and values, patch embedding); 35.1 GFLOP for ViT-B/16 at 224².

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use marnet_extract::{load_image_model, load_text_model};
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    image_model: String,
    text_model: String,
    images: PathBuf,
    manifest: PathBuf,
    n_images: usize,
    n_texts: usize,
    batch_sizes: Vec<usize>,
    out: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        image_model: "data/demo/models/clip-vit-b16-vision".into(),
        text_model: "data/demo/models/all-MiniLM-L6-v2".into(),
        images: "data/demo/food/images".into(),
        manifest: "data/demo/food/manifest.csv".into(),
        n_images: 16,
        n_texts: 128,
        batch_sizes: vec![1, 8],
        out: "target/bench_extract.md".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--image-model" => a.image_model = val()?,
            "--text-model" => a.text_model = val()?,
            "--images" => a.images = val()?.into(),
            "--manifest" => a.manifest = val()?.into(),
            "--n-images" => a.n_images = val()?.parse()?,
            "--n-texts" => a.n_texts = val()?.parse()?,
            "--batch-sizes" => a.batch_sizes = val()?.split(',').map(str::parse).collect::<Result<_, _>>()?,
            "--out" => a.out = val()?.into(),
            other => anyhow::bail!("unknown flag {other}; flags: --image-model --text-model --images --manifest --n-images --n-texts --batch-sizes --out"),
        }
    }
    Ok(a)
}

/// Best of `reps` timings of `f`, in seconds (one warm-up call first).
fn best_of(reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn matmul_peak_gflops() -> Result<f64> {
    let a = Tensor::randn(0f32, 1.0, (4096, 768), &Device::Cpu)?;
    let b = Tensor::randn(0f32, 1.0, (768, 768), &Device::Cpu)?;
    let secs = best_of(5, || {
        a.matmul(&b)?;
        Ok(())
    })?;
    Ok(2.0 * 4096.0 * 768.0 * 768.0 / secs / 1e9)
}

fn vit_gflop_per_image(cfg: &serde_json::Value) -> f64 {
    let g = |k: &str, d: f64| cfg.get(k).and_then(serde_json::Value::as_f64).unwrap_or(d);
    let (d, i, l, p, s) = (
        g("hidden_size", 768.0),
        g("intermediate_size", 3072.0),
        g("num_hidden_layers", 12.0),
        g("patch_size", 16.0),
        g("image_size", 224.0),
    );
    let t = (s / p).powi(2) + 1.0;
    (l * (2.0 * t * 4.0 * d * d + 2.0 * t * 2.0 * d * i + 2.0 * 2.0 * t * t * d) + 2.0 * (t - 1.0) * 3.0 * p * p * d)
        / 1e9
}

fn texts_from_manifest(path: &PathBuf, n: usize) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    // Second CSV column; the demo manifest quotes texts containing commas.
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let rest = line.split_once(',').map(|x| x.1).unwrap_or("");
        let t = if let Some(q) = rest.strip_prefix('"') {
            q.split_once('"').map(|x| x.0).unwrap_or(q)
        } else {
            rest.split(',').next().unwrap_or("")
        };
        out.push(t.to_string());
    }
    anyhow::ensure!(!out.is_empty(), "{}: no texts", path.display());
    Ok(out.into_iter().cycle().take(n).collect())
}

fn main() -> Result<()> {
    marnet_data::alloc::keep_freed_memory();
    let a = parse_args()?;
    let dev = Device::Cpu;
    let mut md = String::new();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let threads = rayon::current_num_threads();
    md += &format!(
        "machine: {cpu}, {} logical CPUs, rayon threads {threads}, candle threads {}\n\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        candle_core::utils::get_num_threads()
    );
    let peak = matmul_peak_gflops()?;
    md += &format!("candle matmul 4096x768 @ 768x768 f32: {peak:.0} GFLOP/s\n\n");

    // Images: decode + preprocess (rayon), then the encoder at each batch size.
    let image = load_image_model(&a.image_model, None, &dev, DType::F32)?;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&a.images)
        .with_context(|| format!("listing {}", a.images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    paths.truncate(a.n_images);
    anyhow::ensure!(!paths.is_empty(), "no images in {}", a.images.display());
    let t = Instant::now();
    let items: Vec<Vec<f32>> = paths.par_iter().map(|p| image.preprocessor.load(p)).collect::<Result<_>>()?;
    let prep = t.elapsed().as_secs_f64();
    md +=
        &format!("decode + preprocess ({} photos, rayon): {:.1} images/s\n\n", items.len(), items.len() as f64 / prep);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(PathBuf::from(&a.image_model).join("config.json"))?)?;
    let gflop = vit_gflop_per_image(&cfg);
    md += "| encoder | batch | items/s | ms/item | GFLOP/s | % of matmul peak |\n|---|---:|---:|---:|---:|---:|\n";
    for &b in &a.batch_sizes {
        let secs = best_of(1, || {
            for chunk in items.chunks(b) {
                let px = image.preprocessor.batch(chunk, &dev)?;
                image.encoder.embed(&px)?;
            }
            Ok(())
        })?;
        let ips = items.len() as f64 / secs;
        md += &format!(
            "| image {} ({:.1} GFLOP/img) | {b} | {ips:.2} | {:.0} | {:.0} | {:.0} % |\n",
            image.info.model_type,
            gflop,
            1000.0 / ips,
            ips * gflop,
            100.0 * ips * gflop / peak
        );
    }
    // Features of a batched forward vs one image at a time, and the pipeline's fixed micro-batch:
    // image 0 next to different companions and at a different position.
    if items.len() >= 4 {
        let embed = |order: &[usize]| -> Result<Vec<Vec<f32>>> {
            let chunk: Vec<Vec<f32>> = order.iter().map(|&i| items[i].clone()).collect();
            Ok(image.encoder.embed(&image.preprocessor.batch(&chunk, &dev)?)?.to_vec2::<f32>()?)
        };
        let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        let alone = embed(&[0])?;
        let pair = embed(&[0, 1])?;
        md += &format!(
            "\nmax |x_v(batch of 2)[0] - x_v(alone)| = {:.2e} (batch shapes round differently)\n",
            max_diff(&pair[0], &alone[0])
        );
        let m = marnet_extract::encoders::CPU_MICRO_BATCH;
        if m == 4 {
            let a = embed(&[0, 1, 2, 3])?;
            let b = embed(&[3, 2, 0, 0])?;
            let c = embed(&[1, 0, 0, 0])?;
            md += &format!(
                "micro-batch of {m}: image 0 first among 1,2,3 vs third among 3,2,0 vs second among 1,0,0 (padding): \
                 max diff {:.2e} / {:.2e}\n",
                max_diff(&a[0], &b[2]),
                max_diff(&a[0], &c[1])
            );
        }
    }

    let text = load_text_model(&a.text_model, None, &dev, DType::F32)?;
    let texts = texts_from_manifest(&a.manifest, a.n_texts)?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    md += "\n| encoder | batch | items/s | ms/item |\n|---|---:|---:|---:|\n";
    for b in [1usize, 32] {
        let secs = best_of(1, || {
            for chunk in refs.chunks(b) {
                text.embed(chunk)?;
            }
            Ok(())
        })?;
        let tps = refs.len() as f64 / secs;
        md += &format!("| text {} | {b} | {tps:.1} | {:.2} |\n", text.info.model_type, 1000.0 / tps);
    }
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, &md).with_context(|| format!("writing {}", a.out.display()))?;
    println!("{md}");
    Ok(())
}
