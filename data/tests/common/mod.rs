//! Helpers shared by the marnet-data integration tests: fixture paths, temp trees, a
//! deterministic LCG for feature values, and cache metadata.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use marnet_data::cache::{CacheMetadata, FeatureRows};
use marnet_data::Split;
use ndarray::Array2;

/// `data/tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join(name)
}

/// Writes files (creating folders) under `root`.
pub fn write_tree(root: &Path, files: &[(&str, &[u8])]) {
    for (rel, bytes) in files {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// Copies a fixture tree into a fresh temp dir and returns (guard, copied root).
pub fn copy_fixture(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join(name);
    copy_dir(&fixture(name), &dst);
    (tmp, dst)
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &to);
        } else {
            std::fs::copy(entry.path(), to).unwrap();
        }
    }
}

/// Full error chain as one string (`{:#}`).
pub fn err_text<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.expect_err("expected an error"))
}

/// Knuth's MMIX LCG; `next_f32` maps the top 24 bits to [-1, 1).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// Metadata of a test cache with widths `d_v`, `d_s` and three classes.
pub fn metadata(d_v: usize, d_s: usize) -> CacheMetadata {
    CacheMetadata {
        image_model: "google/vit-base-patch16-224-in21k".into(),
        image_model_sha256: "aa".repeat(32),
        image_model_type: "vit".into(),
        image_pooling: "cls".into(),
        preprocess: serde_json::json!({"size": 224, "resample": "bilinear", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}),
        text_model: "sentence-transformers/all-MiniLM-L6-v2".into(),
        text_model_sha256: "bb".repeat(32),
        text_model_type: "bert".into(),
        text_pooling: "mean".into(),
        max_tokens: 256,
        text_normalize: true,
        dtype: "f32".into(),
        dataset: "vireo172".into(),
        class_names: vec!["soup".into(), "cake".into(), "bread".into()],
        d_v,
        d_s,
        tool_version: "0.1.0".into(),
    }
}

/// `n` rows with ids `img/<first+i>.jpg`, split cycling train/val/test, label `i % 3`,
/// LCG features; rows with `i % 4 == 3` have no text (zero `x_s` row).
pub fn lcg_rows(first: usize, n: usize, d_v: usize, d_s: usize, seed: u64) -> FeatureRows {
    let mut rng = Lcg(seed);
    let x_v = Array2::from_shape_fn((n, d_v), |_| rng.next_f32());
    let has_text: Vec<bool> = (0..n).map(|i| (first + i) % 4 != 3).collect();
    let mut x_s = Array2::from_shape_fn((n, d_s), |_| rng.next_f32());
    for (i, &t) in has_text.iter().enumerate() {
        if !t {
            x_s.row_mut(i).fill(0.0);
        }
    }
    FeatureRows {
        ids: (first..first + n).map(|i| format!("img/{i}.jpg")).collect(),
        splits: (first..first + n).map(|i| Split::ALL[i % 3]).collect(),
        labels: (first..first + n).map(|i| (i % 3) as u32).collect(),
        x_v,
        x_s,
        has_text,
    }
}

/// Asserts two arrays are bit-identical.
pub fn assert_bits_eq(a: &Array2<f32>, b: &Array2<f32>) {
    assert_eq!(a.dim(), b.dim());
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        assert_eq!(x.to_bits(), y.to_bits(), "element {i}: {x} vs {y}");
    }
}
