//! HF `ViTModel` (model_type `vit`) as an image encoder: candle-transformers'
//! `vit::Embeddings` + `vit::Encoder` + the final `layernorm` (DESIGN.md sections 5 and 8;
//! `vit::Model` itself needs `classifier.*` and returns logits). The `pooler` is not used:
//! `cls` pooling is `last_hidden_state[:, 0]` after the final LayerNorm.
//!
//! A ViT layer is the pre-LayerNorm layer of DINOv2 without layer scale (transformers 4.46
//! `ViTLayer`: `x += attention(layernorm_before(x))`, `x += output(act(intermediate(
//! layernorm_after(x))))`), so under `--dtype bf16` on the CPU the layers run on the shared
//! host layers of [`super::prenorm`] with bf16 Linear products ([`VitEncoder::new_bf16_host`]);
//! the patch embedding (a candle f32 conv2d), the final `layernorm` and pooling stay f32.

use super::pooling::{self, Pooling};
use super::prenorm::{LayerNames, LayerSpec, Mlp, TowerLayers};
use super::ImageEncoder;
use crate::model_config::Activation;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{layer_norm, LayerNorm, VarBuilder};
use candle_transformers::models::vit;

/// HF `ViTLayer` tensor names under `encoder.`.
const NAMES: LayerNames = LayerNames {
    layers: "layer",
    norm1: "layernorm_before",
    qkv: ["attention.attention.query", "attention.attention.key", "attention.attention.value"],
    out_proj: "attention.output.dense",
    norm2: "layernorm_after",
    layer_scale: None,
};

/// The layer stack of a ViT config for the host layers. Errors for a `hidden_act` they lack
/// (they run `gelu` and the tanh GELUs; relu or silu ViTs stay on candle's ops in f32).
pub fn layer_spec(cfg: &vit::Config) -> Result<LayerSpec> {
    let act = match cfg.hidden_act {
        candle_nn::Activation::Gelu => Activation::GeluErf,
        candle_nn::Activation::NewGelu | candle_nn::Activation::GeluPytorchTanh => Activation::GeluTanh,
        other => candle_core::bail!("vit hidden_act {other:?}: the bf16 host layers run gelu and gelu_new; use f32"),
    };
    Ok(LayerSpec {
        hidden: cfg.hidden_size,
        heads: cfg.num_attention_heads,
        num_layers: cfg.num_hidden_layers,
        eps: cfg.layer_norm_eps,
        qkv_bias: cfg.qkv_bias,
        mlp: Mlp::Plain { fc1: "intermediate.dense", fc2: "output.dense", intermediate: cfg.intermediate_size, act },
        names: NAMES,
    })
}

/// The encoder layers: candle-transformers' (any device and dtype) or the host layers with
/// bf16 products (CPU).
enum Layers {
    Candle(vit::Encoder),
    Host(TowerLayers),
}

/// ViT encoder; weights under `embeddings.*`, `encoder.layer.N.*`, `layernorm.*` of `vb`.
pub struct VitEncoder {
    embeddings: vit::Embeddings,
    encoder: Layers,
    layernorm: LayerNorm,
    pooling: Pooling,
    hidden_size: usize,
    image_size: usize,
}

impl VitEncoder {
    /// Builds the encoder from any `VarBuilder` rooted at the ViTModel (strip a `vit.` prefix
    /// with `vb.pp("vit")` first); a VarMap-backed builder makes it trainable.
    pub fn new(cfg: &vit::Config, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        let encoder = Layers::Candle(vit::Encoder::new(cfg, vb.pp("encoder"))?);
        Self::with_layers(cfg, pooling, vb, encoder)
    }

    /// [`VitEncoder::new`] with the encoder layers on the host layers, their Linear products in
    /// bf16 (weights rounded and packed once here, inputs rounded per product, f32
    /// accumulation; [`TowerLayers::pack_bf16`]). `vb` must give CPU f32 tensors. Errors: as
    /// [`VitEncoder::new`], and a `hidden_act` other than the GELUs ([`layer_spec`]).
    pub fn new_bf16_host(cfg: &vit::Config, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        let mut layers = TowerLayers::new(vb.pp("encoder"), &layer_spec(cfg)?)?;
        layers.pack_bf16()?;
        Self::with_layers(cfg, pooling, vb, Layers::Host(layers))
    }

    fn with_layers(cfg: &vit::Config, pooling: Pooling, vb: VarBuilder, encoder: Layers) -> Result<Self> {
        Ok(VitEncoder {
            embeddings: vit::Embeddings::new(cfg, false, vb.pp("embeddings"))?,
            encoder,
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
        let x = match &self.encoder {
            Layers::Candle(enc) => enc.forward(&x)?,
            Layers::Host(enc) => enc.forward(&x)?,
        };
        x.apply(&self.layernorm)
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;

    /// The host layers under the ViT names (f32, then bf16 products) against candle-transformers'
    /// `vit::Encoder` (an independent implementation of HF's `ViTLayer`) with the same random
    /// weights: 2 layers, hidden 64 in 4 heads, intermediate 96, exact GELU, 3 images of 50
    /// tokens.
    #[test]
    fn host_layers_match_candle_transformers_vit_encoder() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = vit::Config {
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 96,
            hidden_act: candle_nn::Activation::Gelu,
            layer_norm_eps: 1e-12,
            image_size: 56,
            patch_size: 8,
            num_channels: 3,
            qkv_bias: true,
        };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        let reference = vit::Encoder::new(&cfg, vb.clone())?;
        for (name, var) in map.data().lock().expect("varmap").iter() {
            if name.contains("layernorm") {
                var.set(&var.as_tensor().rand_like(0.5, 1.5)?)?;
            } else if name.ends_with("bias") {
                var.set(&var.as_tensor().randn_like(0.0, 0.5)?)?;
            }
        }
        let mut ours = TowerLayers::new(vb, &layer_spec(&cfg)?)?;
        let x = Tensor::randn(0f32, 1.0, (3, 50, 64), &dev)?;
        let want = reference.forward(&x)?;
        let scale = want.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?.max(1.0);
        let diff = |got: &Tensor| -> Result<f32> { (got - &want)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>() };
        let d32 = diff(&ours.forward(&x)?)?;
        assert!(d32 <= 2e-5 * scale, "f32 max diff {d32} (largest value {scale})");
        ours.pack_bf16()?;
        // bf16 inputs carry 8 significant bits: visibly different from f32, still close.
        let d16 = diff(&ours.forward(&x)?)?;
        assert!(d16 > 1e-6 && d16 <= 0.05 * scale, "bf16 max diff {d16} (largest value {scale})");
        Ok(())
    }

    /// `hidden_act` relu has no host-layer kernel: refused with the activation named.
    #[test]
    fn relu_vit_has_no_bf16_host_layers() {
        let cfg = vit::Config { hidden_act: candle_nn::Activation::Relu, ..vit::Config::vit_base_patch16_224() };
        let err = layer_spec(&cfg).expect_err("relu refused").to_string();
        assert!(err.contains("Relu") && err.contains("use f32"), "{err}");
    }
}
