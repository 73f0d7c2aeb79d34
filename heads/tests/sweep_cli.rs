//! `marnet-heads sweep` and `sweep-report` end to end on a small cache: real training per trial,
//! resume on a second invocation, the merged report, and a bad key failing before the cache is
//! even read.

mod common;

use std::path::Path;
use std::process::Command;

use marnet_data::cache::{CacheMetadata, CacheWriter, FeatureRows};

/// Writes a 5-class cache (x_v 8-d, x_s 4-d) from the shared synthetic features (same recipe as
/// tests/cli.rs).
fn write_cache(dir: &Path) {
    let f = common::synthetic_features(5, 30, 8, 4);
    let n = f.len();
    let rows = FeatureRows {
        ids: f.ids.clone(),
        splits: f.splits.clone(),
        labels: f.labels.clone(),
        x_v: ndarray::Array2::from_shape_vec((n, 8), f.x_v.to_vec2::<f32>().unwrap().concat()).unwrap(),
        x_s: ndarray::Array2::from_shape_vec((n, 4), f.x_s.to_vec2::<f32>().unwrap().concat()).unwrap(),
        has_text: f.has_text.clone(),
    };
    let meta = CacheMetadata {
        image_model: "synthetic-image".into(),
        image_model_sha256: "0".repeat(64),
        image_model_type: "vit".into(),
        image_pooling: "cls".into(),
        preprocess: serde_json::json!({}),
        text_model: "synthetic-text".into(),
        text_model_sha256: "0".repeat(64),
        text_model_type: "bert".into(),
        text_pooling: "cls".into(),
        max_tokens: 32,
        text_normalize: false,
        dtype: "f32".into(),
        dataset: "synthetic".into(),
        class_names: f.class_names.clone(),
        d_v: 8,
        d_s: 4,
        tool_version: "test".into(),
    };
    let w = CacheWriter::create_or_resume(dir, meta, 1).unwrap();
    w.write_part(0, &rows).unwrap();
    w.finish().unwrap();
}

const SWEEP: &str = r#"
seeds = 2
mode = "ema"
[fixed]
hidden = 32
batch = 32
epochs = 2
log_every = 2
[grid]
d = [8, 16]
"#;

fn heads(args: &[&str], paths: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marnet-heads"));
    cmd.args(args);
    for (flag, p) in paths {
        cmd.arg(flag).arg(p);
    }
    cmd.output().unwrap()
}

#[test]
fn sweep_trains_resumes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out, file) = (tmp.path().join("cache"), tmp.path().join("sweep"), tmp.path().join("s.toml"));
    write_cache(&cache);
    std::fs::write(&file, SWEEP).unwrap();
    let paths = [("--cache", cache.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())];

    let o = heads(&["sweep", "--jobs", "2"], &paths);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("4 runs in all") && err.contains("4 trained, 0 failed"), "{err}");
    let records = marnet_heads::sweep::load_records(&out).unwrap();
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.mode == "ema" && (0.0..=100.0).contains(&r.metrics.val_top1)));
    assert!(records.iter().all(|r| r.metrics.val_top5 >= r.metrics.val_top1));

    // Second invocation: everything is recorded, nothing trains.
    let o = heads(&["sweep", "--jobs", "1"], &paths);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("4 already done, 0 trained"), "{err}");

    let o = heads(&["sweep-report"], &[("--out", out.as_path())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 4 runs:\n{csv}");
    assert!(csv.lines().next().unwrap().starts_with("mode,trial,seed,hash,batch,d,epochs,hidden,log_every,val_top1"));
    let board = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(board.contains("| rank | d | seeds |"), "{board}");
    assert!(out.join("results.parquet").exists() && out.join("val_top1_by_d.png").exists());
    assert_eq!(std::fs::read_to_string(out.join("sweep.toml")).unwrap(), SWEEP);
}

#[test]
fn a_bad_key_fails_before_the_cache_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, "[grid]\nd = [8]\ndd = [1, 2]\n").unwrap();
    let missing = tmp.path().join("no-such-cache");
    let out = tmp.path().join("out");
    let o = heads(&["sweep"], &[("--cache", missing.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml") && err.contains("`dd`"), "{err}");
    assert!(!err.contains("no-such-cache"), "the key must be checked first: {err}");
    assert!(!out.exists());
    // val_fraction cannot be swept (the split is built once).
    std::fs::write(&file, "[grid]\nval_fraction = [0.1, 0.2]\n").unwrap();
    let o = heads(&["sweep"], &[("--cache", missing.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("`val_fraction` cannot be swept"));
}
