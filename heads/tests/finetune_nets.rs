//! The trainable encoders of `finetune::nets` against `marnet_extract`'s frozen ones (which are
//! checked against transformers by the extract parity tests) on the tiny checkpoints: same
//! features within 1e-5, and gradients reach the first block and the embeddings.

mod finetune_support;

use candle_core::{DType, Device};
use finetune_support::*;
use marnet_heads::finetune::freeze::FreezeSpec;
use marnet_heads::finetune::image_backbone::load_image_backbone;
use marnet_heads::finetune::text_backbone::TextBackbone;
use std::path::PathBuf;

const ALL: FreezeSpec = FreezeSpec { train: true, frozen_blocks: 0 };

fn images() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../extract/tests/fixtures/tiny/images");
    ["photo_96x80.png", "gradient_64x48.png", "wide_448x224.png"].iter().map(|f| dir.join(f)).collect()
}

#[test]
fn image_nets_match_the_extractors_and_pass_gradients() {
    for (model, first_block) in [
        ("vit", "encoder.layer.0.attention.attention.query.weight"),
        ("clip", "vision_model.encoder.layers.0.self_attn.q_proj.weight"),
    ] {
        let spec = tiny_model(model);
        let paths = images();
        let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
        let frozen = marnet_extract::load_image_model(&spec, None, &Device::Cpu, DType::F32).unwrap();
        let want = frozen.embed_paths(&refs).unwrap();
        let bb = load_image_backbone(&spec, None, ALL, &Device::Cpu, DType::F32).unwrap();
        let items: Vec<Vec<f32>> = paths.iter().map(|p| bb.preprocessor.load(p).unwrap()).collect();
        let px = bb.preprocessor.batch(&items, &Device::Cpu).unwrap();
        let got = bb.encoder.embed(&px).unwrap();
        let d = max_abs_diff(&want, &got);
        assert!(d <= 1e-5, "{model}: features differ by {d}");
        assert_eq!(bb.dim(), frozen.info.dim);
        // The fused kernels of evaluation give the same features.
        let fused = marnet_heads::finetune::nets::layers::inference(|| bb.encoder.embed(&px)).unwrap();
        assert!(max_abs_diff(&fused, &got) <= 1e-5, "{model}: inference path differs");
        let grads = got.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let vars: std::collections::HashMap<String, candle_core::Var> = bb.trainable().into_iter().collect();
        for name in [first_block.to_string(), vars.keys().find(|k| k.contains("embeddings.")).unwrap().clone()] {
            let g = grads.get(vars[&name].as_tensor()).unwrap_or_else(|| panic!("{model}: no gradient for {name}"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "{model}: zero gradient for {name}");
        }
    }
}

#[test]
fn text_net_matches_the_extractor_on_a_padded_batch() {
    let spec = tiny_model("bert");
    let reference = marnet_extract::load_text_model(&spec, None, &Device::Cpu, DType::F32).unwrap();
    // Different lengths, so the short texts are padded and the mask matters.
    let texts = ["spicy fried rice with egg and green onion", "hello", "red pepper"];
    let (want, _) = reference.embed(&texts).unwrap();
    let bb = TextBackbone::load(&spec, &reference, ALL, &Device::Cpu, DType::F32).unwrap();
    let got = bb.embed(&texts).unwrap();
    let d = max_abs_diff(&want, &got);
    assert!(d <= 1e-5, "bert features differ by {d}");
    let grads = got.sum_all().unwrap().backward().unwrap();
    let vars: std::collections::HashMap<String, candle_core::Var> = bb.trainable().into_iter().collect();
    let name = vars.keys().find(|k| k.ends_with("word_embeddings.weight")).unwrap();
    assert!(grads.get(vars[name].as_tensor()).is_some(), "no gradient for {name}");
}
