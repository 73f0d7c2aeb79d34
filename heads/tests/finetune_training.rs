//! Fine-tune mechanics on the tiny ViT/BERT checkpoints and a generated 15-image dataset:
//! the loss falls, backbone tensors change only when their training is on, frozen blocks stay
//! bit-identical, and `--init-heads` copies a run's heads.

mod finetune_support;

use candle_core::{DType, Device, Tensor};
use finetune_support::*;
use marnet_heads::finetune::checkpoint::last_path;
use marnet_heads::finetune::heads_model::FinetuneHeads;
use marnet_heads::finetune::{run_session, Session};
use marnet_heads::nn::rng::HostRng;
use std::path::Path;

/// Loss of all train rows without augmentation, dropout or randomness other than a fixed RNG.
fn fixed_loss(s: &Session) -> f64 {
    let f = &s.rows.features;
    let rows = f.train_text.clone();
    let paths: Vec<_> = rows.iter().map(|&r| &s.rows.paths[r as usize]).collect();
    let px = s.loader.eval_batch(&paths, &Device::Cpu).unwrap();
    let x_v = s.image.encoder.embed(&px).unwrap();
    let idx = Tensor::from_slice(&rows, rows.len(), &Device::Cpu).unwrap();
    let x_s = f.x_s.index_select(&idx, 0).unwrap();
    let labels = f.labels_t.index_select(&idx, 0).unwrap();
    let loss = s.heads.loss(&x_v, Some(&x_s), &labels, &s.opts.cfg, &mut HostRng::new(5, 77)).unwrap();
    loss.to_scalar::<f32>().unwrap() as f64
}

#[test]
fn loss_falls_and_metrics_are_written() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let mut opts = tiny_options(&spec, tmp.path().join("run"));
    opts.epochs = 4; // 3 steps per epoch (9 train rows, batch 3) → 12 steps
    let mut s = Session::build(opts).unwrap();
    let before = fixed_loss(&s);
    let outcome = run_session(&mut s).unwrap();
    assert_eq!((outcome.step, outcome.total_steps, outcome.steps_per_epoch), (12, 12, 3));
    assert_eq!(outcome.history.len(), 4, "one val evaluation per epoch");
    // The run ends holding the best-by-val weights; measure the last ones.
    let last = read_tensors(&last_path(&s.opts.out));
    s.set_weights(&last, "last").unwrap();
    let after = fixed_loss(&s);
    assert!(after < 0.7 * before, "loss {before} -> {after}");
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.opts.out.join("metrics.json")).unwrap()).unwrap();
    for mode in ["ema", "cdr", "fusion"] {
        for split in ["val", "test"] {
            let top1 = metrics[mode][split]["top1"].as_f64().unwrap();
            let top5 = metrics[mode][split]["top5"].as_f64().unwrap();
            // 3 classes: top-5 covers all of them; top-1 is a multiple of 100/3.
            assert_eq!(top5, 100.0, "{mode} {split}");
            assert!((top1 * 3.0 / 100.0 - (top1 * 3.0 / 100.0).round()).abs() < 1e-9, "{mode} {split} {top1}");
        }
    }
    let heads = read_tensors(&s.opts.out.join("heads.safetensors"));
    assert!(heads.contains_key("fusion.ema.e_v.weight") && heads.contains_key("x_s_mean"));
}

#[test]
fn frozen_blocks_stay_bit_identical_and_trained_ones_move() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let mut opts = tiny_options(&spec, tmp.path().join("run"));
    opts.freeze_blocks = 1;
    opts.max_steps = Some(3);
    opts.export_backbone = Some(tmp.path().join("export"));
    let mut s = Session::build(opts).unwrap();
    run_session(&mut s).unwrap();
    let ckpt = read_tensors(&last_path(&s.opts.out));
    let trained: Vec<&String> = ckpt.keys().filter(|k| k.starts_with("backbone.image.")).collect();
    assert!(!trained.is_empty());
    assert!(trained.iter().all(|k| !k.contains("embeddings.") && !k.contains("encoder.layer.0.")), "{trained:?}");
    let source = read_tensors(&std::path::Path::new(&tiny_model("vit")).join("model.safetensors"));
    let exported = read_tensors(&tmp.path().join("export/model.safetensors"));
    assert_eq!(source.len(), exported.len());
    for (name, src) in &source {
        let d = max_abs_diff(src, &exported[name]);
        if name.starts_with("embeddings.") || name.starts_with("encoder.layer.0.") {
            assert_eq!(d, 0.0, "frozen {name} changed by {d}");
        }
    }
    // Every weight matrix of block 1 and the final LayerNorm moved.
    for name in
        ["encoder.layer.1.attention.attention.query.weight", "encoder.layer.1.output.dense.weight", "layernorm.weight"]
    {
        assert!(max_abs_diff(&source[name], &exported[name]) > 1e-6, "{name} did not train");
    }
}

