//! Trainable CLIP vision tower (model_type `clip_vision_model` / `clip`; transformers
//! `modeling_clip.py`): patch embedding (Conv2d without bias), `class_embedding`,
//! `position_embedding`, `pre_layrnorm`, pre-LayerNorm blocks (`layer_norm1` → self-attention
//! with `q/k/v/out_proj` → residual, `layer_norm2` → `mlp.fc1` → quick_gelu → `mlp.fc2` →
//! residual), `post_layernorm` on the pooled token, optional `visual_projection` (no bias).
//! Same names and outputs as `marnet_extract`'s `ClipVisionEncoder`, differentiable.

use super::layers::{attention, linear, Act, Norm};
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use marnet_extract::encoders::pooling as pool;
use marnet_extract::model_config::ClipVisionCfg;
use marnet_extract::{ImageEncoder, Pooling};

struct Block {
    ln1: Norm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln2: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// The trainable CLIP image encoder.
pub struct TrainClip {
    patch_w: Tensor,
    class: Tensor,
    pos: Tensor,
    pre_ln: Norm,
    blocks: Vec<Block>,
    post_ln: Norm,
    projection: Option<Linear>,
    heads: usize,
    patch: usize,
    image_size: usize,
    hidden: usize,
    dim: usize,
    pooling: Pooling,
}

impl TrainClip {
    /// `tower` is rooted at the vision tower (HF `vision_model.`); `projection`, when given,
    /// holds `weight` `(projection_dim, hidden_size)`.
    pub fn new(
        cfg: &ClipVisionCfg,
        pooling: Pooling,
        tower: VarBuilder,
        projection: Option<VarBuilder>,
    ) -> Result<Self> {
        let h = cfg.hidden_size;
        let e = tower.pp("embeddings");
        let n = (cfg.image_size / cfg.patch_size).pow(2);
        let eps = cfg.layer_norm_eps;
        let mut blocks = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = tower.pp(format!("encoder.layers.{i}"));
            let a = l.pp("self_attn");
            blocks.push(Block {
                ln1: Norm::new(h, eps, l.pp("layer_norm1"))?,
                q: linear(a.pp("q_proj"), h, h, true)?,
                k: linear(a.pp("k_proj"), h, h, true)?,
                v: linear(a.pp("v_proj"), h, h, true)?,
                out: linear(a.pp("out_proj"), h, h, true)?,
                ln2: Norm::new(h, eps, l.pp("layer_norm2"))?,
                fc1: linear(l.pp("mlp.fc1"), h, cfg.intermediate_size, true)?,
                fc2: linear(l.pp("mlp.fc2"), cfg.intermediate_size, h, true)?,
            });
        }
        let projection = projection.map(|vb| linear(vb, h, cfg.projection_dim, false)).transpose()?;
        let projected = projection.is_some() && pooling != Pooling::PoolerOutput;
        let dim = if projected { cfg.projection_dim } else { h };
        Ok(Self {
            patch_w: e.get((h, cfg.num_channels, cfg.patch_size, cfg.patch_size), "patch_embedding.weight")?,
            class: e.get(h, "class_embedding")?,
            pos: e.get((n + 1, h), "position_embedding.weight")?,
            pre_ln: Norm::new(h, eps, tower.pp("pre_layrnorm"))?,
            blocks,
            post_ln: Norm::new(h, eps, tower.pp("post_layernorm"))?,
            projection,
            heads: cfg.num_attention_heads,
            patch: cfg.patch_size,
            image_size: cfg.image_size,
            hidden: h,
            dim,
            pooling,
        })
    }
}

impl ImageEncoder for TrainClip {
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (b, _, hh, ww) = pixel_values.dims4()?;
        if hh != self.image_size || ww != self.image_size {
            candle_core::bail!("clip expects {0}x{0} pixel_values, got {hh}x{ww}", self.image_size);
        }
        let x = pixel_values.to_dtype(self.class.dtype())?;
        let p = x.conv2d(&self.patch_w, 0, self.patch, 1, 1)?.flatten_from(2)?.transpose(1, 2)?;
        let cls = self.class.reshape((1, 1, self.hidden))?.broadcast_as((b, 1, self.hidden))?;
        let x = Tensor::cat(&[&cls, &p], 1)?.broadcast_add(&self.pos.unsqueeze(0)?)?;
        let mut x = self.pre_ln.forward(&x)?;
        for blk in &self.blocks {
            let y = blk.ln1.forward(&x)?;
            let a = attention(&blk.q.forward(&y)?, &blk.k.forward(&y)?, &blk.v.forward(&y)?, self.heads, None)?;
            x = (x + blk.out.forward(&a)?)?;
            let y = Act::QuickGelu.apply(&blk.fc1.forward(&blk.ln2.forward(&x)?)?)?;
            x = (x + blk.fc2.forward(&y)?)?;
        }
        Ok(x)
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?;
        let token = match self.pooling {
            Pooling::Mean => pool::mean_patches(&h)?.to_dtype(h.dtype())?,
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => pool::cls(&h)?,
        };
        let pooled = self.post_ln.forward(&token)?; // pooler_output
        let out = match (&self.projection, self.pooling) {
            (Some(p), Pooling::Cls | Pooling::Mean | Pooling::ImageEmbeds | Pooling::ClsMean) => p.forward(&pooled)?,
            _ => pooled,
        };
        out.to_dtype(DType::F32)
    }

    fn dim(&self) -> usize {
        self.dim
    }
}
