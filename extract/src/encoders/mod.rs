//! Frozen encoders of stage one (DESIGN.md section 5): image encoders behind [`ImageEncoder`]
//! (`vit`, `clip_vision_model`/`clip`, `dinov2`, `siglip_vision_model`/`siglip`) and the `bert`
//! text encoder, loaded from a local folder or the hub cache ([`crate::weights`]) by
//! `config.json` `model_type`.

/// Defines `$vis fn $name(args)` that runs `$generic(args)` compiled for AVX-512 when the CPU has
/// it (checked at run time), else as built: the host kernels' one way to get AVX-512 code from
/// portable loops. Defined before the modules so that every host-kernel file can use it.
macro_rules! avx512_dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident => $generic:ident($($a:ident: $t:ty),*)) => {
        $(#[$doc])*
        $vis fn $name($($a: $t),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
                unsafe fn fast($($a: $t),*) {
                    $generic($($a),*)
                }
                if marnet_data::fast_math::has_avx512() {
                    // SAFETY: the CPU has the features `fast` is compiled for (checked).
                    return unsafe { fast($($a),*) };
                }
            }
            $generic($($a),*)
        }
    };
}

pub mod bert;
pub mod clip;
pub mod column_major;
pub mod dinov2;
pub mod host_act;
pub mod host_bert;
pub mod host_clip;
pub mod host_ops;
pub mod host_prenorm;
pub mod pooling;
pub mod pos_interp;
pub mod prenorm;
pub mod siglip;
pub mod text;
pub mod vit;

pub use pooling::Pooling;
pub use text::{load_text_model, TextModel};

use crate::device::dtype_name;
use crate::model_config::{load_config, ModelConfig};
use crate::preprocess::{Preprocessor, Style};
use crate::weights::{resolve_model, ModelFiles};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use pooling::ImageFamily;
use std::path::Path;

/// An image backbone: `pixel_values` in, one feature vector per image out.
pub trait ImageEncoder: Send + Sync {
    /// `pixel_values` `(batch, 3, H, W)` (any float dtype, on the model device) → pooled
    /// features `(batch, dim)` f32.
    fn embed(&self, pixel_values: &Tensor) -> candle_core::Result<Tensor>;
    /// `last_hidden_state` `(batch, 1 + patches, hidden)` in the model dtype: after the final
    /// `layernorm` for ViT and DINOv2, before `post_layernorm` for CLIP, after it for SigLIP,
    /// which has no class token (`(batch, patches, hidden)`), as HF returns them.
    fn last_hidden_state(&self, pixel_values: &Tensor) -> candle_core::Result<Tensor>;
    /// Width of [`ImageEncoder::embed`]'s output.
    fn dim(&self) -> usize;
}

/// What produced a set of features; goes into the feature-cache metadata (DESIGN.md section 3).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Folder path or hub id as given.
    pub spec: String,
    /// Weight sha256 ([`ModelFiles::sha256`]).
    pub sha256: String,
    /// `vit`, `clip_vision_model`, `dinov2`, `siglip_vision_model` or `bert`.
    pub model_type: String,
    /// Pooling in effect.
    pub pooling: Pooling,
    /// Feature width.
    pub dim: usize,
    /// Weight/activation dtype (outputs are f32).
    pub dtype: DType,
    /// Images: [`Preprocessor::describe`]; text: `{"max_tokens", "normalize"}`.
    pub preprocess: serde_json::Value,
}

impl ModelInfo {
    /// `"f32"`, `"bf16"` or `"f16"`.
    pub fn dtype_name(&self) -> &'static str {
        dtype_name(self.dtype)
    }
}

/// A loaded image encoder with its preprocessor.
pub struct ImageModel {
    /// The backbone.
    pub encoder: Box<dyn ImageEncoder>,
    /// Preprocessing from `preprocessor_config.json` (or the architecture's defaults).
    pub preprocessor: Preprocessor,
    /// Metadata.
    pub info: ModelInfo,
    device: Device,
}

impl ImageModel {
    /// Device the model runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Loads, preprocesses and embeds image files → `(batch, dim)` f32. Errors name the file.
    pub fn embed_paths(&self, paths: &[&Path]) -> Result<Tensor> {
        let items = paths.iter().map(|p| self.preprocessor.load(p)).collect::<Result<Vec<_>>>()?;
        self.embed_items(&items)
    }

