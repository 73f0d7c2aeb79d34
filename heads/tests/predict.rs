//! `marnet-heads predict` against training's own evaluation: a cache is extracted from the
//! fixture dataset with the tiny CLIP + BERT checkpoints (`extract/tests/fixtures/`), a run is
//! trained on it (3 + 3 epochs), and predict re-embeds two test images from their files, reloads
//! the heads from `heads.safetensors` and must reproduce the run's `predictions.parquet` rows for
//! those ids (computed in training from the cached `x_v` and the in-memory heads): an independent
//! path through the encoder, the saved weights and the evaluation code.

use arrow_array::{Array, FixedSizeListArray, Float32Array, Int32Array, StringArray};
use candle_core::Device;
use clap::Parser;
use marnet_heads::predict::{predict, ImagePrediction, PredictOptions};
use marnet_heads::Mode;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `extract/tests/fixtures/<rel>`.
fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../extract/tests/fixtures").join(rel)
}

/// The two test-split images of `fixtures/dataset/manifest.csv` used here (ids = paths
/// relative to the dataset folder).
const IDS: [&str; 2] = ["images/a3.png", "images/b3_cmyk.jpg"];

/// Modes trained in the run.
const MODES: &str = "baseline,ema,mlp,fusion,swd,distill";

struct Setup {
    _tmp: tempfile::TempDir,
    cache: PathBuf,
    run: PathBuf,
}

/// Extracts the cache and trains the run once for all tests.
fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("cache");
        let run = tmp.path().join("run");
        let dataset = format!("manifest:{}", fixture("dataset/manifest.csv").display());
        let clip = fixture("tiny/clip").display().to_string();
        let bert = fixture("tiny/bert").display().to_string();
        let opts = marnet_extract::pipeline::ExtractOptions::new(&dataset, &clip, &bert, &cache);
        marnet_extract::pipeline::run_extraction(&opts).unwrap();
        let (c, r) = (cache.display().to_string(), run.display().to_string());
        let argv = [
            "marnet-heads",
            "train",
            "--cache",
            &c,
            "--out",
            &r,
            "--mode",
            MODES,
            "--set",
            "epochs=3",
            "--set",
            "min_steps=0",
            "--set",
            "phase2_epochs=3",
            "--quiet",
        ];
        marnet_heads::cli::run(marnet_heads::cli::Cli::try_parse_from(argv).unwrap()).unwrap();
        Setup { _tmp: tmp, cache, run }
    })
}

fn image(id: &str) -> PathBuf {
    fixture("dataset").join(id)
}

fn opts(run: &Path, mode: Option<Mode>) -> PredictOptions {
    PredictOptions {
        run: run.to_path_buf(),
        images: IDS.iter().map(|id| image(id)).collect(),
        mode,
        top_k: 5,
        image_model: None,
    }
}

