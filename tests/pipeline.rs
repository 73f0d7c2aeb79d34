//! End to end across both stages, through the two command lines in-process: inspect the fixture
//! dataset, extract it with the tiny CLIP + BERT checkpoints, train every heads mode on the cache.
//! Expected counts are written by hand from `extract/tests/fixtures/dataset/manifest.csv`:
//! 13 images of 3 classes (apple, bread, curry); train 7, val 3, test 3; one train row (b1) has
//! an empty text, so 12 rows have text but only 9 get `x_s` (test rows never do).

use clap::Parser;
use marnet_data::Split;
use std::path::PathBuf;

fn fixture(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("extract/tests/fixtures").join(rel).display().to_string()
}

#[test]
fn inspect_extract_and_train_all_modes() {
    let dataset = format!("manifest:{}", fixture("dataset/manifest.csv"));
    let report = serde_json::to_value(marnet_data::inspect(&dataset).unwrap()).unwrap();
    assert_eq!(report["classes"], 3);
    assert_eq!(report["class_names"], serde_json::json!(["apple", "bread", "curry"]));
    assert_eq!(report["splits"], serde_json::json!({"train": 7, "val": 3, "test": 3}));
    assert_eq!(report["with_text"], 12);
    assert_eq!(report["missing_files"], 0);

    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache").display().to_string();
    let run = tmp.path().join("run").display().to_string();
    let (clip, bert) = (fixture("tiny/clip"), fixture("tiny/bert"));
    let argv = [
        "marnet-extract",
        "run",
        "--dataset",
        &dataset,
        "--image-model",
        &clip,
        "--text-model",
        &bert,
        "--out",
        &cache,
        "--quiet",
    ];
    marnet_extract::cli::run(marnet_extract::cli::Cli::try_parse_from(argv).unwrap()).unwrap();
    let c = marnet_data::cache::read_cache(std::path::Path::new(&cache)).unwrap();
    assert_eq!(c.rows.ids.len(), 13);
    assert_eq!(c.rows.has_text.iter().filter(|t| **t).count(), 9);
    for (split, has_text) in c.rows.splits.iter().zip(&c.rows.has_text) {
        if *split == Split::Test {
            assert!(!has_text, "test rows carry no text feature");
        }
    }
    assert_eq!(c.metadata.class_names, ["apple", "bread", "curry"]);

    let argv = [
        "marnet-heads",
        "train",
        "--cache",
        &cache,
        "--out",
        &run,
        "--mode",
        "all",
        "--set",
        "epochs=3",
        "--set",
        "min_steps=0",
        "--set",
        "phase2_epochs=3",
        "--quiet",
    ];
    marnet_heads::cli::run(marnet_heads::cli::Cli::try_parse_from(argv).unwrap()).unwrap();
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("run/metrics.json")).unwrap()).unwrap();
    for mode in ["baseline", "ema", "mlp", "cdr", "fusion"] {
        for split in ["val", "test"] {
            let m = &metrics[mode][split];
            let (top1, top5) = (m["top1"].as_f64().unwrap(), m["top5"].as_f64().unwrap());
            // 3 rows per split: accuracies are multiples of 100/3; with 3 classes top-5 holds all.
            assert!((top1 * 3.0 / 100.0 - (top1 * 3.0 / 100.0).round()).abs() < 1e-6, "{mode} {split} {top1}");
            assert_eq!(top5, 100.0, "{mode} {split}");
        }
    }
    for file in ["config.toml", "heads.safetensors", "predictions.parquet", "report.md", "cache_metadata.json"] {
        assert!(tmp.path().join("run").join(file).is_file(), "{file}");
    }
}
