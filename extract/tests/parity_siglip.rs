//! SigLIP vision parity against transformers' `SiglipVisionModel` / `SiglipModel` /
//! `SiglipImageProcessor` (golden outputs written by tools/make_reference.py, transformers
//! 4.46.3, float32, eager attention), within 1e-4 (as CLIP and ViT).

mod parity_support;

use candle_core::{DType, Device};
use marnet_extract::{load_image_model, Pooling};
use parity_support::*;

fn siglip(name: &str, pooling: Option<Pooling>) -> marnet_extract::ImageModel {
    load_image_model(fixture(name).to_str().unwrap(), pooling, &Device::Cpu, DType::F32).unwrap()
}

#[test]
fn siglip_pooler_output_is_the_default_and_matches_transformers() {
    let g = golden("siglip");
    let pv = image_batch(&g);
    for requested in [None, Some(Pooling::Cls), Some(Pooling::PoolerOutput)] {
        let m = siglip("siglip", requested);
        let info = (m.info.model_type.as_str(), m.info.pooling, m.info.dim);
        assert_eq!(info, ("siglip_vision_model", Pooling::PoolerOutput, 32), "{requested:?}");
        assert_close("siglip pooler_output", &m.encoder.embed(&pv).unwrap(), &g["pooler_output"], 1e-4);
    }
    let m = siglip("siglip", Some(Pooling::Mean));
    // 16 patch tokens (32 / 8 squared), no class token, after post_layernorm.
    assert_close("siglip last_hidden_state", &m.encoder.last_hidden_state(&pv).unwrap(), &g["last_hidden_state"], 1e-4);
    assert_close("siglip mean", &m.encoder.embed(&pv).unwrap(), &g["mean"], 1e-4);
    let err = load_image_model(fixture("siglip").to_str().unwrap(), Some(Pooling::ClsMean), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("cls_mean is not available for siglip"), "{err:#}");
}

/// A full `siglip` checkpoint (text and vision towers): its `vision_model.*` tensors and
/// `vision_config` (which leaves `hidden_act` and `layer_norm_eps` to the defaults) are used.
#[test]
fn full_siglip_checkpoint_runs_its_vision_tower() {
    let g = golden("siglip_full");
    let pv = image_batch(&golden("siglip"));
    let m = siglip("siglip_full", None);
    assert_eq!(
        (m.info.model_type.as_str(), m.info.pooling, m.info.dim),
        ("siglip_vision_model", Pooling::PoolerOutput, 32)
    );
    assert_close(
        "siglip full last_hidden_state",
        &m.encoder.last_hidden_state(&pv).unwrap(),
        &g["last_hidden_state"],
        1e-4,
    );
    // SiglipModel.get_image_features is the vision tower's pooler_output.
    assert_close("siglip full pooler_output", &m.encoder.embed(&pv).unwrap(), &g["image_features"], 1e-4);
}

#[test]
fn siglip_preprocessing_matches_siglip_image_processor() {
    let g = golden("siglip");
    let m = siglip("siglip", None);
    assert_eq!((m.preprocessor.output_size(), m.preprocessor.crop), (Some((32, 32)), None));
    assert_preprocessing("siglip", &m.preprocessor, &g, 32, 0.035);
}

#[test]
fn siglip_half_precision_stays_close() {
    let g = golden("siglip");
    let m = load_image_model(fixture("siglip").to_str().unwrap(), None, &Device::Cpu, DType::F16).unwrap();
    assert_close("siglip f16 pooler_output", &m.encoder.embed(&image_batch(&g)).unwrap(), &g["pooler_output"], 0.03);
}

/// `--dtype bf16` on the CPU (host layers with bf16 products, f32 accumulation): every row of
/// `pooler_output` and of `last_hidden_state` keeps a cosine ≥ 0.999 to transformers' f32.
#[test]
fn siglip_bf16_products_keep_cosine_0999() {
    let g = golden("siglip");
    let Some(m) = load_bf16("siglip", None) else { return };
    let pv = image_batch(&g);
    assert_rows_cosine("siglip bf16 pooler_output", &m.encoder.embed(&pv).unwrap(), &g["pooler_output"], 0.999);
    let h = m.encoder.last_hidden_state(&pv).unwrap();
    assert_rows_cosine("siglip bf16 last_hidden_state", &h, &g["last_hidden_state"], 0.999);
}