#[test]
fn untrained_backbones_do_not_change_and_text_backbone_trains_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    // Image backbone off: no image variables, features equal the frozen extractor's.
    let mut opts = tiny_options(&spec, tmp.path().join("frozen"));
    opts.train_image_backbone = false;
    opts.max_steps = Some(2);
    let mut s = Session::build(opts).unwrap();
    let val_features = |s: &Session| {
        let pb: Vec<_> = s.rows.features.val.iter().map(|&r| &s.rows.paths[r as usize]).collect();
        s.image.encoder.embed(&s.loader.eval_batch(&pb, &Device::Cpu).unwrap()).unwrap()
    };
    let before = val_features(&s);
    run_session(&mut s).unwrap();
    let ckpt = read_tensors(&last_path(&s.opts.out));
    assert!(!ckpt.keys().any(|k| k.starts_with("backbone.")), "no backbone tensor may be saved");
    assert_eq!(max_abs_diff(&before, &val_features(&s)), 0.0, "frozen backbone changed");
    let f = &s.rows.features;
    let paths: Vec<&std::path::Path> = f.val.iter().map(|&r| s.rows.paths[r as usize].as_path()).collect();
    let reference = marnet_extract::load_image_model(&tiny_model("vit"), None, &Device::Cpu, DType::F32).unwrap();
    assert!(max_abs_diff(&reference.embed_paths(&paths).unwrap(), &before) <= 1e-5);
    // The heads did train: they differ from a fresh init with the same seed.
    let fresh =
        FinetuneHeads::new(s.image.dim(), Some(f.d_s), f.num_classes(), &s.opts.cfg, s.opts.cfg.run.seed, &Device::Cpu)
            .unwrap();
    let fresh_w: std::collections::HashMap<_, _> = fresh.named_vars().into_iter().collect();
    let w = &ckpt["heads.ema.e_v.weight"];
    assert!(max_abs_diff(w, fresh_w["ema.e_v.weight"].as_tensor()) > 1e-4);

    // Text backbone on: its tensors are saved and moved away from the source.
    let mut opts = tiny_options(&spec, tmp.path().join("text"));
    opts.train_text_backbone = true;
    opts.max_steps = Some(1);
    let mut s = Session::build(opts).unwrap();
    run_session(&mut s).unwrap();
    let ckpt = read_tensors(&last_path(&s.opts.out));
    let source = read_tensors(&std::path::Path::new(&tiny_model("bert")).join("model.safetensors"));
    let text_keys: Vec<&String> = ckpt.keys().filter(|k| k.starts_with("backbone.text.")).collect();
    assert!(!text_keys.is_empty());
    let name = "encoder.layer.1.attention.self.query.weight";
    let src_name = if source.contains_key(name) { name.to_string() } else { format!("bert.{name}") };
    let moved = max_abs_diff(&source[&src_name], &ckpt[&format!("backbone.text.{src_name}")]);
    assert!(moved > 1e-6, "text backbone did not train");
}

#[test]
fn init_heads_copies_a_runs_heads() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = write_dataset(&tmp.path().join("data"));
    let opts = tiny_options(&spec, tmp.path().join("probe"));
    let probe = Session::build(opts.clone()).unwrap();
    // A run folder whose fusion heads are all 0.25 (shapes from the probe).
    let run = tmp.path().join("heads-run");
    std::fs::create_dir_all(&run).unwrap();
    let tensors: Vec<(String, Tensor)> = probe
        .heads
        .named_vars()
        .into_iter()
        .map(|(n, v)| (format!("fusion.{n}"), (v.as_tensor().ones_like().unwrap() * 0.25).unwrap()))
        .collect();
    candle_core::safetensors::save(&tensors.iter().cloned().collect(), run.join("heads.safetensors")).unwrap();
    let mut with_init = opts.clone();
    with_init.init_heads = Some(run.clone());
    let s = Session::build(with_init.clone()).unwrap();
    for (n, v) in s.heads.named_vars() {
        let vals = v.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(vals.iter().all(|&x| x == 0.25), "{n} not copied");
    }
    // A width mismatch (another backbone) is an error naming the tensor.
    let bad: std::collections::HashMap<String, Tensor> =
        [("fusion.ema.e_v.weight".to_string(), Tensor::zeros((16, 7), DType::F32, &Device::Cpu).unwrap())]
            .into_iter()
            .collect();
    candle_core::safetensors::save(&bad, run.join("heads.safetensors")).unwrap();
    let err = format!("{:#}", Session::build(with_init).err().unwrap());
    assert!(err.contains("fusion.ema.e_v.weight") && err.contains("shape"), "{err}");
}

/// Images inside Parquet files (a `datasets` dataset written with the Hub's file names, the data
/// crate's fixture) cannot be fine-tuned on yet: the session is refused before any model loads,
/// naming a sample and what to do instead.
#[test]
fn datasets_stored_in_parquet_are_refused_with_the_reason() {
    let hf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/sources/hf");
    let out = tempfile::tempdir().unwrap();
    let opts = tiny_options(&format!("hf:{}", hf.display()), out.path().join("run"));
    let err = format!("{:#}", Session::build(opts).err().expect("an hf: dataset must be refused"));
    assert!(err.contains("fine-tuning reads images from files only"), "{err}");
    assert!(err.contains(".parquet") && err.contains("marnet-extract run"), "{err}");
}
