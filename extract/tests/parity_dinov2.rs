//! DINOv2 parity against transformers' `Dinov2Model` / `BitImageProcessor` (golden outputs
//! written by tools/make_reference.py, transformers 4.46.3, float32, eager attention): the tiny
//! checkpoint has a 7×7 position grid (image_size 56, patch 8) and its processor crops to 32
//! (a 4×4 grid), so every forward pass interpolates the position embeddings, as the hub's
//! 518-pixel models do at 224. Model outputs within 1e-4 (as CLIP and ViT).

mod parity_support;

use candle_core::{DType, Device};
use marnet_extract::{load_image_model, Pooling};
use parity_support::*;

fn dinov2(pooling: Option<Pooling>) -> marnet_extract::ImageModel {
    load_image_model(fixture("dinov2").to_str().unwrap(), pooling, &Device::Cpu, DType::F32).unwrap()
}

#[test]
fn dinov2_last_hidden_state_and_the_three_poolings_match_transformers() {
    let g = golden("dinov2");
    let pv = image_batch(&g);
    let m = dinov2(None);
    assert_eq!((m.info.model_type.as_str(), m.info.pooling, m.info.dim), ("dinov2", Pooling::Cls, 32));
    assert_close("dinov2 last_hidden_state", &m.encoder.last_hidden_state(&pv).unwrap(), &g["last_hidden_state"], 1e-4);
    assert_close("dinov2 cls = pooler_output", &m.encoder.embed(&pv).unwrap(), &g["pooler_output"], 1e-4);
    let mean = dinov2(Some(Pooling::Mean));
    assert_close("dinov2 mean", &mean.encoder.embed(&pv).unwrap(), &g["mean"], 1e-4);
    let both = dinov2(Some(Pooling::ClsMean));
    assert_eq!((both.info.pooling, both.info.dim), (Pooling::ClsMean, 64));
    assert_close("dinov2 cls_mean", &both.encoder.embed(&pv).unwrap(), &g["cls_mean"], 1e-4);
    // HF's name for the class token is accepted and recorded as what it is.
    assert_eq!(dinov2(Some(Pooling::PoolerOutput)).info.pooling, Pooling::Cls);
    let err =
        load_image_model(fixture("dinov2").to_str().unwrap(), Some(Pooling::ImageEmbeds), &Device::Cpu, DType::F32)
            .err()
            .unwrap();
    assert!(format!("{err:#}").contains("image_embeds is not available for dinov2"), "{err:#}");
}

/// A non-square 40×56 input (grid 5×7: rows resampled from 7 to 5, columns 7 to 7) and the
/// checkpoint's own 56×56 (7×7, the table used as it is).
#[test]
fn dinov2_position_embeddings_follow_the_input_grid() {
    let g = golden("dinov2");
    let m = dinov2(None);
    for size in ["40x56", "56x56"] {
        let out = m.encoder.last_hidden_state(&g[&format!("input_{size}")]).unwrap();
        assert_close(&format!("dinov2 last_hidden_state {size}"), &out, &g[&format!("last_hidden_state_{size}")], 1e-4);
    }
}

#[test]
fn dinov2_swiglu_mlp_matches_transformers() {
    let g = golden("dinov2_swiglu");
    let pv = image_batch(&golden("dinov2")).narrow(0, 0, 3).unwrap();
    let m = load_image_model(fixture("dinov2_swiglu").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    assert_close(
        "dinov2 swiglu last_hidden_state",
        &m.encoder.last_hidden_state(&pv).unwrap(),
        &g["last_hidden_state"],
        1e-4,
    );
    assert_close("dinov2 swiglu pooler_output", &m.encoder.embed(&pv).unwrap(), &g["pooler_output"], 1e-4);
}

#[test]
fn dinov2_preprocessing_matches_bit_image_processor() {
    let g = golden("dinov2");
    let m = dinov2(None);
    assert_eq!(m.preprocessor.output_size(), Some((32, 32)));
    assert_preprocessing("dinov2", &m.preprocessor, &g, 32, 0.036);
}

/// Off the CPU-f32 host kernels (f16 runs candle's ops): close to transformers' f32 outputs.
#[test]
fn dinov2_half_precision_stays_close() {
    let g = golden("dinov2");
    let m = load_image_model(fixture("dinov2").to_str().unwrap(), None, &Device::Cpu, DType::F16).unwrap();
    let f = m.encoder.embed(&image_batch(&g)).unwrap();
    assert_close("dinov2 f16 cls", &f, &g["pooler_output"], 0.03);
}

/// `--dtype bf16` on the CPU (host layers with bf16 products, f32 accumulation): every row of
/// `pooler_output` and of `last_hidden_state` keeps a cosine ≥ 0.999 to transformers' f32.
#[test]
fn dinov2_bf16_products_keep_cosine_0999() {
    let g = golden("dinov2");
    let Some(m) = load_bf16("dinov2", None) else { return };
    let pv = image_batch(&g);
    assert_rows_cosine("dinov2 bf16 pooler_output", &m.encoder.embed(&pv).unwrap(), &g["pooler_output"], 0.999);
    let h = m.encoder.last_hidden_state(&pv).unwrap();
    assert_rows_cosine("dinov2 bf16 last_hidden_state", &h, &g["last_hidden_state"], 0.999);
}
