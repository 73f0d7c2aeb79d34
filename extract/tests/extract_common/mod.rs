//! Shared helpers of the `extract_*` end-to-end tests: the fixture dataset
//! (`fixtures/dataset/`, 13 small images in 3 classes; `with_bad.csv` adds a corrupt JPEG, an
//! empty file, a missing file and a truncated JPEG), the tiny CLIP and BERT checkpoints of `fixtures/tiny/`, and
//! an in-process `marnet-extract run`.
#![allow(dead_code)]

use clap::Parser;
use marnet_data::cache::{read_cache, FeatureCache};
use std::path::{Path, PathBuf};

/// `extract/tests/fixtures/<rel>` as a string.
pub fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel).display().to_string()
}

/// `manifest:<fixtures/dataset/FILE>`.
pub fn dataset(file: &str) -> String {
    format!("manifest:{}", fixture(&format!("dataset/{file}")))
}

/// Runs `marnet-extract run` in-process with the tiny CLIP + BERT models, `--quiet`, the
/// fixture `dataset` spec, `--out out`, then `extra` flags.
pub fn run(dataset: &str, out: &Path, extra: &[&str]) -> anyhow::Result<()> {
    run_with_image_model(&fixture("tiny/clip"), dataset, out, extra)
}

/// [`run`] with another `--image-model` (a folder).
pub fn run_with_image_model(image_model: &str, dataset: &str, out: &Path, extra: &[&str]) -> anyhow::Result<()> {
    let bert = fixture("tiny/bert");
    let out = out.display().to_string();
    let mut argv = vec![
        "marnet-extract",
        "run",
        "--dataset",
        dataset,
        "--image-model",
        image_model,
        "--text-model",
        &bert,
        "--out",
        &out,
        "--quiet",
    ];
    argv.extend_from_slice(extra);
    let cli = marnet_extract::cli::Cli::try_parse_from(argv)?;
    marnet_extract::cli::run(cli)
}

/// Reads a finished cache, panicking with the error.
pub fn read(out: &Path) -> FeatureCache {
    read_cache(out).unwrap_or_else(|e| panic!("reading cache {}: {e:#}", out.display()))
}

/// Parquet part files in `dir`, sorted by name.
pub fn part_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.retain(|n| n.starts_with("part-") && n.ends_with(".parquet"));
    v.sort();
    v
}

/// Asserts two caches hold the same rows in the same order, bit for bit.
pub fn assert_same_rows(a: &FeatureCache, b: &FeatureCache) {
    let (a, b) = (&a.rows, &b.rows);
    assert_eq!(a.ids, b.ids);
    assert_eq!(a.splits, b.splits);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.has_text, b.has_text);
    let bits = |x: &ndarray::Array2<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    assert_eq!(a.x_v.dim(), b.x_v.dim());
    assert_eq!(a.x_s.dim(), b.x_s.dim());
    assert!(bits(&a.x_v) == bits(&b.x_v), "x_v differs");
    assert!(bits(&a.x_s) == bits(&b.x_s), "x_s differs");
}

/// The ids of `fixtures/dataset/manifest.csv`, in file order.
pub const IDS: [&str; 13] = [
    "images/a0.png",
    "images/b0.jpg",
    "images/c0.png",
    "images/a1.jpg",
    "images/b1.png",
    "images/c1.png",
    "images/a2.png",
    "images/b2_grey.png",
    "images/c2_rgba.png",
    "images/a3.png",
    "images/b3_cmyk.jpg",
    "images/c3.jpg",
    "images/c4.png",
];
