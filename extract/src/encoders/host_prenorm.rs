//! The pre-LayerNorm layers of [`super::prenorm`] (DINOv2, SigLIP) on the host kernels of
//! [`super::host_ops`] and [`super::host_act`], for CPU f32 (Linear products optionally in bf16, [`HostLayers::pack_bf16`]): per layer 4 gemm calls (q, k, v
//! fused into one `(hidden, 3·hidden)` product), the attention with one task per
//! `(image, head)`, and one parallel pass each for the LayerNorms and the activation.
//!
//! A layer scale `ls ⊙ (x·W + b)` is folded into the Linear before it at load time (columns of
//! `W` and `b` multiplied by `ls`), which rounds differently from PyTorch's separate multiply in
//! the last bits only (parity tests hold at 1e-4).

use super::host_act::{gelu_erf_in_place, gelu_tanh_in_place, swiglu};
use super::host_ops::{attention, quick_gelu_in_place, Dense, Norm};
use super::prenorm::{LayerSpec, Mlp};
use crate::model_config::Activation;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

struct Layer {
    norm1: Norm,
    qkv: Dense,
    out_proj: Dense,
    norm2: Norm,
    w_in: Dense,
    w_out: Dense,
}

/// The layers with host-side f32 weights.
pub struct HostLayers {
    layers: Vec<Layer>,
    spec: LayerSpec,
    head_dim: usize,
}

/// HF Linear layers `names` under `vb` (`weight` `(d_out, d_in)`, `bias` `(d_out,)` or none when
/// `bias` is false) as one [`Dense`] with their outputs side by side, output columns multiplied
/// by `scale` `(d_out,)` when given.
pub(crate) fn dense(
    vb: &VarBuilder,
    names: &[&str],
    d_in: usize,
    d_out: usize,
    bias: bool,
    scale: Option<&[f32]>,
) -> Result<Dense> {
    let mut ws = Vec::with_capacity(names.len());
    let mut bs = Vec::with_capacity(names.len() * d_out);
    for name in names {
        ws.push(vb.get((d_out, d_in), &format!("{name}.weight"))?.t()?); // (d_in, d_out)
        if bias {
            bs.extend(vb.get(d_out, &format!("{name}.bias"))?.to_vec1::<f32>()?);
        } else {
            bs.extend(std::iter::repeat_n(0f32, d_out));
        }
    }
    let mut w = Tensor::cat(&ws, 1)?.contiguous()?.flatten_all()?.to_vec1::<f32>()?; // (d_in, names·d_out)
    if let Some(s) = scale {
        w.chunks_mut(s.len()).for_each(|row| row.iter_mut().zip(s).for_each(|(w, s)| *w *= s));
        bs.iter_mut().zip(s).for_each(|(b, s)| *b *= s);
    }
    Ok(Dense { w, b: bs, packed: None, d_in, d_out: names.len() * d_out })
}

fn norm(vb: VarBuilder, d: usize, eps: f64) -> Result<Norm> {
    Ok(Norm {
        gamma: vb.get(d, "weight")?.to_vec1::<f32>()?,
        beta: vb.get(d, "bias")?.to_vec1::<f32>()?,
        eps: eps as f32,
    })
}

impl HostLayers {
    /// Reads the layers under `vb` (the encoder; must give f32 tensors). Errors: missing or
    /// mis-shaped tensors (named by candle), `hidden` not divisible by `heads`.
    pub fn new(vb: VarBuilder, spec: &LayerSpec) -> Result<Self> {
        let (d, n) = (spec.hidden, spec.names);
        let head_dim = spec.head_dim()?;
        let layers = (0..spec.num_layers)
            .map(|i| {
                let vb = vb.pp(n.layers).pp(i.to_string());
                let (ls1, ls2) = match n.layer_scale {
                    Some((a, b)) => (Some(vb.get(d, a)?.to_vec1::<f32>()?), Some(vb.get(d, b)?.to_vec1::<f32>()?)),
                    None => (None, None),
                };
                let (w_in, w_out) = match spec.mlp {
                    Mlp::Plain { fc1, fc2, intermediate, .. } => (
                        dense(&vb, &[fc1], d, intermediate, true, None)?,
                        dense(&vb, &[fc2], intermediate, d, true, ls2.as_deref())?,
                    ),
                    Mlp::SwiGlu { weights_in, weights_out, inner } => (
                        dense(&vb, &[weights_in], d, 2 * inner, true, None)?,
                        dense(&vb, &[weights_out], inner, d, true, ls2.as_deref())?,
                    ),
                };
                Ok(Layer {
                    norm1: norm(vb.pp(n.norm1), d, spec.eps)?,
                    qkv: dense(&vb, &n.qkv, d, d, spec.qkv_bias, None)?,
                    out_proj: dense(&vb, &[n.out_proj], d, d, true, ls1.as_deref())?,
                    norm2: norm(vb.pp(n.norm2), d, spec.eps)?,
                    w_in,
                    w_out,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HostLayers { layers, spec: *spec, head_dim })
    }

    /// Moves every layer's Linear products to bf16 ([`Dense::pack_bf16`]: bf16 weights and
    /// inputs, f32 accumulation); norms, activations, attention and the residual stay f32.
    pub fn pack_bf16(&mut self) {
        for l in &mut self.layers {
            for d in [&mut l.qkv, &mut l.out_proj, &mut l.w_in, &mut l.w_out] {
                d.pack_bf16();
            }
        }
    }

    /// `hidden_states` `(batch, tokens, hidden)` f32 on the CPU → the last layer's output.
    pub fn forward(&self, hidden_states: &Tensor) -> Result<Tensor> {
        let (batch, tokens, d) = hidden_states.dims3()?;
        if d != self.spec.hidden {
            candle_core::bail!("encoder: hidden width {d}, expected {}", self.spec.hidden);
        }
        let rows = batch * tokens;
        let mut x = hidden_states.flatten_all()?.to_vec1::<f32>()?; // (rows, d)
        for l in &self.layers {
            let h = l.norm1.forward(&x);
            let qkv = l.qkv.forward(&h, rows, None); // (rows, 3d)
            let a = attention(&qkv, batch, tokens, self.spec.heads, self.head_dim); // (rows, d)
            x = l.out_proj.forward(&a, rows, Some(&x));
            let h = l.norm2.forward(&x);
            let mut f = l.w_in.forward(&h, rows, None); // (rows, intermediate or 2·inner)
            let f = match self.spec.mlp {
                Mlp::Plain { act, .. } => {
                    match act {
                        Activation::GeluErf => gelu_erf_in_place(&mut f),
                        Activation::GeluTanh => gelu_tanh_in_place(&mut f),
                        Activation::QuickGelu => quick_gelu_in_place(&mut f),
                    }
                    f
                }
                Mlp::SwiGlu { inner, .. } => swiglu(&f, inner),
            };
            x = l.w_out.forward(&f, rows, Some(&x));
        }
        Tensor::from_vec(x, (batch, tokens, d), hidden_states.device())
    }
}
