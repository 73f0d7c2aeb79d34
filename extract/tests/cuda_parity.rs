//! The encoders on a CUDA device against the same golden outputs of transformers as the CPU
//! parity tests (tools/make_reference.py, float32). Compiled only with the `cuda`
//! feature and ignored by default: they need an NVIDIA GPU. `scripts/gpu-check.sh` runs them with
//! `cargo test --features cuda -- --ignored`; `MARNET_CUDA_DEVICE` picks the device (default
//! `cuda:0`).
#![cfg(feature = "cuda")]

mod parity_support;

use candle_core::{DType, Device, Tensor};
use marnet_extract::{load_image_model, load_text_model, select_device};
use parity_support::*;

fn device() -> Device {
    let name = std::env::var("MARNET_CUDA_DEVICE").unwrap_or_else(|_| "cuda:0".into());
    select_device(&name).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Smallest per-row cosine between `a` and `b`, both `(n, d)`.
fn min_row_cosine(a: &Tensor, b: &Tensor) -> f32 {
    let a = a.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
    let b = b.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(a.len(), b.len(), "row count");
    a.iter()
        .zip(&b)
        .map(|(x, y)| {
            let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
            let nx: f32 = x.iter().map(|p| p * p).sum::<f32>().sqrt();
            let ny: f32 = y.iter().map(|q| q * q).sum::<f32>().sqrt();
            dot / (nx * ny).max(1e-12)
        })
        .fold(1.0, f32::min)
}

fn texts() -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden/texts.json")).unwrap()).unwrap();
    v["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

/// The tiny image model `name` on the GPU: f32 within 1e-4 of golden `key`, bf16 rows at cosine
/// >= 0.999 to it.
fn image_model_matches(name: &str, key: &str) {
    let g = golden(name);
    let pv = match g.get("batch_pixel_values") {
        Some(pv) => pv.clone(),
        None => image_batch(&g),
    };
    image_model_matches_on(name, &pv, &g, key);
}

/// [`image_model_matches`] with the inputs given (on the CPU) and goldens `g`.
fn image_model_matches_on(name: &str, pv: &Tensor, g: &std::collections::HashMap<String, Tensor>, key: &str) {
    let dev = device();
    let pv = pv.to_device(&dev).unwrap();
    let m = load_image_model(fixture(name).to_str().unwrap(), None, &dev, DType::F32).unwrap();
    assert_close(&format!("{name} {key} cuda f32"), &m.encoder.embed(&pv).unwrap(), &g[key], 1e-4);
    let m = load_image_model(fixture(name).to_str().unwrap(), None, &dev, DType::BF16).unwrap();
    let cos = min_row_cosine(&m.encoder.embed(&pv).unwrap(), &g[key]);
    println!("{name} {key} cuda bf16: min row cosine {cos:.6}");
    assert!(cos >= 0.999, "{name} bf16 min row cosine {cos} < 0.999");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn vit_on_cuda_matches_transformers() {
    image_model_matches("vit", "cls");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn clip_on_cuda_matches_transformers() {
    // On a GPU the CLIP layers are candle-transformers' (the host kernels are CPU-only).
    image_model_matches("clip", "image_embeds");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn dinov2_on_cuda_matches_transformers() {
    // On a GPU the layers run as candle ops; the position table is resampled on the host.
    image_model_matches("dinov2", "pooler_output");
    let g = golden("dinov2");
    let m = load_image_model(fixture("dinov2").to_str().unwrap(), None, &device(), DType::F32).unwrap();
    let lhs = m.encoder.last_hidden_state(&g["input_40x56"].to_device(&device()).unwrap()).unwrap();
    assert_close("dinov2 40x56 cuda f32", &lhs, &g["last_hidden_state_40x56"], 1e-4);
    let pv = image_batch(&g).narrow(0, 0, 3).unwrap();
    image_model_matches_on("dinov2_swiglu", &pv, &golden("dinov2_swiglu"), "pooler_output");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn siglip_on_cuda_matches_transformers() {
    image_model_matches("siglip", "pooler_output");
    image_model_matches_on("siglip_full", &image_batch(&golden("siglip")), &golden("siglip_full"), "image_features");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn bert_on_cuda_matches_transformers() {
    let dev = device();
    let g = golden("bert");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let m = load_text_model(fixture("bert").to_str().unwrap(), None, &dev, DType::F32).unwrap();
    let (f, truncated) = m.embed(&refs).unwrap();
    assert_eq!(truncated, 1, "only the 600-word text exceeds 48 tokens");
    assert_close("bert mean+normalize cuda f32", &f, &g["mean_normalized"], 1e-4);
    let m = load_text_model(fixture("bert").to_str().unwrap(), None, &dev, DType::BF16).unwrap();
    let cos = min_row_cosine(&m.embed(&refs).unwrap().0, &g["mean_normalized"]);
    println!("bert cuda bf16: min row cosine {cos:.6}");
    assert!(cos >= 0.999, "bert bf16 min row cosine {cos} < 0.999");
}

#[test]
#[ignore = "needs an NVIDIA GPU"]
fn a_missing_gpu_ordinal_is_an_error_not_a_panic() {
    let _ = device();
    let err = select_device("cuda:4096").err().expect("no machine has 4097 GPUs");
    assert!(format!("{err:#}").contains("no CUDA device 4096"), "{err:#}");
}
