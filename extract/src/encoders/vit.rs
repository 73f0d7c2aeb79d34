//! HF `ViTModel` (model_type `vit`) as an image encoder: candle-transformers'
//! `vit::Embeddings` + `vit::Encoder` + the final `layernorm` (DESIGN.md sections 5 and 8;
//! `vit::Model` itself needs `classifier.*` and returns logits). The `pooler` is not used:
//! `cls` pooling is `last_hidden_state[:, 0]` after the final LayerNorm.

use super::pooling::{self, Pooling};
use super::ImageEncoder;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{layer_norm, LayerNorm, VarBuilder};
use candle_transformers::models::vit;

/// ViT encoder; weights under `embeddings.*`, `encoder.layer.N.*`, `layernorm.*` of `vb`.
#[derive(Debug, Clone)]
pub struct VitEncoder {
    embeddings: vit::Embeddings,
    encoder: vit::Encoder,
    layernorm: LayerNorm,
    pooling: Pooling,
    hidden_size: usize,
    image_size: usize,
}

impl VitEncoder {
    /// Builds the encoder from any `VarBuilder` rooted at the ViTModel (strip a `vit.` prefix
    /// with `vb.pp("vit")` first); a VarMap-backed builder makes it trainable.
    pub fn new(cfg: &vit::Config, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        Ok(VitEncoder {
            embeddings: vit::Embeddings::new(cfg, false, vb.pp("embeddings"))?,
            encoder: vit::Encoder::new(cfg, vb.pp("encoder"))?,
            layernorm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            pooling,
            hidden_size: cfg.hidden_size,
            image_size: cfg.image_size,
        })
    }

    fn check_input(&self, pixel_values: &Tensor) -> Result<()> {
        let (_, _, h, w) = pixel_values.dims4()?;
        if h != self.image_size || w != self.image_size {
            candle_core::bail!("vit expects {0}x{0} pixel_values, got {h}x{w}", self.image_size);
        }
        Ok(())
    }
}

impl ImageEncoder for VitEncoder {
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        self.check_input(pixel_values)?;
        let dtype = self.layernorm.weight().dtype();
        let x = self.embeddings.forward(&pixel_values.to_dtype(dtype)?, None, false)?;
        self.encoder.forward(&x)?.apply(&self.layernorm)
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?;
        match self.pooling {
            Pooling::Mean => pooling::mean_patches(&h),
            // pooler_output / image_embeds are CLIP-only and refused for ViT at load time.
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => {
                pooling::cls(&h)?.to_dtype(DType::F32)
            }
        }
    }

    fn dim(&self) -> usize {
        self.hidden_size
    }
}
