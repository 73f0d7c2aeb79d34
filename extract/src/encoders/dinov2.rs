//! HF `Dinov2Model` (model_type `dinov2`; Oquab et al. 2023, "DINOv2: Learning Robust Visual
//! Features without Supervision") as an image encoder, transformers 4.46 `modeling_dinov2.py`
//! names: `embeddings.{cls_token, mask_token, position_embeddings,
//! patch_embeddings.projection}`, `encoder.layer.N.{norm1, attention.attention.{query, key,
//! value}, attention.output.dense, layer_scale1.lambda1, norm2, mlp.{fc1, fc2} (or
//! mlp.{weights_in, weights_out} with use_swiglu_ffn), layer_scale2.lambda1}`, `layernorm`.
//!
//! Any input size is accepted: the position embeddings are resampled from the checkpoint's grid
//! (`image_size / patch_size`, 37 for the hub's 518-pixel models) to the input's
//! ([`super::pos_interp`], exactly as `interpolate_pos_encoding`), so the hub models' 224-pixel
//! preprocessing runs a 16×16 grid. `last_hidden_state` is after the final `layernorm`; HF's
//! `pooler_output` is its class token (`cls`, the default); `mean` averages the patch tokens;
//! `cls_mean` concatenates both (`2·hidden_size`). `mask_token` is unused (no masking at
//! inference).

use super::pooling::{self, Pooling};
use super::pos_interp::bicubic;
use super::prenorm::{LayerNames, LayerSpec, Mlp, TowerLayers};
use super::ImageEncoder;
use crate::model_config::Dinov2Cfg;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{conv2d, layer_norm, Conv2d, Conv2dConfig, LayerNorm, VarBuilder};
use std::sync::Mutex;

const NAMES: LayerNames = LayerNames {
    layers: "layer",
    norm1: "norm1",
    qkv: ["attention.attention.query", "attention.attention.key", "attention.attention.value"],
    out_proj: "attention.output.dense",
    norm2: "norm2",
    layer_scale: Some(("layer_scale1.lambda1", "layer_scale2.lambda1")),
};

/// DINOv2 image encoder.
pub struct Dinov2Encoder {
    /// `(hidden, channels, patch, patch)` with bias.
    patch_embeddings: Conv2d,
    /// `(1, 1, hidden)` in the model dtype.
    cls_token: Tensor,
    /// The checkpoint's position table `(1 + grid², hidden)` in f32 on the host (resampled there).
    positions: Vec<f32>,
    /// The position table last used, for an input grid `(rows, cols)`: `(1 + rows·cols, hidden)`
    /// in the model dtype on the model device.
    resampled: Mutex<Option<((usize, usize), Tensor)>>,
    layers: TowerLayers,
    layernorm: LayerNorm,
    pooling: Pooling,
    hidden: usize,
    grid: usize,
    patch: usize,
    channels: usize,
}

/// The layer stack of a DINOv2 config (names under `encoder.`).
pub fn layer_spec(cfg: &Dinov2Cfg) -> LayerSpec {
    let mlp = if cfg.use_swiglu_ffn {
        Mlp::SwiGlu { weights_in: "mlp.weights_in", weights_out: "mlp.weights_out", inner: cfg.swiglu_hidden() }
    } else {
        Mlp::Plain { fc1: "mlp.fc1", fc2: "mlp.fc2", intermediate: cfg.intermediate_size, act: cfg.hidden_act }
    };
    LayerSpec {
        hidden: cfg.hidden_size,
        heads: cfg.num_attention_heads,
        num_layers: cfg.num_hidden_layers,
        eps: cfg.layer_norm_eps,
        qkv_bias: cfg.qkv_bias,
        mlp,
        names: NAMES,
    }
}

impl Dinov2Encoder {
    /// Runs the encoder layers' Linear products in bf16 on the host kernels
    /// ([`super::prenorm::TowerLayers::pack_bf16`]). Errors when the weights are not CPU f32.
    pub fn with_bf16_products(mut self) -> Result<Self> {
        self.layers.pack_bf16()?;
        Ok(self)
    }

