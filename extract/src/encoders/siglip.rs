//! HF `SiglipVisionModel` (model_type `siglip_vision_model`, or the vision tower of a full
//! `siglip` checkpoint under `vision_model.`; Zhai et al. 2023, "Sigmoid Loss for Language Image
//! Pre-Training"), transformers 4.46 `modeling_siglip.py` names: `embeddings.patch_embedding`
//! (with bias), `embeddings.position_embedding` (one learned vector per patch, no class token),
//! `encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}`,
//! `post_layernorm`, and the attention-pooling `head.{probe, attention.{in_proj_weight,
//! in_proj_bias, out_proj}, layernorm, mlp}`.
//!
//! `last_hidden_state` is after `post_layernorm` (as HF returns it); `pooler_output` (the
//! default) is the head: one learned query (`probe`) attending over all tokens through
//! `nn.MultiheadAttention`, then `x + mlp(layernorm(x))`; `mean` averages all tokens. Inputs
//! must be `image_size` square (HF's default `interpolate_pos_encoding=False`).

use super::pooling::{self, Pooling};
use super::prenorm::{LayerNames, LayerSpec, Mlp, TowerLayers};
use super::ImageEncoder;
use crate::model_config::SiglipVisionCfg;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{conv2d, layer_norm, linear, Conv2d, Conv2dConfig, LayerNorm, Linear, VarBuilder};

const NAMES: LayerNames = LayerNames {
    layers: "layers",
    norm1: "layer_norm1",
    qkv: ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"],
    out_proj: "self_attn.out_proj",
    norm2: "layer_norm2",
    layer_scale: None,
};

/// `SiglipMultiheadAttentionPoolingHead`.
struct Head {
    /// `(1, 1, hidden)`.
    probe: Tensor,
    /// `in_proj_weight` `(3·hidden, hidden)` split into q, k, v rows, with `in_proj_bias`.
    q: Linear,
    k: Linear,
    v: Linear,
    out_proj: Linear,
    layernorm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    act: crate::model_config::Activation,
}

impl Head {
    fn new(vb: VarBuilder, cfg: &SiglipVisionCfg) -> Result<Self> {
        let d = cfg.hidden_size;
        let att = vb.pp("attention");
        let w = att.get((3 * d, d), "in_proj_weight")?;
        let b = att.get(3 * d, "in_proj_bias")?;
        let part = |i: usize| -> Result<Linear> {
            Ok(Linear::new(w.narrow(0, i * d, d)?.contiguous()?, Some(b.narrow(0, i * d, d)?.contiguous()?)))
        };
        Ok(Head {
            probe: vb.get((1, 1, d), "probe")?,
            q: part(0)?,
            k: part(1)?,
            v: part(2)?,
            out_proj: linear(d, d, att.pp("out_proj"))?,
            layernorm: layer_norm(d, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            fc1: linear(d, cfg.intermediate_size, vb.pp("mlp.fc1"))?,
            fc2: linear(cfg.intermediate_size, d, vb.pp("mlp.fc2"))?,
            heads: cfg.num_attention_heads,
            act: cfg.hidden_act,
        })
    }

    /// `hidden` `(batch, tokens, d)` (after `post_layernorm`) → `pooler_output` `(batch, d)`.
    fn forward(&self, hidden: &Tensor) -> Result<Tensor> {
        let (b, t, d) = hidden.dims3()?;
        let hd = d / self.heads;
        let split = |x: Tensor, n: usize| x.reshape((b, n, self.heads, hd))?.transpose(1, 2)?.contiguous();
        let probe = self.probe.expand((b, 1, d))?.contiguous()?;
        let q = split(self.q.forward(&probe)?, 1)?; // (b, heads, 1, hd)
        let k = split(self.k.forward(hidden)?, t)?;
        let v = split(self.v.forward(hidden)?, t)?;
        let scores = (q.matmul(&k.t()?)? * (hd as f64).powf(-0.5))?; // (b, heads, 1, t)
        let probs = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(v.dtype())?;
        let a = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, 1, d))?;
        let x = self.out_proj.forward(&a)?;
        let h = self.fc1.forward(&self.layernorm.forward(&x)?)?;
        let h = match self.act {
            crate::model_config::Activation::GeluErf => h.gelu_erf()?,
            crate::model_config::Activation::GeluTanh => h.gelu()?,
            crate::model_config::Activation::QuickGelu => (&h * candle_nn::ops::sigmoid(&(&h * 1.702)?)?)?,
        };
        (x + self.fc2.forward(&h)?)?.squeeze(1)
    }
}