/// `id -> (top ids, top probabilities)` of `<mode>_top5_*` in `run/predictions.parquet`.
fn parquet_rows(run: &Path, mode: Mode) -> HashMap<String, (Vec<i32>, Vec<f32>)> {
    let file = std::fs::File::open(run.join("predictions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let mut out = HashMap::new();
    for batch in reader {
        let batch = batch.unwrap();
        let col = |name: &str| batch.column_by_name(name).unwrap_or_else(|| panic!("column {name}")).clone();
        let ids = col("id");
        let ids = ids.as_any().downcast_ref::<StringArray>().unwrap();
        let top = col(&format!("{mode}_top5_ids"));
        let top = top.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        let sc = col(&format!("{mode}_top5_scores"));
        let sc = sc.as_any().downcast_ref::<FixedSizeListArray>().unwrap();
        for i in 0..batch.num_rows() {
            let t = top.value(i);
            let s = sc.value(i);
            out.insert(
                ids.value(i).to_string(),
                (
                    t.as_any().downcast_ref::<Int32Array>().unwrap().values().to_vec(),
                    s.as_any().downcast_ref::<Float32Array>().unwrap().values().to_vec(),
                ),
            );
        }
    }
    out
}

fn assert_matches_training(preds: &[ImagePrediction], run: &Path, mode: Mode) {
    let rows = parquet_rows(run, mode);
    assert_eq!(preds.len(), IDS.len());
    for (p, id) in preds.iter().zip(IDS) {
        assert_eq!(p.mode, mode);
        let (ids, scores) = &rows[id];
        // 3 classes in the fixture: top-5 holds all three.
        assert_eq!(p.top.len(), ids.len(), "{mode} {id}");
        for (c, (&j, &s)) in p.top.iter().zip(ids.iter().zip(scores)) {
            assert_eq!(c.index as i32, j, "{mode} {id}: class order {:?} vs training {ids:?}", p.top);
            assert!(
                (c.probability - s).abs() < 1e-5,
                "{mode} {id}: class {j}: predict {} vs training {s}",
                c.probability
            );
        }
        assert_eq!(p.top[0].class, ["apple", "bread", "curry"][ids[0] as usize]);
    }
}

#[test]
fn deterministic_modes_reproduce_training_predictions() {
    let s = setup();
    // fusion samples x_CDR: the sampler's per-row noise makes it reproducible image by image.
    for mode in MODES.split(',').map(|m| m.parse::<Mode>().unwrap()) {
        let preds = predict(&opts(&s.run, Some(mode)), &Device::Cpu).unwrap();
        assert_matches_training(&preds, &s.run, mode);
    }
}

#[test]
fn embedded_images_equal_the_cached_x_v() {
    let s = setup();
    let meta = marnet_heads::predict::images::read_cache_metadata(&s.run).unwrap();
    let model = marnet_heads::predict::images::load_recorded_model(&meta, None, &Device::Cpu).unwrap();
    let paths: Vec<PathBuf> = IDS.iter().map(|id| image(id)).collect();
    let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    let x_v = marnet_heads::predict::images::embed_images(&model, &refs).unwrap().to_vec2::<f32>().unwrap();
    let cache = marnet_data::cache::read_cache(&s.cache).unwrap();
    for (row, id) in x_v.iter().zip(IDS) {
        let i = cache.rows.ids.iter().position(|c| c == id).unwrap();
        let cached: Vec<f32> = cache.rows.x_v.row(i).to_vec();
        assert_eq!(row, &cached, "{id}: x_v differs from the cache");
    }
}

#[test]
fn default_mode_is_best_val_top1_and_sampling_is_repeatable() {
    let s = setup();
    // Expected mode straight from metrics.json: highest val top1, ties to the earlier table row.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.run.join("metrics.json")).unwrap()).unwrap();
    let mut best: Option<(Mode, f64)> = None;
    for m in MODES.split(',').map(|m| m.parse::<Mode>().unwrap()) {
        let v = metrics[m.as_str()]["val"]["top1"].as_f64().unwrap();
        if best.is_none() || v > best.unwrap().1 {
            best = Some((m, v));
        }
    }
    let preds = predict(&opts(&s.run, None), &Device::Cpu).unwrap();
    assert_eq!(preds[0].mode, best.unwrap().0);

    // fusion samples x_CDR: its noise depends on the batch, so it is compared with itself and
    // checked to be a distribution over the 3 classes.
    let a = predict(&opts(&s.run, Some(Mode::Fusion)), &Device::Cpu).unwrap();
    let b = predict(&opts(&s.run, Some(Mode::Fusion)), &Device::Cpu).unwrap();
    assert_eq!(a, b);
    for p in &a {
        let total: f32 = p.top.iter().map(|c| c.probability).sum();
        assert!((total - 1.0).abs() < 1e-5, "probabilities sum to {total}");
        assert!(p.top.windows(2).all(|w| w[0].probability >= w[1].probability));
    }
}

#[test]
fn cli_json_lines_carry_the_top_classes() {
    let s = setup();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_marnet-heads"))
        .args(["predict", "--run"])
        .arg(&s.run)
        .arg("--image")
        .args(IDS.iter().map(|id| image(id)))
        .args(["--mode", "baseline", "--top-k", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = parquet_rows(&s.run, Mode::Baseline);
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, id) in lines.iter().zip(IDS) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["mode"], "baseline");
        assert!(v["image"].as_str().unwrap().ends_with(id));
        let top = v["top"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        assert_eq!(top[0]["index"].as_i64().unwrap() as i32, rows[id].0[0]);
        assert!((top[0]["probability"].as_f64().unwrap() as f32 - rows[id].1[0]).abs() < 1e-5);
    }
}

#[test]
fn missing_image_is_named() {
    let s = setup();
    let mut o = opts(&s.run, Some(Mode::Baseline));
    o.images.push(PathBuf::from("/nonexistent/dir/lost.jpg"));
    let e = format!("{:#}", predict(&o, &Device::Cpu).unwrap_err());
    assert!(e.contains("/nonexistent/dir/lost.jpg"), "{e}");
}

#[test]
fn undecodable_image_is_named() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("not_an_image.png");
    std::fs::write(&bad, b"this is text, not a PNG").unwrap();
    let mut o = opts(&s.run, Some(Mode::Baseline));
    o.images = vec![bad.clone()];
    let e = format!("{:#}", predict(&o, &Device::Cpu).unwrap_err());
    assert!(e.contains(&bad.display().to_string()), "{e}");
}

#[test]
fn run_without_heads_is_refused_naming_the_file() {
    let s = setup();
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.toml", "metrics.json", "cache_metadata.json", "predictions.parquet"] {
        std::fs::copy(s.run.join(f), tmp.path().join(f)).unwrap();
    }
    let e = format!("{:#}", predict(&opts(tmp.path(), None), &Device::Cpu).unwrap_err());
    assert!(e.contains(&tmp.path().join("heads.safetensors").display().to_string()), "{e}");
}

#[test]
fn other_image_model_weights_are_refused() {
    let s = setup();
    let mut o = opts(&s.run, Some(Mode::Baseline));
    // The tiny ViT is a different checkpoint than the tiny CLIP the cache was made with.
    o.image_model = Some(fixture("tiny/vit").display().to_string());
    let e = format!("{:#}", predict(&o, &Device::Cpu).unwrap_err());
    assert!(e.contains("sha256"), "{e}");
}
