//! The CLIP vision encoder stack (HF `CLIPEncoder`: pre-LN layers of self-attention and a
//! QuickGELU MLP, Radford et al. 2021, "Learning Transferable Visual Models From Natural
//! Language Supervision") run with the host kernels of [`super::host_ops`], for CPU f32, and with bf16 products
//! ([`HostClipEncoder::pack_bf16`]) under `--dtype bf16` on CPUs with AVX-512 BF16.
//! candle-transformers' `ClipEncoder` computes the same layers with candle ops and stays the
//! path on CUDA and in f16 ([`super::clip`] picks).
//!
//! Weight names under `encoder.layers.N.` as in HF: `layer_norm1`, `self_attn.{q,k,v}_proj`
//! (fused here into one `(hidden, 3·hidden)` product), `self_attn.out_proj`, `layer_norm2`,
//! `mlp.fc1`, `mlp.fc2`.

use super::host_ops::{attention, quick_gelu_in_place, Dense, Norm};
use crate::model_config::ClipVisionCfg;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

/// One `CLIPEncoderLayer`.
struct Layer {
    layer_norm1: Norm,
    /// `[q_proj | k_proj | v_proj]`: `(hidden, 3·hidden)`.
    qkv: Dense,
    out_proj: Dense,
    layer_norm2: Norm,
    fc1: Dense,
    fc2: Dense,
}

/// The encoder layers of a CLIP vision tower, weights on the host in f32.
pub struct HostClipEncoder {
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
}

/// HF Linear weights `names` (each `weight` `(d_out, d_in)`, `bias` `(d_out,)`) as one
/// [`Dense`] whose output columns are the layers' outputs side by side.
fn dense(vb: &VarBuilder, names: &[&str], d_in: usize, d_out: usize) -> Result<Dense> {
    let mut ws = Vec::with_capacity(names.len());
    let mut bs = Vec::with_capacity(names.len());
    for name in names {
        ws.push(vb.get((d_out, d_in), &format!("{name}.weight"))?.t()?); // (d_in, d_out)
        bs.push(vb.get(d_out, &format!("{name}.bias"))?);
    }
    let w = Tensor::cat(&ws, 1)?.contiguous()?; // (d_in, names·d_out)
    Ok(Dense {
        w: w.flatten_all()?.to_vec1::<f32>()?,
        b: Tensor::cat(&bs, 0)?.to_vec1::<f32>()?,
        packed: None,
        d_in,
        d_out: names.len() * d_out,
    })
}

fn norm(vb: VarBuilder, d: usize, eps: f64) -> Result<Norm> {
    Ok(Norm {
        gamma: vb.get(d, "weight")?.to_vec1::<f32>()?,
        beta: vb.get(d, "bias")?.to_vec1::<f32>()?,
        eps: eps as f32,
    })
}

impl HostClipEncoder {
    /// Reads `layers.0..num_hidden_layers` under `vb` (HF `vision_model.encoder`), which must
    /// give f32 tensors. Errors: a missing or mis-shaped tensor (named by candle), or
    /// `hidden_size` not divisible by `num_attention_heads`.
    pub fn new(vb: VarBuilder, cfg: &ClipVisionCfg) -> Result<Self> {
        let (d, heads) = (cfg.hidden_size, cfg.num_attention_heads);
        if heads == 0 || d % heads != 0 {
            candle_core::bail!("CLIP hidden_size {d} is not divisible by num_attention_heads {heads}");
        }
        let eps = cfg.layer_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp("layers").pp(i.to_string());
                let attn = vb.pp("self_attn");
                Ok(Layer {
                    layer_norm1: norm(vb.pp("layer_norm1"), d, eps)?,
                    qkv: dense(&attn, &["q_proj", "k_proj", "v_proj"], d, d)?,
                    out_proj: dense(&attn, &["out_proj"], d, d)?,
                    layer_norm2: norm(vb.pp("layer_norm2"), d, eps)?,
                    fc1: dense(&vb.pp("mlp"), &["fc1"], d, cfg.intermediate_size)?,
                    fc2: dense(&vb.pp("mlp"), &["fc2"], cfg.intermediate_size, d)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HostClipEncoder { layers, heads, head_dim: d / heads })
    }

    /// Moves every layer's products to bf16 ([`Dense::pack_bf16`]: bf16 weights and inputs, f32
    /// accumulation); LayerNorm, softmax, QuickGELU, the attention products and the residual
    /// stream stay f32.
    pub fn pack_bf16(&mut self) {
        for l in &mut self.layers {
            for d in [&mut l.qkv, &mut l.out_proj, &mut l.fc1, &mut l.fc2] {
                d.pack_bf16();
            }
        }
    }

    /// `hidden_states` `(batch, tokens, hidden)` f32 on the CPU (after `pre_layrnorm`) → the
    /// last layer's output, same shape (HF `last_hidden_state`).
    pub fn forward(&self, hidden_states: &Tensor) -> Result<Tensor> {
        let (batch, tokens, d) = hidden_states.dims3()?;
        if d != self.heads * self.head_dim {
            candle_core::bail!("CLIP encoder: hidden width {d}, expected {}", self.heads * self.head_dim);
        }
        let rows = batch * tokens;
        let mut x = hidden_states.flatten_all()?.to_vec1::<f32>()?; // (rows, d)
        for l in &self.layers {
            let h = l.layer_norm1.forward(&x);
            let qkv = l.qkv.forward(&h, rows, None); // (rows, 3d)
            let a = attention(&qkv, batch, tokens, self.heads, self.head_dim); // (rows, d)
            x = l.out_proj.forward(&a, rows, Some(&x));
            let h = l.layer_norm2.forward(&x);
            let mut f = l.fc1.forward(&h, rows, None); // (rows, intermediate)
            quick_gelu_in_place(&mut f);
            x = l.fc2.forward(&f, rows, Some(&x));
        }
        Tensor::from_vec(x, (batch, tokens, d), hidden_states.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use candle_nn::VarMap;
    use candle_transformers::models::clip::{text_model::ClipEncoder, EncoderConfig};

    /// The host layers against candle-transformers' `ClipEncoder` (an independent implementation
    /// of the same HF layers) with the same random weights: 2 layers, hidden 64 in 4 heads,
    /// 50 tokens (past the 16-lane blocks, with a tail), 3 images.
    #[test]
    fn matches_candle_transformers_clip_encoder() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = ClipVisionCfg {
            hidden_size: 64,
            intermediate_size: 96,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            projection_dim: 8,
            num_channels: 3,
            image_size: 56,
            patch_size: 8,
            layer_norm_eps: 1e-5,
        };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        // Creates every weight (random normal, LayerNorms included so they are not identity).
        let reference = ClipEncoder::new(vb.clone(), &EncoderConfig::Vision(cfg.to_candle()))?;
        for (name, var) in map.data().lock().expect("varmap").iter() {
            if name.contains("layer_norm") {
                var.set(&var.as_tensor().rand_like(0.5, 1.5)?)?;
            } else if name.ends_with("bias") {
                var.set(&var.as_tensor().randn_like(0.0, 0.5)?)?;
            }
        }
        let ours = HostClipEncoder::new(vb, &cfg)?;
        let x = Tensor::randn(0f32, 1.0, (3, 50, 64), &dev)?;
        let want = reference.forward(&x, None)?;
        let got = ours.forward(&x)?;
        let diff = (got - &want)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        let scale = want.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()?;
        assert!(diff <= 2e-5 * scale.max(1.0), "max diff {diff} (largest value {scale})");
        Ok(())
    }
}
