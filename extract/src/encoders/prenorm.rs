//! The pre-LayerNorm transformer layers shared by the DINOv2 and SigLIP image towers
//! (transformers 4.46 `Dinov2Layer`, `SiglipEncoderLayer`): for each layer
//! `x += ls1 ⊙ out_proj(attention(norm1(x)))`, `x += ls2 ⊙ mlp(norm2(x))`, where the layer scales
//! `ls` (DINOv2's `layer_scaleN.lambda1`) are 1 for SigLIP, and the MLP is `fc2(act(fc1(h)))` or
//! DINOv2's SwiGLU `weights_out(silu(a) ⊙ b)` with `[a | b] = weights_in(h)`.
//!
//! [`TowerLayers`] picks the implementation: the host kernels of [`super::host_prenorm`] for CPU
//! f32, candle ops ([`CandleLayers`]) otherwise (CUDA, f16, bf16).

use super::host_prenorm::HostLayers;
use crate::model_config::Activation;
use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{layer_norm, linear, linear_no_bias, LayerNorm, Linear, VarBuilder};

/// Tensor names of one architecture's layers, relative to its encoder.
#[derive(Debug, Clone, Copy)]
pub struct LayerNames {
    /// Prefix of layer `N`: `layer` (DINOv2, `encoder.layer.N`) or `layers` (SigLIP).
    pub layers: &'static str,
    pub norm1: &'static str,
    /// Query, key, value projections.
    pub qkv: [&'static str; 3],
    pub out_proj: &'static str,
    pub norm2: &'static str,
    /// `Some((ls1, ls2))` for layer scale (names of the `(hidden,)` vectors).
    pub layer_scale: Option<(&'static str, &'static str)>,
}

/// The MLP of a layer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mlp {
    /// `fc2(act(fc1(h)))`, `fc1` `(intermediate, hidden)`.
    Plain { fc1: &'static str, fc2: &'static str, intermediate: usize, act: Activation },
    /// `weights_out(silu(a) ⊙ b)`, `[a | b] = weights_in(h)`, `weights_in` `(2·inner, hidden)`.
    SwiGlu { weights_in: &'static str, weights_out: &'static str, inner: usize },
}

/// Shape and names of a layer stack.
#[derive(Debug, Clone, Copy)]
pub struct LayerSpec {
    pub hidden: usize,
    pub heads: usize,
    pub num_layers: usize,
    pub eps: f64,
    /// Whether the q/k/v projections have biases (DINOv2 `qkv_bias`).
    pub qkv_bias: bool,
    pub mlp: Mlp,
    pub names: LayerNames,
}

impl LayerSpec {
    /// `hidden / heads`. Errors when `hidden` is not divisible by `heads`.
    pub fn head_dim(&self) -> Result<usize> {
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            candle_core::bail!("hidden_size {} is not divisible by num_attention_heads {}", self.hidden, self.heads);
        }
        Ok(self.hidden / self.heads)
    }
}

/// The exact activation in candle ops.
fn activate(x: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::GeluErf => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
        Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
    }
}

struct CandleMlp {
    w_in: Linear,
    w_out: Linear,
    kind: Mlp,
}

struct CandleLayer {
    norm1: LayerNorm,
    qkv: [Linear; 3],
    out_proj: Linear,
    norm2: LayerNorm,
    mlp: CandleMlp,
    /// `(ls1, ls2)`, each `(hidden,)`.
    layer_scale: Option<(Tensor, Tensor)>,
}

/// The layers in candle ops (any device and dtype).
pub struct CandleLayers {
    layers: Vec<CandleLayer>,
    heads: usize,
    head_dim: usize,
}

