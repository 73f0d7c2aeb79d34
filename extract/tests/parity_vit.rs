//! ViT parity against transformers' `ViTModel` / `ViTImageProcessor` (golden outputs written by
//! tools/make_reference.py): model outputs to 1e-4, preprocessing bit-exact for PNGs.

mod parity_support;

use candle_core::{DType, Device, Tensor};
use marnet_extract::{load_image_model, Pooling};
use parity_support::*;

#[test]
fn vit_last_hidden_state_cls_and_mean_match_transformers() {
    let g = golden("vit");
    let pv = &g["batch_pixel_values"];
    let cls = load_image_model(fixture("vit").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    assert_eq!((cls.info.model_type.as_str(), cls.info.pooling, cls.info.dim), ("vit", Pooling::Cls, 32));
    assert_close("vit last_hidden_state", &cls.encoder.last_hidden_state(pv).unwrap(), &g["last_hidden_state"], 1e-4);
    assert_close("vit cls", &cls.encoder.embed(pv).unwrap(), &g["cls"], 1e-4);
    let mean =
        load_image_model(fixture("vit").to_str().unwrap(), Some(Pooling::Mean), &Device::Cpu, DType::F32).unwrap();
    assert_close("vit mean", &mean.encoder.embed(pv).unwrap(), &g["mean"], 1e-4);
}

#[test]
fn vit_preprocessing_matches_image_processor() {
    let g = golden("vit");
    let m = load_image_model(fixture("vit").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    for name in IMAGES {
        let ours = m.preprocessor.load(&fixture(&format!("images/{name}"))).unwrap();
        let ours = Tensor::from_vec(ours, (3, 32, 32), &Device::Cpu).unwrap();
        let tol = jpeg_tolerance(name);
        assert_close(&format!("vit pixel_values {name}"), &ours, &g[&pv_key(name)], tol);
    }
}

#[test]
fn vit_end_to_end_from_files() {
    let g = golden("vit");
    let m = load_image_model(fixture("vit").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    let paths: Vec<_> = IMAGES.iter().map(|n| fixture(&format!("images/{n}"))).collect();
    let refs: Vec<&std::path::Path> = paths.iter().map(|p| p.as_path()).collect();
    let feats = m.embed_paths(&refs).unwrap();
    assert_eq!(feats.dims(), &[9, 32]);
    for (i, name) in IMAGES.iter().enumerate() {
        if name.ends_with(".jpg") {
            continue;
        }
        let row = feats.get(i).unwrap();
        assert_close(&format!("vit features {name}"), &row, &g["cls"].get(i).unwrap(), 1e-4);
    }
}

#[test]
fn vit_half_precision_stays_close() {
    let g = golden("vit");
    let m = load_image_model(fixture("vit").to_str().unwrap(), None, &Device::Cpu, DType::F16).unwrap();
    let f = m.encoder.embed(&g["batch_pixel_values"]).unwrap();
    assert_eq!(f.dtype(), DType::F32);
    // f16 keeps 11 mantissa bits; features are O(1).
    assert_close("vit f16 cls", &f, &g["cls"], 0.02);
}

/// `--dtype bf16` on the CPU (the host layers with bf16 Linear products, f32 accumulation;
/// patch embedding, LayerNorm, softmax, GELU in f32): every token row of `last_hidden_state`
/// and every `cls` and `mean` feature keeps cosine ≥ 0.999 to transformers' f32 output, and
/// differs from it (the bf16 products did run). CPUs without AVX-512 BF16 get the one-line
/// refusal instead ([`load_bf16`]), and the test says it skipped.
#[test]
fn vit_bf16_products_keep_cosine_0999_to_the_f32_golden() {
    let g = golden("vit");
    let pv = &g["batch_pixel_values"];
    let Some(cls) = load_bf16("vit", None) else {
        eprintln!("skipped: this CPU lacks avx512_bf16, so --dtype bf16 is refused on the CPU");
        return;
    };
    let h = cls.encoder.last_hidden_state(pv).unwrap().to_dtype(DType::F32).unwrap();
    assert_rows_cosine("vit bf16 last_hidden_state", &h, &g["last_hidden_state"], 0.999);
    assert_rows_cosine("vit bf16 cls", &cls.encoder.embed(pv).unwrap(), &g["cls"], 0.999);
    let mean = load_bf16("vit", Some(Pooling::Mean)).unwrap();
    assert_rows_cosine("vit bf16 mean", &mean.encoder.embed(pv).unwrap(), &g["mean"], 0.999);
}
