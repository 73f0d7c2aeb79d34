//! `marnet-extract run --image-model DIR` end to end with the tiny DINOv2 and SigLIP
//! checkpoints (folders laid out as the hub's: config.json, model.safetensors,
//! preprocessor_config.json) on the fixture dataset: `x_v` against transformers' features of the
//! same images (tools/make_reference.py), the metadata (model_type, resolved pooling, sha256 from
//! Python's hashlib), and refusal to resume a cache with another backbone or pooling.

mod extract_common;

use extract_common::*;

/// `tiny/golden/sha256.json` entry of `model` (hashlib's sha256 of its model.safetensors).
fn python_sha256(model: &str) -> String {
    let text = std::fs::read_to_string(fixture("tiny/golden/sha256.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v[model].as_str().unwrap().to_string()
}

/// Golden `key` of `tiny/golden/<model>.safetensors` as rows.
fn golden_rows(model: &str, key: &str) -> Vec<Vec<f32>> {
    let path = fixture(&format!("tiny/golden/{model}.safetensors"));
    let g = candle_core::safetensors::load(path, &candle_core::Device::Cpu).unwrap();
    g[key].to_vec2::<f32>().unwrap()
}

/// Every row of `x_v` against transformers' features of the same image: PNGs within 1e-4;
/// JPEGs decode differently (libjpeg-turbo in PIL, zune-jpeg here: up to 2 levels of 255 per
/// pixel, parity_support::jpeg_tolerance), which moves these tiny random models' features by
/// up to `jpeg_tol`.
fn assert_rows_match(cache: &marnet_data::cache::FeatureCache, want: &[Vec<f32>], jpeg_tol: f32) {
    assert_eq!(cache.rows.x_v.nrows(), want.len());
    for (i, (id, w)) in IDS.iter().zip(want).enumerate() {
        let got = cache.rows.x_v.row(i);
        let diff = got.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        let tol = if id.ends_with(".jpg") { jpeg_tol } else { 1e-4 };
        println!("{id}: max abs diff {diff:.3e}");
        assert!(diff <= tol, "{id}: x_v differs from transformers by {diff} > {tol}");
    }
}

#[test]
fn dinov2_folder_extracts_cls_features_and_other_settings_are_refused() {
    let out = tempfile::tempdir().unwrap();
    let dinov2 = fixture("tiny/dinov2");
    run_with_image_model(&dinov2, &dataset("manifest.csv"), out.path(), &["--rows-per-part", "5"]).unwrap();
    let cache = read(out.path());
    let m = &cache.metadata;
    assert_eq!((m.image_model_type.as_str(), m.image_pooling.as_str(), m.d_v), ("dinov2", "cls", 32));
    assert_eq!(m.image_model_sha256, python_sha256("dinov2"));
    // BitImageProcessor of the fixture: shortest edge 36, bicubic, crop 32, ImageNet mean.
    assert_eq!(m.preprocess["resize"]["edge"], 36, "{}", m.preprocess);
    assert_eq!((m.preprocess["resample"].as_str(), m.preprocess["crop"][0].as_u64()), (Some("bicubic"), Some(32)));
    assert!((m.preprocess["mean"][0].as_f64().unwrap() - 0.485).abs() < 1e-6, "{}", m.preprocess);
    assert_rows_match(&cache, &golden_rows("dinov2", "dataset_cls"), 0.05);

    // Resuming with another pooling or another backbone is refused, naming what differs.
    let err = run_with_image_model(
        &dinov2,
        &dataset("manifest.csv"),
        out.path(),
        &["--rows-per-part", "5", "--image-pooling", "cls_mean"],
    )
    .unwrap_err();
    assert!(format!("{err:#}").contains("image_pooling"), "{err:#}");
    let siglip = fixture("tiny/siglip");
    let err =
        run_with_image_model(&siglip, &dataset("manifest.csv"), out.path(), &["--rows-per-part", "5"]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("image_model_sha256") && msg.contains("image_model_type"), "{msg}");
    assert_eq!(read(out.path()).rows.x_v, cache.rows.x_v, "the refused runs changed the cache");
}

#[test]
fn siglip_folder_extracts_pooler_output_features() {
    let out = tempfile::tempdir().unwrap();
    run_with_image_model(&fixture("tiny/siglip"), &dataset("manifest.csv"), out.path(), &[]).unwrap();
    let cache = read(out.path());
    let m = &cache.metadata;
    let got = (m.image_model_type.as_str(), m.image_pooling.as_str(), m.d_v);
    assert_eq!(got, ("siglip_vision_model", "pooler_output", 32));
    assert_eq!(m.image_model_sha256, python_sha256("siglip"));
    assert_eq!(m.preprocess["resize"]["mode"], "exact", "{}", m.preprocess);
    assert!(m.preprocess["crop"].is_null(), "{}", m.preprocess);
    // JPEG rows measured 0.060 from transformers on 2026-12-07 (the head attends over all tokens).
    assert_rows_match(&cache, &golden_rows("siglip", "dataset_pooler_output"), 0.1);
}
