//! Fine-tune resume (stop at step 2, rerun to step 4 = an uninterrupted 4-step run, weights and
//! AdamW moments included), the HF export of the backbone (loads through
//! `marnet_extract::load_image_model` and gives the in-memory features), and the CLI.

mod finetune_support;

use candle_core::{DType, Device};
use finetune_support::*;
use marnet_heads::finetune::checkpoint::{self, last_path};
use marnet_heads::finetune::{run_finetune, run_session, Session};

#[test]
fn resumed_run_equals_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let with = |out: &str, max: u64| {
        let mut o = tiny_options(&spec, tmp.path().join(out));
        // Micro-batches of 2, 2 per step: steps of 4, 4, 1 rows per epoch; epoch 2 starts at step 3.
        o.batch_size = 2;
        o.accum_steps = 2;
        o.epochs = 2;
        o.max_steps = Some(max);
        o
    };
    let first = run_finetune(with("a", 2)).unwrap();
    assert_eq!((first.step, first.resumed_from, first.steps_per_epoch), (2, None, 3));
    let second = run_finetune(with("a", 4)).unwrap();
    assert_eq!((second.step, second.resumed_from), (4, Some(2)));
    let straight = run_finetune(with("b", 4)).unwrap();
    assert_eq!(straight.step, 4);
    let (a, meta_a) = checkpoint::load(&last_path(&tmp.path().join("a")), &Device::Cpu).unwrap();
    let (b, meta_b) = checkpoint::load(&last_path(&tmp.path().join("b")), &Device::Cpu).unwrap();
    assert_eq!((meta_a.step, meta_b.step), (4, 4));
    assert_eq!(a.len(), b.len());
    assert!(a.keys().any(|k| k.starts_with("optim.m.backbone.image.")));
    assert!(a.keys().any(|k| k.starts_with("optim.v.heads.")));
    for (name, ta) in &a {
        let d = max_abs_diff(ta, &b[name]);
        assert!(d <= 1e-6, "{name} differs by {d} between resumed and uninterrupted runs");
    }
    // The step-3 evaluation (end of epoch 1) is in both histories.
    let steps = |h: &[checkpoint::EvalRecord]| h.iter().map(|r| r.step).collect::<Vec<_>>();
    assert_eq!(steps(&meta_a.history), vec![2, 3, 4]);
    assert_eq!(steps(&meta_b.history), vec![3, 4]);
    // A different setting refuses to resume.
    let mut other = with("a", 5);
    other.backbone_lr = 5e-4;
    let err = format!("{:#}", run_finetune(other).unwrap_err());
    assert!(err.contains("backbone_lr"), "{err}");
}

#[test]
fn exported_backbone_gives_the_in_memory_features() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let export = tmp.path().join("export");
    let mut opts = tiny_options(&spec, tmp.path().join("run"));
    opts.max_steps = Some(3); // one epoch: the only evaluation, so best = these weights
    opts.export_backbone = Some(export.clone());
    let mut s = Session::build(opts).unwrap();
    run_session(&mut s).unwrap();
    assert!(export.join("config.json").is_file() && export.join("preprocessor_config.json").is_file());
    let f = &s.rows.features;
    let rows: Vec<u32> = f.val.iter().chain(f.test.iter()).copied().collect();
    let pb: Vec<_> = rows.iter().map(|&r| &s.rows.paths[r as usize]).collect();
    let in_memory = s.image.encoder.embed(&s.loader.eval_batch(&pb, &Device::Cpu).unwrap()).unwrap();
    let paths: Vec<&std::path::Path> = pb.iter().map(|p| p.as_path()).collect();
    let spec_out = export.display().to_string();
    let loaded = marnet_extract::load_image_model(&spec_out, None, &Device::Cpu, DType::F32).unwrap();
    let from_export = loaded.embed_paths(&paths).unwrap();
    let d = max_abs_diff(&in_memory, &from_export);
    assert!(d <= 1e-5, "exported features differ by {d}");
    // ... and fine-tuning did change the features.
    let source = marnet_extract::load_image_model(&tiny_model("vit"), None, &Device::Cpu, DType::F32).unwrap();
    assert!(max_abs_diff(&source.embed_paths(&paths).unwrap(), &from_export) > 1e-4);
}

#[test]
fn cli_runs_a_step_without_text_model() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let out = tmp.path().join("run");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_marnet-heads"))
        .args(["finetune", "--dataset", &spec, "--image-model", &tiny_model("vit"), "--out"])
        .arg(&out)
        .args(["--max-steps", "1", "--batch-size", "4", "--epochs", "1", "--freeze-blocks", "1", "--quiet"])
        .status()
        .unwrap();
    assert!(status.success());
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("metrics.json")).unwrap()).unwrap();
    // 3 classes → top-5 is 100 % on each split.
    assert_eq!(metrics["baseline"]["test"]["top5"].as_f64(), Some(100.0));
    assert_eq!(metrics["baseline"]["val"]["n"].as_u64(), Some(3));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("finetune.json")).unwrap()).unwrap();
    assert_eq!(summary["steps_done"].as_u64(), Some(1));
    assert_eq!(summary["total_steps"].as_u64(), Some(3), "9 train rows / batch 4 = 3 steps");
    assert!(last_path(&out).is_file() && checkpoint::best_path(&out).is_file());
    // Bad flag values are errors, not panics.
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_marnet-heads"))
        .args(["finetune", "--dataset", &spec, "--image-model", &tiny_model("vit"), "--out"])
        .arg(tmp.path().join("bad"))
        .args(["--freeze-blocks", "9", "--quiet"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("only 2 blocks"), "{}", String::from_utf8_lossy(&bad.stderr));
}
