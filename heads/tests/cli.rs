//! `marnet-heads train` end to end on a small cache written with marnet-data's CacheWriter:
//! the run folder holds config.toml, metrics.json, heads.safetensors, predictions.parquet and
//! report.md; a bad `--set` fails naming the key.

mod common;

use marnet_data::cache::{CacheMetadata, CacheWriter, FeatureRows};
use marnet_data::Split;
use std::path::Path;
use std::process::Command;

fn write_cache(dir: &Path) {
    let f = common::synthetic_features(5, 30, 8, 4);
    let n = f.len();
    let x_v = f.x_v.to_vec2::<f32>().unwrap();
    // Undo nothing: the cache stores raw x_s; standardised values are fine as raw input here.
    let x_s = f.x_s.to_vec2::<f32>().unwrap();
    let rows = FeatureRows {
        ids: f.ids.clone(),
        splits: f.splits.iter().map(|s| if *s == Split::Val { Split::Val } else { *s }).collect(),
        labels: f.labels.clone(),
        x_v: ndarray::Array2::from_shape_vec((n, 8), x_v.concat()).unwrap(),
        x_s: ndarray::Array2::from_shape_vec((n, 4), x_s.concat()).unwrap(),
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

const SETS: [&str; 9] = [
    "d=16", "hidden=32", "temb_dim=8", "timesteps=10", "batch=32", "epochs=3", "phase2_epochs=2", "lr=3e-3",
    "log_every=2",
];

fn train(cache: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marnet-heads"));
    cmd.args(["train", "--quiet", "--cache"]).arg(cache).arg("--out").arg(out);
    for s in SETS {
        cmd.args(["--set", s]);
    }
    cmd.args(extra).output().unwrap()
}

#[test]
fn train_all_writes_the_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("run"));
    write_cache(&cache);
    let o = train(&cache, &out, &["--mode", "all"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stderr: {stderr}");
    let table = String::from_utf8_lossy(&o.stdout);
    for m in ["baseline", "ema", "mlp", "cdr", "fusion"] {
        assert!(table.contains(m), "table misses {m}: {table}");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for m in ["baseline", "ema", "mlp", "cdr", "fusion"] {
        let t1 = metrics[m]["test"]["top1"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&t1), "{m}: {t1}");
        assert!(metrics[m]["val"]["top5"].as_f64().unwrap() >= metrics[m]["val"]["top1"].as_f64().unwrap());
    }
    assert!(metrics["fusion"]["generation"]["val_cosine"].is_number());
    // config.toml holds the overrides.
    let cfg = marnet_heads::HeadsConfig::from_toml_file(&out.join("config.toml")).unwrap();
    assert_eq!((cfg.d, cfg.epochs), (16, 3));
    // heads.safetensors: standardisation tensors and class names in the metadata.
    let bytes = std::fs::read(out.join("heads.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("x_s_mean").unwrap().shape(), &[4]);
    assert!(st.tensor("fusion.ema.e_v.weight").is_ok());
    let names: Vec<String> = serde_json::from_str(&meta.metadata().as_ref().unwrap()["class_names"]).unwrap();
    assert_eq!(names.len(), 5);
    // predictions.parquet: one row per val + test sample (5 classes × (6 val + 15 test)).
    let file = std::fs::File::open(out.join("predictions.parquet")).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(|b| b.unwrap()).collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 5 * (6 + 15));
    assert!(batches[0].schema().field_with_name("fusion_top5_ids").is_ok());
    assert!(out.join("report.md").exists());
}

#[test]
fn bad_set_fails_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let o = train(&tmp.path().join("nocache"), &tmp.path().join("run"), &["--set", "fusionn=hm"]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("fusionn") && e.contains("valid keys"), "{e}");
    let o = train(&tmp.path().join("nocache"), &tmp.path().join("run"), &["--mode", "bogus"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("bogus"));
}
