//! CLIP vision tower (model_type `clip_vision_model`, or the vision half of `clip`; Radford et
//! al. 2021), HF names `embeddings.patch_embedding`, `embeddings.class_embedding`,
//! `embeddings.position_embedding`, `pre_layrnorm`, `encoder.layers.N.{self_attn.{q,k,v,out}_proj,
//! layer_norm1, mlp.fc1, mlp.fc2, layer_norm2}`, `post_layernorm`. Pooling `pooler_output` is
//! HF's `pooler_output` = `post_layernorm(last_hidden_state[:, 0])` (`hidden_size`);
//! `image_embeds` sends it through `visual_projection` (no bias) when that weight exists;
//! `mean` is `post_layernorm(mean of patch tokens)`, projected like `image_embeds`. `cls` is
//! resolved before it gets here ([`super::pooling::resolve_image_pooling`]).
//!
//! The embeddings and LayerNorms are candle ops; the encoder layers run on the host kernels of
//! [`super::host_clip`] for CPU f32 (1.2x faster per image on the demo model, docs/benchmarks.md),
//! with bf16 Linear products for `--dtype bf16` on the CPU ([`ClipVisionEncoder::with_bf16_products`]),
//! and as candle-transformers' `ClipEncoder` otherwise (CUDA, f16).

use super::host_clip::HostClipEncoder;
use super::pooling::{self, Pooling};
use super::ImageEncoder;
use crate::model_config::ClipVisionCfg;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{conv2d_no_bias, layer_norm, linear_no_bias, Conv2d, Conv2dConfig, LayerNorm, Linear, VarBuilder};
use candle_transformers::models::clip::{text_model::ClipEncoder, EncoderConfig};

/// HF `CLIPVisionEmbeddings`: patch embedding (a stride-`patch_size` convolution, no bias), the
/// class token in front, plus the learned position embedding of every token.
#[derive(Debug, Clone)]
struct Embeddings {
    /// `(hidden, channels, patch, patch)`.
    patch_embedding: Conv2d,
    /// `(hidden,)`.
    class_embedding: Tensor,
    /// `(1 + patches, hidden)`.
    position_embedding: Tensor,
}

impl Embeddings {
    fn new(vb: VarBuilder, cfg: &ClipVisionCfg) -> Result<Self> {
        let d = cfg.hidden_size;
        let positions = (cfg.image_size / cfg.patch_size).pow(2) + 1;
        let conv = Conv2dConfig { stride: cfg.patch_size, ..Default::default() };
        Ok(Embeddings {
            patch_embedding: conv2d_no_bias(cfg.num_channels, d, cfg.patch_size, conv, vb.pp("patch_embedding"))?,
            class_embedding: vb.get(d, "class_embedding")?,
            position_embedding: vb.get((positions, d), "position_embedding.weight")?,
        })
    }
}

impl Module for Embeddings {
    /// `pixel_values` `(batch, channels, H, W)` → `(batch, 1 + patches, hidden)`.
    fn forward(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let batch = pixel_values.dim(0)?;
        let d = self.class_embedding.dim(0)?;
        let patches = self.patch_embedding.forward(pixel_values)?.flatten_from(2)?.transpose(1, 2)?; // (b, P, d)
        let cls = self.class_embedding.reshape((1, 1, d))?.expand((batch, 1, d))?;
        Tensor::cat(&[cls, patches], 1)?.broadcast_add(&self.position_embedding)
    }
}

/// The encoder layers: host kernels on CPU f32, candle-transformers' otherwise.
#[derive(Clone)]
enum Layers {
    Host(std::sync::Arc<HostClipEncoder>),
    Candle(ClipEncoder),
}

impl std::fmt::Debug for Layers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layers::Host(_) => "Layers::Host",
            Layers::Candle(_) => "Layers::Candle",
        })
    }
}

/// CLIP image encoder (tower + optional `visual_projection`).
#[derive(Debug, Clone)]
pub struct ClipVisionEncoder {
    embeddings: Embeddings,
    pre_layrnorm: LayerNorm,
    layers: Layers,
    post_layernorm: LayerNorm,
    projection: Option<Linear>,
    pooling: Pooling,
    dim: usize,
    image_size: usize,
}

