//! Speed of the DINOv2 and SigLIP image towers on the CPU with random weights of the real sizes
//! (`facebook/dinov2-base`: ViT-B/14, 518-pixel position grid run at 224, 257 tokens;
//! `google/siglip-base-patch16-224`: ViT-B/16, 196 tokens), written as hub-style folders
//! (config.json, model.safetensors, preprocessor_config.json) into a temporary directory:
//!
//! - images/s of `ImageModel::embed_items` (f32, the CPU micro-batch of 4), preprocessed inputs;
//! - the 12-layer stack alone on the host kernels against the same layers in candle ops, one
//!   `(4, tokens, 768)` batch, as a ratio.
//!
//! `cargo run --release -p marnet-extract --example bench_towers -- [--images N] [--reps R]`

/// mimalloc, as in the extraction binary.
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use marnet_extract::encoders::dinov2::layer_spec;
use marnet_extract::encoders::host_prenorm::HostLayers;
use marnet_extract::encoders::prenorm::CandleLayers;
use marnet_extract::encoders::siglip::siglip_layer_spec;
use marnet_extract::load_image_model;
use marnet_extract::model_config::{load_config, ModelConfig};
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

const D: usize = 768;
const LAYERS: usize = 12;

fn randn(shape: &[usize], std: f64) -> Result<Tensor> {
    Ok(Tensor::randn(0f32, std as f32, shape, &Device::Cpu)?)
}

/// One encoder layer's tensors under `prefix` with the given names.
fn layer(t: &mut HashMap<String, Tensor>, prefix: &str, names: &[(&str, &[usize])]) -> Result<()> {
    for (n, shape) in names {
        let std = if n.contains("norm") && n.ends_with("weight") { 0.0 } else { 0.02 };
        let v = if std == 0.0 { Tensor::ones(*shape, DType::F32, &Device::Cpu)? } else { randn(shape, std)? };
        t.insert(format!("{prefix}.{n}"), v);
    }
    Ok(())
}

fn write_model(dir: &Path, config: &str, preprocessor: &str, tensors: HashMap<String, Tensor>) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), config)?;
    std::fs::write(dir.join("preprocessor_config.json"), preprocessor)?;
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

fn dinov2_base(dir: &Path) -> Result<()> {
    let mut t = HashMap::new();
    t.insert("embeddings.cls_token".into(), randn(&[1, 1, D], 0.02)?);
    t.insert("embeddings.mask_token".into(), randn(&[1, D], 0.02)?);
    t.insert("embeddings.position_embeddings".into(), randn(&[1, 37 * 37 + 1, D], 0.02)?);
    t.insert("embeddings.patch_embeddings.projection.weight".into(), randn(&[D, 3, 14, 14], 0.02)?);
    t.insert("embeddings.patch_embeddings.projection.bias".into(), randn(&[D], 0.02)?);
    for i in 0..LAYERS {
        let names: &[(&str, &[usize])] = &[
            ("norm1.weight", &[D]),
            ("norm1.bias", &[D]),
            ("norm2.weight", &[D]),
            ("norm2.bias", &[D]),
            ("attention.attention.query.weight", &[D, D]),
            ("attention.attention.query.bias", &[D]),
            ("attention.attention.key.weight", &[D, D]),
            ("attention.attention.key.bias", &[D]),
            ("attention.attention.value.weight", &[D, D]),
            ("attention.attention.value.bias", &[D]),
            ("attention.output.dense.weight", &[D, D]),
            ("attention.output.dense.bias", &[D]),
            ("layer_scale1.lambda1", &[D]),
            ("layer_scale2.lambda1", &[D]),
            ("mlp.fc1.weight", &[4 * D, D]),
            ("mlp.fc1.bias", &[4 * D]),
            ("mlp.fc2.weight", &[D, 4 * D]),
            ("mlp.fc2.bias", &[D]),
        ];
        layer(&mut t, &format!("encoder.layer.{i}"), names)?;
    }
    layer(&mut t, "layernorm", &[("weight", &[D]), ("bias", &[D])])?;
    let config = r#"{"model_type": "dinov2", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "mlp_ratio": 4, "image_size": 518, "patch_size": 14, "layer_norm_eps": 1e-6}"#;
    let pre = r#"{"image_processor_type": "BitImageProcessor", "size": {"shortest_edge": 256},
        "crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "resample": 3,
        "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}"#;
    write_model(dir, config, pre, t)
}

