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

/// `--dtype bf16` on the CPU (bf16 weights and product inputs, f32 accumulation, f32
/// LayerNorm/softmax/QuickGELU) against transformers' f32 golden: every row's cosine ≥ 0.999 for
/// `image_embeds` and for each token of `last_hidden_state`, while not equal to the f32 output
/// (the bf16 products did run). CPUs without AVX-512 BF16 get the one-line refusal instead.
#[test]
fn clip_bf16_products_keep_cosine_0999_to_the_f32_golden() {
    let g = golden("clip");
    let pv = &g["batch_pixel_values"];
    let spec = fixture("clip");
    let loaded = load_image_model(spec.to_str().unwrap(), Some(Pooling::ImageEmbeds), &Device::Cpu, DType::BF16);
    if !marnet_extract::kernels::has_avx512_bf16() {
        let err = format!("{:#}", loaded.err().unwrap());
        assert!(err.contains("needs AVX-512 BF16") && !err.contains('\n'), "{err}");
        return;
    }
    let m = loaded.unwrap();
    assert_eq!(m.info.dtype_name(), "bf16");
    let rows = |t: &Tensor| -> Vec<Vec<f32>> {
        let d = *t.dims().last().unwrap();
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().chunks(d).map(<[f32]>::to_vec).collect()
    };
    let cos = |a: &[f32], b: &[f32]| {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        dot / (n(a) * n(b))
    };
    for (name, got) in [
        ("image_embeds", m.encoder.embed(pv).unwrap()),
        ("last_hidden_state", m.encoder.last_hidden_state(pv).unwrap()),
    ] {
        let (got, want) = (rows(&got), rows(&g[name]));
        assert_eq!(got.len(), want.len(), "{name} rows");
        assert!(got != want, "{name}: bf16 gave the f32 values exactly");
        for (i, (a, b)) in got.iter().zip(&want).enumerate() {
            let c = cos(a, b);
            assert!(c >= 0.999, "{name} row {i}: cosine {c}");
        }
    }
}