/// The layer stack of a SigLIP vision config (names under `encoder.`).
pub fn siglip_layer_spec(cfg: &SiglipVisionCfg) -> LayerSpec {
    LayerSpec {
        hidden: cfg.hidden_size,
        heads: cfg.num_attention_heads,
        num_layers: cfg.num_hidden_layers,
        eps: cfg.layer_norm_eps,
        qkv_bias: true,
        mlp: Mlp::Plain { fc1: "mlp.fc1", fc2: "mlp.fc2", intermediate: cfg.intermediate_size, act: cfg.hidden_act },
        names: NAMES,
    }
}

/// SigLIP vision encoder.
pub struct SiglipVisionEncoder {
    patch_embedding: Conv2d,
    /// `(patches, hidden)`.
    position_embedding: Tensor,
    layers: TowerLayers,
    post_layernorm: LayerNorm,
    head: Option<Head>,
    pooling: Pooling,
    hidden: usize,
    image_size: usize,
}

impl SiglipVisionEncoder {
    /// Runs the encoder layers' Linear products in bf16 on the host kernels
    /// ([`super::prenorm::TowerLayers::pack_bf16`]). Errors when the weights are not CPU f32.
    pub fn with_bf16_products(mut self) -> Result<Self> {
        self.layers.pack_bf16()?;
        Ok(self)
    }

    /// Builds the encoder from a `VarBuilder` rooted at the vision transformer (`embeddings.*`,
    /// `encoder.*`, `post_layernorm.*`, `head.*`; strip a full checkpoint's `vision_model.`
    /// first). `pooling` is `pooler_output` or `mean` (resolved by
    /// [`super::pooling::resolve_pooling`]). Errors: missing or mis-shaped tensors.
    pub fn new(cfg: &SiglipVisionCfg, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        let d = cfg.hidden_size;
        let patches = (cfg.image_size / cfg.patch_size).pow(2);
        let emb = vb.pp("embeddings");
        let conv = Conv2dConfig { stride: cfg.patch_size, ..Default::default() };
        let spec = siglip_layer_spec(cfg);
        spec.head_dim()?;
        let head =
            if cfg.use_head && pooling == Pooling::PoolerOutput { Some(Head::new(vb.pp("head"), cfg)?) } else { None };
        Ok(SiglipVisionEncoder {
            patch_embedding: conv2d(cfg.num_channels, d, cfg.patch_size, conv, emb.pp("patch_embedding"))?,
            position_embedding: emb.get((patches, d), "position_embedding.weight")?,
            layers: TowerLayers::new(vb.pp("encoder"), &spec)?,
            post_layernorm: layer_norm(d, cfg.layer_norm_eps, vb.pp("post_layernorm"))?,
            head,
            pooling,
            hidden: d,
            image_size: cfg.image_size,
        })
    }
}

impl ImageEncoder for SiglipVisionEncoder {
    /// `(batch, patches, hidden)`: SigLIP has no class token.
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (_, _, h, w) = pixel_values.dims4()?;
        if h != self.image_size || w != self.image_size {
            candle_core::bail!("siglip expects {0}x{0} pixel_values, got {h}x{w}", self.image_size);
        }
        let dtype = self.post_layernorm.weight().dtype();
        let x = self.patch_embedding.forward(&pixel_values.to_dtype(dtype)?)?.flatten_from(2)?.transpose(1, 2)?;
        let x = x.broadcast_add(&self.position_embedding)?;
        self.layers.forward(&x)?.apply(&self.post_layernorm)
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?;
        match (&self.head, self.pooling) {
            (Some(head), Pooling::PoolerOutput) => head.forward(&h)?.to_dtype(DType::F32),
            (_, Pooling::Mean) => pooling::mean_all(&h),
            (_, other) => candle_core::bail!("siglip: pooling {other} is not available"),
        }
    }

    fn dim(&self) -> usize {
        self.hidden
    }
}
