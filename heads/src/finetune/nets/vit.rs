//! Trainable HF `ViTModel` (model_type `vit`; transformers `modeling_vit.py`): patch embedding
//! (Conv2d, stride = patch), `[CLS]` token and absolute position embeddings, pre-LayerNorm
//! blocks (`layernorm_before` → self-attention → residual, `layernorm_after` → MLP → residual),
//! final `layernorm`. Same tensor names and outputs as `marnet_extract`'s `VitEncoder`, built
//! from differentiable ops ([`super::layers`]).

use super::layers::{attention, linear, Act, Norm};
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::vit::Config;
use marnet_extract::encoders::pooling as pool;
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

/// The trainable ViT.
pub struct TrainViT {
    patch_w: Tensor,
    patch_b: Tensor,
    cls: Tensor,
    pos: Tensor,
    blocks: Vec<Block>,
    final_ln: Norm,
    act: Act,
    heads: usize,
    patch: usize,
    image_size: usize,
    hidden: usize,
    pooling: Pooling,
}

/// Maps candle's ViT activation onto [`Act`].
fn act_of(a: candle_nn::Activation) -> Result<Act> {
    use candle_nn::Activation as A;
    Ok(match a {
        A::Gelu => Act::GeluErf,
        A::GeluPytorchTanh | A::NewGelu => Act::GeluTanh,
        A::Relu => Act::Relu,
        A::Silu => Act::Silu,
        other => candle_core::bail!("vit hidden_act {other:?} is not supported for fine-tuning"),
    })
}

impl TrainViT {
    /// Reads the weights under `vb` (rooted at the ViTModel: `embeddings.*`, `encoder.layer.N.*`,
    /// `layernorm.*`).
    pub fn new(cfg: &Config, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let e = vb.pp("embeddings");
        let n = (cfg.image_size / cfg.patch_size).pow(2);
        let pe = e.pp("patch_embeddings").pp("projection");
        let mut blocks = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            blocks.push(Block {
                ln1: Norm::new(h, cfg.layer_norm_eps, l.pp("layernorm_before"))?,
                q: linear(a.pp("attention.query"), h, h, cfg.qkv_bias)?,
                k: linear(a.pp("attention.key"), h, h, cfg.qkv_bias)?,
                v: linear(a.pp("attention.value"), h, h, cfg.qkv_bias)?,
                out: linear(a.pp("output.dense"), h, h, true)?,
                ln2: Norm::new(h, cfg.layer_norm_eps, l.pp("layernorm_after"))?,
                fc1: linear(l.pp("intermediate.dense"), h, cfg.intermediate_size, true)?,
                fc2: linear(l.pp("output.dense"), cfg.intermediate_size, h, true)?,
            });
        }
        Ok(Self {
            patch_w: pe.get((h, cfg.num_channels, cfg.patch_size, cfg.patch_size), "weight")?,
            patch_b: pe.get(h, "bias")?,
            cls: e.get((1, 1, h), "cls_token")?,
            pos: e.get((1, n + 1, h), "position_embeddings")?,
            blocks,
            final_ln: Norm::new(h, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            act: act_of(cfg.hidden_act)?,
            heads: cfg.num_attention_heads,
            patch: cfg.patch_size,
            image_size: cfg.image_size,
            hidden: h,
            pooling,
        })
    }
}

impl ImageEncoder for TrainViT {
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (b, _, hh, ww) = pixel_values.dims4()?;
        if hh != self.image_size || ww != self.image_size {
            candle_core::bail!("vit expects {0}x{0} pixel_values, got {hh}x{ww}", self.image_size);
        }
        let x = pixel_values.to_dtype(self.cls.dtype())?;
        let p = x.conv2d(&self.patch_w, 0, self.patch, 1, 1)?.broadcast_add(&self.patch_b.reshape((
            1,
            self.hidden,
            1,
            1,
        ))?)?;
        let p = p.flatten_from(2)?.transpose(1, 2)?;
        let cls = self.cls.broadcast_as((b, 1, self.hidden))?;
        let mut x = Tensor::cat(&[&cls, &p], 1)?.broadcast_add(&self.pos)?;
        for blk in &self.blocks {
            let y = blk.ln1.forward(&x)?;
            let a = attention(&blk.q.forward(&y)?, &blk.k.forward(&y)?, &blk.v.forward(&y)?, self.heads, None)?;
            x = (x + blk.out.forward(&a)?)?;
            let y = self.act.apply(&blk.fc1.forward(&blk.ln2.forward(&x)?)?)?;
            x = (x + blk.fc2.forward(&y)?)?;
        }
        self.final_ln.forward(&x)
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?;
        match self.pooling {
            Pooling::Mean => pool::mean_patches(&h),
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => {
                pool::cls(&h)?.to_dtype(DType::F32)
            }
        }
    }

    fn dim(&self) -> usize {
        self.hidden
    }
}