impl ClipVisionEncoder {
    /// `tower_vb` is rooted at the tower (HF `vision_model.`); `projection_vb`, when given, holds
    /// `weight` of shape `(projection_dim, hidden_size)` (HF `visual_projection.`).
    pub fn new(
        cfg: &ClipVisionCfg,
        pooling: Pooling,
        tower_vb: VarBuilder,
        projection_vb: Option<VarBuilder>,
    ) -> Result<Self> {
        let d = cfg.hidden_size;
        let embeddings = Embeddings::new(tower_vb.pp("embeddings"), cfg)?;
        let pre_layrnorm = layer_norm(d, cfg.layer_norm_eps, tower_vb.pp("pre_layrnorm"))?;
        let encoder_vb = tower_vb.pp("encoder");
        let layers = if tower_vb.device().is_cpu() && tower_vb.dtype() == DType::F32 {
            Layers::Host(std::sync::Arc::new(HostClipEncoder::new(encoder_vb, cfg)?))
        } else {
            Layers::Candle(ClipEncoder::new(encoder_vb, &EncoderConfig::Vision(cfg.to_candle()))?)
        };
        let post_layernorm = layer_norm(d, cfg.layer_norm_eps, tower_vb.pp("post_layernorm"))?;
        let projection = projection_vb.map(|vb| linear_no_bias(cfg.hidden_size, cfg.projection_dim, vb)).transpose()?;
        let projected = projection.is_some() && pooling != Pooling::PoolerOutput;
        let dim = if projected { cfg.projection_dim } else { cfg.hidden_size };
        Ok(ClipVisionEncoder {
            embeddings,
            pre_layrnorm,
            layers,
            post_layernorm,
            projection,
            pooling,
            dim,
            image_size: cfg.image_size,
        })
    }

    /// Runs the encoder layers' Linear products in bf16 (weights packed once as bf16, inputs
    /// rounded per call, f32 accumulation; [`HostClipEncoder::pack_bf16`]). Errors when the
    /// layers are not the host kernels (weights not CPU f32).
    pub fn with_bf16_products(mut self) -> Result<Self> {
        match &mut self.layers {
            Layers::Host(enc) => match std::sync::Arc::get_mut(enc) {
                Some(enc) => enc.pack_bf16(),
                None => candle_core::bail!("CLIP encoder layers are shared; pack them before cloning"),
            },
            Layers::Candle(_) => candle_core::bail!("bf16 products need the CPU f32 host layers"),
        }
        Ok(self)
    }

    /// Whether features go through `visual_projection`.
    pub fn has_projection(&self) -> bool {
        self.projection.is_some()
    }

    fn cast(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = pixel_values.dims4()?;
        if h != self.image_size || w != self.image_size {
            candle_core::bail!("clip expects {0}x{0} pixel_values, got {h}x{w}", self.image_size);
        }
        pixel_values.to_dtype(self.post_layernorm.weight().dtype())
    }
}

impl ImageEncoder for ClipVisionEncoder {
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.embeddings.forward(&self.cast(pixel_values)?)?; // (b, 1 + P, d)
        let h = self.pre_layrnorm.forward(&h.contiguous()?)?;
        match &self.layers {
            Layers::Host(enc) => enc.forward(&h),
            Layers::Candle(enc) => enc.forward(&h, None)?.contiguous(),
        }
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?; // (b, 1 + P, d)
        let pooled = match self.pooling {
            Pooling::Mean => pooling::mean_patches(&h)?.to_dtype(h.dtype())?,
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => {
                h.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?
            }
        };
        let pooled = self.post_layernorm.forward(&pooled)?; // (b, hidden): pooler_output
        let out = match (&self.projection, self.pooling) {
            (Some(p), Pooling::Cls | Pooling::Mean | Pooling::ImageEmbeds | Pooling::ClsMean) => p.forward(&pooled)?, // (b, projection_dim)
            _ => pooled,
        };
        out.to_dtype(DType::F32)
    }

    fn dim(&self) -> usize {
        self.dim
    }
}