impl CandleLayers {
    /// Reads the layers under `vb` (the encoder). Errors: missing or mis-shaped tensors.
    pub fn new(vb: VarBuilder, spec: &LayerSpec) -> Result<Self> {
        let (d, n) = (spec.hidden, spec.names);
        let head_dim = spec.head_dim()?;
        let layers = (0..spec.num_layers)
            .map(|i| {
                let vb = vb.pp(n.layers).pp(i.to_string());
                let proj = |name: &str| {
                    if spec.qkv_bias {
                        linear(d, d, vb.pp(name))
                    } else {
                        linear_no_bias(d, d, vb.pp(name))
                    }
                };
                let mlp = match spec.mlp {
                    Mlp::Plain { fc1, fc2, intermediate, .. } => CandleMlp {
                        w_in: linear(d, intermediate, vb.pp(fc1))?,
                        w_out: linear(intermediate, d, vb.pp(fc2))?,
                        kind: spec.mlp,
                    },
                    Mlp::SwiGlu { weights_in, weights_out, inner } => CandleMlp {
                        w_in: linear(d, 2 * inner, vb.pp(weights_in))?,
                        w_out: linear(inner, d, vb.pp(weights_out))?,
                        kind: spec.mlp,
                    },
                };
                let layer_scale = match n.layer_scale {
                    Some((a, b)) => Some((vb.get(d, a)?, vb.get(d, b)?)),
                    None => None,
                };
                Ok(CandleLayer {
                    norm1: layer_norm(d, spec.eps, vb.pp(n.norm1))?,
                    qkv: [proj(n.qkv[0])?, proj(n.qkv[1])?, proj(n.qkv[2])?],
                    out_proj: linear(d, d, vb.pp(n.out_proj))?,
                    norm2: layer_norm(d, spec.eps, vb.pp(n.norm2))?,
                    mlp,
                    layer_scale,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(CandleLayers { layers, heads: spec.heads, head_dim })
    }

    fn attention(&self, l: &CandleLayer, h: &Tensor) -> Result<Tensor> {
        let (b, t, d) = h.dims3()?;
        let split = |x: Tensor| x.reshape((b, t, self.heads, self.head_dim))?.transpose(1, 2)?.contiguous();
        let q = split(l.qkv[0].forward(h)?)?;
        let k = split(l.qkv[1].forward(h)?)?;
        let v = split(l.qkv[2].forward(h)?)?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let scores = (q.matmul(&k.t()?)? * scale)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.to_dtype(DType::F32)?)?.to_dtype(v.dtype())?;
        let a = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        l.out_proj.forward(&a)
    }

    fn mlp(m: &CandleMlp, h: &Tensor) -> Result<Tensor> {
        let y = m.w_in.forward(h)?;
        let y = match m.kind {
            Mlp::Plain { act, .. } => activate(&y, act)?,
            Mlp::SwiGlu { inner, .. } => {
                (candle_nn::ops::silu(&y.narrow(D::Minus1, 0, inner)?)? * y.narrow(D::Minus1, inner, inner)?)?
            }
        };
        m.w_out.forward(&y)
    }

    /// `x` `(batch, tokens, hidden)` → the last layer's output, same shape and dtype.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for l in &self.layers {
            let mut a = self.attention(l, &l.norm1.forward(&x)?)?;
            if let Some((ls1, _)) = &l.layer_scale {
                a = a.broadcast_mul(ls1)?;
            }
            x = (x + a)?;
            let mut f = Self::mlp(&l.mlp, &l.norm2.forward(&x)?)?;
            if let Some((_, ls2)) = &l.layer_scale {
                f = f.broadcast_mul(ls2)?;
            }
            x = (x + f)?;
        }
        Ok(x)
    }
}

/// The layer stack on the implementation that suits the device and dtype.
pub enum TowerLayers {
    /// CPU f32: [`HostLayers`].
    Host(Box<HostLayers>),
    /// Anything else.
    Candle(CandleLayers),
}

impl TowerLayers {
    /// Host kernels when `vb` is on the CPU in f32, candle ops otherwise.
    pub fn new(vb: VarBuilder, spec: &LayerSpec) -> Result<Self> {
        if vb.device().is_cpu() && vb.dtype() == DType::F32 {
            Ok(TowerLayers::Host(Box::new(HostLayers::new(vb, spec)?)))
        } else {
            Ok(TowerLayers::Candle(CandleLayers::new(vb, spec)?))
        }
    }

    /// Runs the host layers' Linear products in bf16 ([`HostLayers::pack_bf16`]). Errors when
    /// the layers are candle ops (weights not CPU f32).
    pub fn pack_bf16(&mut self) -> Result<()> {
        match self {
            TowerLayers::Host(l) => {
                l.pack_bf16();
                Ok(())
            }
            TowerLayers::Candle(_) => candle_core::bail!("bf16 products need the CPU f32 host layers"),
        }
    }

    /// `x` `(batch, tokens, hidden)` → the last layer's output (contiguous), same shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            TowerLayers::Host(l) => l.forward(&x.contiguous()?),
            TowerLayers::Candle(l) => l.forward(x)?.contiguous(),
        }
    }
}
