//! CLIP vision parity against transformers' `CLIPVisionModelWithProjection` /
//! `CLIPImageProcessor` (golden outputs written by tools/make_reference.py).

mod parity_support;

use candle_core::{DType, Device, Tensor};
use marnet_extract::encoders::clip::ClipVisionEncoder;
use marnet_extract::model_config::{load_config, ModelConfig};
use marnet_extract::{load_image_model, resolve_model, ImageEncoder, Pooling};
use parity_support::*;

#[test]
fn clip_image_embeds_and_last_hidden_state_match_transformers() {
    let g = golden("clip");
    let pv = &g["batch_pixel_values"];
    let m = load_image_model(fixture("clip").to_str().unwrap(), Some(Pooling::ImageEmbeds), &Device::Cpu, DType::F32)
        .unwrap();
    assert_eq!((m.info.model_type.as_str(), m.info.dim), ("clip_vision_model", 24));
    assert_close("clip last_hidden_state", &m.encoder.last_hidden_state(pv).unwrap(), &g["last_hidden_state"], 1e-4);
    assert_close("clip image_embeds", &m.encoder.embed(pv).unwrap(), &g["image_embeds"], 1e-4);
    let mean =
        load_image_model(fixture("clip").to_str().unwrap(), Some(Pooling::Mean), &Device::Cpu, DType::F32).unwrap();
    assert_close("clip mean embeds", &mean.encoder.embed(pv).unwrap(), &g["mean_embeds"], 1e-4);
}

/// The default `cls` of a CLIP model with `visual_projection` is resolved to `pooler_output`
/// (the better feature on the demo, docs/extraction.md): the hidden-size feature before the
/// projection, recorded as such.
#[test]
fn clip_default_is_pooler_output_before_the_projection() {
    let g = golden("clip");
    for requested in [None, Some(Pooling::Cls), Some(Pooling::PoolerOutput)] {
        let m = load_image_model(fixture("clip").to_str().unwrap(), requested, &Device::Cpu, DType::F32).unwrap();
        assert_eq!((m.info.pooling, m.info.dim), (Pooling::PoolerOutput, 32), "{requested:?}");
        assert_close(
            "clip pooler_output",
            &m.encoder.embed(&g["batch_pixel_values"]).unwrap(),
            &g["pooler_output"],
            1e-4,
        );
    }
    // CLIP-only poolings are refused for a ViT, naming the pooling and what ViT offers.
    let err = load_image_model(fixture("vit").to_str().unwrap(), Some(Pooling::PoolerOutput), &Device::Cpu, DType::F32)
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("pooler_output is not available for vit models (available: cls, mean)"),
        "{err:#}"
    );
}

#[test]
fn clip_pooler_output_without_projection() {
    let g = golden("clip");
    let files = resolve_model(fixture("clip").to_str().unwrap()).unwrap();
    let ModelConfig::ClipVision(cfg) = load_config(&files.config).unwrap() else { panic!("not clip") };
    let vb = files.var_builder(DType::F32, &Device::Cpu).unwrap();
    let enc = ClipVisionEncoder::new(&cfg, Pooling::Cls, vb.pp("vision_model"), None).unwrap();
    assert_eq!(enc.dim(), 32);
    assert_close("clip pooler_output", &enc.embed(&g["batch_pixel_values"]).unwrap(), &g["pooler_output"], 1e-4);
}

#[test]
fn clip_preprocessing_matches_image_processor() {
    let g = golden("clip");
    let m = load_image_model(fixture("clip").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    for name in IMAGES {
        let ours = m.preprocessor.load(&fixture(&format!("images/{name}"))).unwrap();
        let ours = Tensor::from_vec(ours, (3, 32, 32), &Device::Cpu).unwrap();
        let tol = jpeg_tolerance(name);
        assert_close(&format!("clip pixel_values {name}"), &ours, &g[&pv_key(name)], tol);
    }
}