    /// Embeds preprocessed images (each `3·H·W` f32 from [`Preprocessor::load`]) →
    /// `(n, dim)` f32, `n ≥ 1`. On the CPU the images go through the model
    /// [`CPU_MICRO_BATCH`] at a time, the last group padded with copies of its last image (their
    /// outputs dropped), so a row's value does not depend on how many images are passed or on
    /// their order; on an accelerator all of them run as one forward pass.
    ///
    /// # Errors
    /// No images, or a candle error of the forward pass.
    pub fn embed_items(&self, items: &[Vec<f32>]) -> Result<Tensor> {
        let forward = |chunk: &[Vec<f32>]| -> Result<Tensor> {
            let pixels = self.preprocessor.batch(chunk, &self.device)?; // (b, 3, H, W)
            Ok(self.encoder.embed(&pixels)?.to_dtype(DType::F32)?) // (b, dim)
        };
        if items.is_empty() {
            bail!("no images to embed");
        }
        if !self.device.is_cpu() {
            return forward(items);
        }
        let mut rows = Vec::with_capacity(items.len().div_ceil(CPU_MICRO_BATCH));
        for chunk in items.chunks(CPU_MICRO_BATCH) {
            let mut group = chunk.to_vec();
            if let Some(last) = chunk.last() {
                group.resize(CPU_MICRO_BATCH, last.clone());
            }
            rows.push(forward(&group)?.narrow(0, 0, chunk.len())?);
        }
        Ok(Tensor::cat(&rows, 0)?)
    }
}

/// Images per forward pass on the CPU, whatever the batch size asked for. candle's CPU kernels
/// round differently for different batch shapes (2.9e-6 between 2 images and 1 on CLIP
/// ViT-B/16) but not for a row's position or neighbours within one shape, so a fixed shape keeps
/// `x_v` independent of `--batch-size`, of a sample's neighbours and of where parts and shards
/// start (tested in `extract/tests/extract_run.rs`, batch 1 against 7, and measured on the demo
/// model by `just bench-extract`). 4 images ran 1.26x faster per image than 1 on 2 cores.
pub const CPU_MICRO_BATCH: usize = 4;