fn siglip_base(dir: &Path) -> Result<()> {
    let mut t = HashMap::new();
    t.insert("vision_model.embeddings.patch_embedding.weight".into(), randn(&[D, 3, 16, 16], 0.02)?);
    t.insert("vision_model.embeddings.patch_embedding.bias".into(), randn(&[D], 0.02)?);
    t.insert("vision_model.embeddings.position_embedding.weight".into(), randn(&[196, D], 0.02)?);
    let mlp: &[(&str, &[usize])] = &[
        ("mlp.fc1.weight", &[3072, D]),
        ("mlp.fc1.bias", &[3072]),
        ("mlp.fc2.weight", &[D, 3072]),
        ("mlp.fc2.bias", &[D]),
    ];
    for i in 0..LAYERS {
        let mut names: Vec<(&str, &[usize])> = vec![
            ("layer_norm1.weight", &[D]),
            ("layer_norm1.bias", &[D]),
            ("layer_norm2.weight", &[D]),
            ("layer_norm2.bias", &[D]),
            ("self_attn.q_proj.weight", &[D, D]),
            ("self_attn.q_proj.bias", &[D]),
            ("self_attn.k_proj.weight", &[D, D]),
            ("self_attn.k_proj.bias", &[D]),
            ("self_attn.v_proj.weight", &[D, D]),
            ("self_attn.v_proj.bias", &[D]),
            ("self_attn.out_proj.weight", &[D, D]),
            ("self_attn.out_proj.bias", &[D]),
        ];
        names.extend_from_slice(mlp);
        layer(&mut t, &format!("vision_model.encoder.layers.{i}"), &names)?;
    }
    layer(&mut t, "vision_model.post_layernorm", &[("weight", &[D]), ("bias", &[D])])?;
    let head: &[(&str, &[usize])] = &[
        ("probe", &[1, 1, D]),
        ("attention.in_proj_weight", &[3 * D, D]),
        ("attention.in_proj_bias", &[3 * D]),
        ("attention.out_proj.weight", &[D, D]),
        ("attention.out_proj.bias", &[D]),
        ("layernorm.weight", &[D]),
        ("layernorm.bias", &[D]),
    ];
    layer(&mut t, "vision_model.head", head)?;
    layer(&mut t, "vision_model.head", mlp)?;
    let config = r#"{"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 3072,
        "num_hidden_layers": 12, "num_attention_heads": 12, "image_size": 224, "patch_size": 16}"#;
    let pre = r#"{"image_processor_type": "SiglipImageProcessor", "size": {"height": 224, "width": 224}, "resample": 3,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#;
    write_model(dir, config, pre, t)
}

/// Median seconds of `reps` runs of `f`, after one warm-up run.
fn time<F: FnMut() -> Result<()>>(reps: usize, mut f: F) -> Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64());
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn bench(name: &str, dir: &Path, tokens: usize, images: usize, reps: usize) -> Result<()> {
    let m = load_image_model(dir.to_str().context("path")?, None, &Device::Cpu, DType::F32)?;
    let (h, w) = m.preprocessor.output_size().context("fixed size")?;
    let items: Vec<Vec<f32>> = (0..images)
        .map(|i| (0..3 * (h * w) as usize).map(|j| (((i * 7919 + j * 31) % 255) as f32 / 127.5) - 1.0).collect())
        .collect();
    let s = time(reps, || m.embed_items(&items).map(|_| ()))?;
    println!(
        "{name}: {} images of {h}x{w}, pooling {}: {:.2} images/s (median of {reps}: {s:.3} s)",
        images,
        m.info.pooling,
        images as f64 / s
    );
    // The layer stack alone: host kernels against candle ops on one (4, tokens, 768) batch.
    let files = marnet_extract::resolve_model(dir.to_str().context("path")?)?;
    let vb: VarBuilder = files.var_builder(DType::F32, &Device::Cpu)?;
    let (spec, enc_vb) = match load_config(&files.config)? {
        ModelConfig::Dinov2(c) => (layer_spec(&c), vb.pp("encoder")),
        ModelConfig::SiglipVision(c) => (siglip_layer_spec(&c), vb.pp("vision_model.encoder")),
        _ => anyhow::bail!("not a tower"),
    };
    let x = Tensor::randn(0f32, 1.0, (4, tokens, D), &Device::Cpu)?;
    let host = HostLayers::new(enc_vb.clone(), &spec)?;
    let cand = CandleLayers::new(enc_vb, &spec)?;
    let th = time(reps, || host.forward(&x).map(|_| ()).map_err(Into::into))?;
    let tc = time(reps, || cand.forward(&x).map(|_| ()).map_err(Into::into))?;
    println!("{name}: 12 layers on (4, {tokens}, 768): host {th:.3} s, candle {tc:.3} s, candle/host {:.2}x", tc / th);
    Ok(())
}

fn main() -> Result<()> {
    let mut images = 8;
    let mut reps = 3;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let val: usize = it.next().with_context(|| format!("{flag} needs a value"))?.parse()?;
        match flag.as_str() {
            "--images" => images = val,
            "--reps" => reps = val,
            other => anyhow::bail!("unknown flag {other}; flags: --images N --reps R"),
        }
    }
    let tmp = tempfile::tempdir()?;
    let (dino, sig) = (tmp.path().join("dinov2-base"), tmp.path().join("siglip-base-patch16-224"));
    dinov2_base(&dino)?;
    siglip_base(&sig)?;
    println!("threads: {}", rayon::current_num_threads());
    bench("dinov2-base (random weights)", &dino, 257, images, reps)?;
    bench("siglip-base-patch16-224 (random weights)", &sig, 196, images, reps)?;
    Ok(())
}
