//! `marnet-heads train` end to end on a small cache written with marnet-data's CacheWriter:
//! the run folder holds config.toml, metrics.json, heads.safetensors, predictions.parquet and
//! report.md; a bad `--set` fails naming the key.

mod common;

use common::write_cache;
use std::path::Path;
use std::process::Command;

const SETS: [&str; 10] = [
    "d=16",
    "hidden=32",
    "temb_dim=8",
    "timesteps=10",
    "batch=32",
    "epochs=3",
    "phase2_epochs=2",
    "lr=3e-3",
    "log_every=2",
    "min_steps=0",
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
    for m in ["probe", "baseline", "ema", "mlp", "cdr", "fusion"] {
        assert!(table.contains(m), "table misses {m}: {table}");
    }
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for m in ["probe", "baseline", "ema", "mlp", "cdr", "fusion"] {
        let t1 = metrics[m]["test"]["top1"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&t1), "{m}: {t1}");
        assert!(metrics[m]["val"]["top5"].as_f64().unwrap() >= metrics[m]["val"]["top1"].as_f64().unwrap());
    }
    assert!(metrics["fusion"]["generation"]["val_cosine"].is_number());
    // config.toml holds the overrides.
    let cfg = marnet_heads::HeadsConfig::from_toml_file(&out.join("config.toml")).unwrap();
    assert_eq!((cfg.objective.d, cfg.budget.epochs), (16, 3));
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
    let e = String::from_utf8_lossy(&o.stderr);
    // Every accepted value is listed, `all` included.
    for m in ["bogus", "all", "probe", "baseline", "ema", "mlp", "cdr", "fusion"] {
        assert!(e.contains(m), "{m} missing from: {e}");
    }
}

/// With a learning rate of 1e30 every gradient-trained mode diverges (Adam
/// steps of ~1e30 overflow f32 logits to inf, so the loss is NaN), while the linear probe
/// (L-BFGS, no learning rate) still trains. The run writes the probe's metrics, report and
/// predictions, marks every other mode as failed with its reason, and exits non-zero.
#[test]
fn a_failing_mode_does_not_lose_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("run"));
    write_cache(&cache);
    let o = train(&cache, &out, &["--mode", "all", "--set", "lr=1e30"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a failed mode must make the exit status non-zero");
    assert!(stderr.contains("5 of 6 modes failed"), "{stderr}");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let probe = metrics["probe"]["test"]["top1"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&probe));
    for m in ["baseline", "ema", "mlp", "cdr", "fusion"] {
        let reason = metrics[m]["failed"].as_str().unwrap_or_else(|| panic!("{m} not marked failed: {}", metrics[m]));
        assert!(reason.contains("training loss became") && !reason.contains('\n'), "{m}: {reason}");
    }
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("| fusion | | | **failed**: "), "{report}");
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(table.contains("fusion     failed: "), "{table}");
    let bytes = std::fs::read(out.join("heads.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert!(st.tensor("probe.probe.classifier.weight").is_ok());
    assert!(out.join("predictions.parquet").exists());
}