    /// Builds the encoder from a `VarBuilder` rooted at the `Dinov2Model` (`embeddings.*`,
    /// `encoder.*`, `layernorm.*`). Errors: missing or mis-shaped tensors (named by candle).
    pub fn new(cfg: &Dinov2Cfg, pooling: Pooling, vb: VarBuilder) -> Result<Self> {
        let (d, grid) = (cfg.hidden_size, cfg.grid());
        if grid == 0 {
            candle_core::bail!("dinov2 image_size {} is smaller than patch_size {}", cfg.image_size, cfg.patch_size);
        }
        let emb = vb.pp("embeddings");
        let conv = Conv2dConfig { stride: cfg.patch_size, ..Default::default() };
        let positions = emb.get((1, 1 + grid * grid, d), "position_embeddings")?;
        Ok(Dinov2Encoder {
            patch_embeddings: conv2d(cfg.num_channels, d, cfg.patch_size, conv, emb.pp("patch_embeddings.projection"))?,
            cls_token: emb.get((1, 1, d), "cls_token")?,
            positions: positions.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?,
            resampled: Mutex::new(None),
            layers: TowerLayers::new(vb.pp("encoder"), &layer_spec(cfg))?,
            layernorm: layer_norm(d, cfg.layer_norm_eps, vb.pp("layernorm"))?,
            pooling,
            hidden: d,
            grid,
            patch: cfg.patch_size,
            channels: cfg.num_channels,
        })
    }

    /// The position table for pixel size `(h, w)`: the checkpoint's when its patch count matches
    /// and the input is square (transformers' condition), else the class position followed by the
    /// patch grid resampled to `(h / patch, w / patch)`. `(1 + patches, hidden)`.
    fn position_table(&self, (h, w): (usize, usize), dtype: DType, device: &candle_core::Device) -> Result<Tensor> {
        let (rows, cols) = (h / self.patch, w / self.patch);
        let mut cached =
            self.resampled.lock().map_err(|_| candle_core::Error::Msg("position cache poisoned".into()))?;
        if let Some((key, t)) = cached.as_ref() {
            if *key == (rows, cols) && t.device().same_device(device) && t.dtype() == dtype {
                return Ok(t.clone());
            }
        }
        let d = self.hidden;
        let table = if rows * cols == self.grid * self.grid && h == w {
            self.positions.clone()
        } else {
            let mut t = self.positions[..d].to_vec();
            t.extend(bicubic(&self.positions[d..], d, (self.grid, self.grid), (rows, cols)));
            t
        };
        let t = Tensor::from_vec(table, (1 + rows * cols, d), device)?.to_dtype(dtype)?;
        *cached = Some(((rows, cols), t.clone()));
        Ok(t)
    }

    /// `(batch, channels, H, W)` → embeddings `(batch, 1 + patches, hidden)`.
    fn embed_patches(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let (batch, c, h, w) = pixel_values.dims4()?;
        if c != self.channels || h < self.patch || w < self.patch {
            candle_core::bail!(
                "dinov2 expects ({}, >= {p}, >= {p}) pixel_values, got ({c}, {h}, {w})",
                self.channels,
                p = self.patch
            );
        }
        let dtype = self.layernorm.weight().dtype();
        let patches =
            self.patch_embeddings.forward(&pixel_values.to_dtype(dtype)?)?.flatten_from(2)?.transpose(1, 2)?;
        let cls = self.cls_token.expand((batch, 1, self.hidden))?;
        let positions = self.position_table((h, w), dtype, pixel_values.device())?;
        Tensor::cat(&[cls, patches], 1)?.broadcast_add(&positions)
    }
}

impl ImageEncoder for Dinov2Encoder {
    fn last_hidden_state(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let x = self.embed_patches(pixel_values)?;
        self.layers.forward(&x)?.apply(&self.layernorm)
    }

    fn embed(&self, pixel_values: &Tensor) -> Result<Tensor> {
        let h = self.last_hidden_state(pixel_values)?;
        match self.pooling {
            Pooling::Mean => pooling::mean_patches(&h),
            Pooling::ClsMean => pooling::cls_mean(&h),
            // pooler_output is resolved to cls at load time; image_embeds is refused there.
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds => pooling::cls(&h)?.to_dtype(DType::F32),
        }
    }

    fn dim(&self) -> usize {
        if self.pooling == Pooling::ClsMean {
            2 * self.hidden
        } else {
            self.hidden
        }
    }
}