/// Returns `vb` moved under `prefix` when the weights carry it (`<prefix>.<probe>` exists).
pub(crate) fn strip_prefix(vb: VarBuilder<'static>, prefix: &str, probe: &str) -> VarBuilder<'static> {
    if vb.contains_tensor(&format!("{prefix}.{probe}")) {
        vb.pp(prefix)
    } else {
        vb
    }
}

/// Whether `--dtype bf16` on the CPU applies (the host layers' Linear products in bf16 over f32
/// weights and activations; candle 0.11 has no fast CPU bf16 matmul or bf16 conv2d).
/// Errors, in one line, when it does and the CPU lacks AVX-512 BF16.
pub(crate) fn host_bf16(device: &Device, dtype: DType) -> Result<bool> {
    let host = dtype == DType::BF16 && device.is_cpu();
    if host && !crate::kernels::has_avx512_bf16() {
        bail!("--dtype bf16 on the CPU needs AVX-512 BF16 (avx512_bf16), which this CPU lacks; use f32 (or bf16 with --device cuda)");
    }
    Ok(host)
}

/// Loads an image model (`vit`, `clip_vision_model`, `clip`, `dinov2`, `siglip_vision_model`,
/// `siglip`) from a folder or hub id. `pooling` defaults to `cls`, resolved per architecture by
/// [`pooling::resolve_pooling`] (CLIP: [`pooling::CLIP_CLS_DEFAULT`]; SigLIP: `pooler_output`).
/// Errors: unresolvable spec, unsupported `model_type`, a text model, a pooling the architecture
/// lacks, missing or mis-shaped tensors (named by candle).
pub fn load_image_model(spec: &str, pooling: Option<Pooling>, device: &Device, dtype: DType) -> Result<ImageModel> {
    let host_bf16 = host_bf16(device, dtype)?;
    let files = resolve_model(spec)?;
    let cfg = load_config(&files.config)?;
    let load_dtype = if host_bf16 { DType::F32 } else { dtype };
    let family = match &cfg {
        ModelConfig::Vit(_) => ImageFamily::Vit,
        ModelConfig::ClipVision(_) => ImageFamily::Clip,
        ModelConfig::Dinov2(_) => ImageFamily::Dinov2,
        ModelConfig::SiglipVision(c) => ImageFamily::Siglip { head: c.use_head },
        ModelConfig::Bert(_) => {
            bail!("model {spec:?} is a text model (bert), expected an image model (vit, clip, dinov2, siglip)")
        }
    };
    let pooling = pooling::resolve_pooling(pooling, family).with_context(|| format!("model {spec:?}"))?;
    let vb = files.var_builder(load_dtype, device)?;
    let loading = |what: &str| format!("model {spec:?}: loading {what} weights");
    // (encoder, config image_size, preprocessing defaults, whether the input must be image_size)
    let (encoder, image_size, style, fixed): (Box<dyn ImageEncoder>, usize, Style, bool) = match &cfg {
        ModelConfig::Vit(c) => {
            let vb = strip_prefix(vb, "vit", "embeddings.cls_token");
            let enc = if host_bf16 {
                vit::VitEncoder::new_bf16_host(c, pooling, vb)
            } else {
                vit::VitEncoder::new(c, pooling, vb)
            }
            .with_context(|| loading("vit"))?;
            (Box::new(enc), c.image_size, Style::Vit, true)
        }
        ModelConfig::ClipVision(c) => {
            let tower = strip_prefix(vb.clone(), "vision_model", "embeddings.class_embedding");
            let proj = vb.contains_tensor("visual_projection.weight").then(|| vb.pp("visual_projection"));
            let mut enc =
                clip::ClipVisionEncoder::new(c, pooling, tower, proj).with_context(|| loading("CLIP vision"))?;
            if host_bf16 {
                enc = enc.with_bf16_products().with_context(|| loading("CLIP vision"))?;
            }
            (Box::new(enc), c.image_size, Style::Clip, true)
        }
        ModelConfig::Dinov2(c) => {
            let vb = strip_prefix(vb, "dinov2", "embeddings.cls_token");
            let mut enc = dinov2::Dinov2Encoder::new(c, pooling, vb).with_context(|| loading("dinov2"))?;
            if host_bf16 {
                enc = enc.with_bf16_products().with_context(|| loading("dinov2"))?;
            }
            (Box::new(enc), c.image_size, Style::Dinov2, false)
        }
        ModelConfig::SiglipVision(c) => {
            let vb = strip_prefix(vb, "vision_model", "embeddings.patch_embedding.weight");
            let mut enc = siglip::SiglipVisionEncoder::new(c, pooling, vb).with_context(|| loading("SigLIP vision"))?;
            if host_bf16 {
                enc = enc.with_bf16_products().with_context(|| loading("SigLIP vision"))?;
            }
            (Box::new(enc), c.image_size, Style::Siglip, true)
        }
        ModelConfig::Bert(_) => bail!("model {spec:?} is a text model (bert)"),
    };
    let preprocessor = image_preprocessor(&files, style, image_size as u32)?;
    match preprocessor.output_size() {
        Some((h, w)) if fixed && (h as usize, w as usize) != (image_size, image_size) => {
            bail!("model {spec:?}: preprocessor output {h}x{w} does not match config image_size {image_size}")
        }
        None if !fixed => bail!(
            "model {spec:?}: preprocessor output size varies with the image (shortest-edge resize without a crop); \
             {} needs a fixed size to batch",
            cfg.model_type()
        ),
        _ => {}
    }
    let info = ModelInfo {
        spec: spec.to_string(),
        sha256: files.sha256.clone(),
        model_type: cfg.model_type().to_string(),
        pooling,
        dim: encoder.dim(),
        dtype,
        preprocess: preprocessor.describe(),
    };
    Ok(ImageModel { encoder, preprocessor, info, device: device.clone() })
}

fn image_preprocessor(files: &ModelFiles, style: Style, image_size: u32) -> Result<Preprocessor> {
    match files.optional("preprocessor_config.json") {
        Some(p) => Preprocessor::from_json_file_styled(&p, style, image_size),
        None => Ok(Preprocessor::defaults(style, image_size)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn models_can_be_shared_across_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<super::ImageModel>();
        send_sync::<super::TextModel>();
    }
}
