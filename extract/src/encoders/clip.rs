//! CLIP vision tower (model_type `clip_vision_model`, or the vision half of `clip`) from
//! candle-transformers' `clip::vision_model`, with HF names `embeddings.patch_embedding`,
//! `embeddings.class_embedding`, `embeddings.position_embedding`, `pre_layrnorm`,
//! `encoder.layers.N.{self_attn.{q,k,v,out}_proj, layer_norm1, mlp.fc1, mlp.fc2, layer_norm2}`,
//! `post_layernorm`. `cls` pooling is HF's `pooler_output` = `post_layernorm(last_hidden_state[:, 0])`;
//! `mean` is `post_layernorm(mean of patch tokens)`; both go through `visual_projection` (no
//! bias) when that weight exists, giving HF's `image_embeds`.

use super::pooling::{self, Pooling};
use super::ImageEncoder;
use crate::model_config::ClipVisionCfg;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{layer_norm, linear_no_bias, LayerNorm, Linear, VarBuilder};
use candle_transformers::models::clip::vision_model::ClipVisionTransformer;

/// CLIP image encoder (tower + optional `visual_projection`).
#[derive(Debug, Clone)]
pub struct ClipVisionEncoder {
    tower: ClipVisionTransformer,
    post_layernorm: LayerNorm,
    projection: Option<Linear>,
    pooling: Pooling,
    dim: usize,
    image_size: usize,
}

impl ClipVisionEncoder {
    /// `tower_vb` is rooted at the tower (HF `vision_model.`); `projection_vb`, when given, holds
    /// `weight` of shape `(projection_dim, hidden_size)` (HF `visual_projection.`).
    pub fn new(cfg: &ClipVisionCfg, pooling: Pooling, tower_vb: VarBuilder, projection_vb: Option<VarBuilder>) -> Result<Self> {
        let tower = ClipVisionTransformer::new(tower_vb.clone(), &cfg.to_candle())?;
        let post_layernorm = layer_norm(cfg.hidden_size, cfg.layer_norm_eps, tower_vb.pp("post_layernorm"))?;
        let projection = projection_vb
            .map(|vb| linear_no_bias(cfg.hidden_size, cfg.projection_dim, vb))
            .transpose()?;
        let dim = if projection.is_some() { cfg.projection_dim } else { cfg.hidden_size };
        Ok(ClipVisionEncoder { tower, post_layernorm, projection, pooling, dim, image_size: cfg.image_size })
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
        let states = self.tower.output_hidden_states(&self.cast(pixel_values)?)?;
        // [layer outputs..., pooled]: the last encoder output is second to last.
        states[states.len() - 2].clone().contiguous()
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let pooled = match self.pooling {
            Pooling::Cls => self.tower.forward(&self.cast(pixel_values)?)?,
            Pooling::Mean => {
                let h = self.last_hidden_state(pixel_values)?;
                let m = pooling::mean_patches(&h)?.to_dtype(h.dtype())?;
                self.post_layernorm.forward(&m)?
            }
        };
        let out = match &self.projection {
            Some(p) => p.forward(&pooled)?,
            None => pooled,
        };
        out.to_dtype(DType::F32)
    }

    fn dim(&self) -> usize {
        self.dim
    }
}
