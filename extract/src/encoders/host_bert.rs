//! The BERT encoder stack (HF `BertEncoder`, transformers 4.46 `modeling_bert.py`; Devlin et
//! al. 2019) on the host kernels of [`super::host_ops`], for `--dtype bf16` on the CPU: its
//! Linear products (q, k, v fused into one `(hidden, 3·hidden)` product, the attention output,
//! `intermediate.dense`, `output.dense`) in bf16 ([`HostBertEncoder::pack_bf16`]: weights
//! packed once, inputs rounded per product, f32 accumulation); the padding-masked attention,
//! LayerNorm, GELU and the residual stream in f32.
//!
//! BERT is post-LayerNorm: per layer `x = LN₁(x + dense(attention(x)))`,
//! `x = LN₂(x + output(act(intermediate(x))))`. Weight names under `encoder.layer.N.`:
//! `attention.self.{query, key, value}`, `attention.output.{dense, LayerNorm}`,
//! `intermediate.dense`, `output.{dense, LayerNorm}` (LayerNorm `weight`/`bias`, or the old
//! `gamma`/`beta`). The f32 path keeps candle-transformers' `BertEncoder` ([`super::bert`]).

use super::host_act::{gelu_erf_in_place, gelu_tanh_in_place};
use super::host_ops::{attention_masked, Dense, Norm};
use super::host_prenorm::dense;
use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{Config, HiddenAct};
use rayon::prelude::*;

/// One `BertLayer`.
struct Layer {
    /// `[query | key | value]`: `(hidden, 3·hidden)`.
    qkv: Dense,
    attn_out: Dense,
    attn_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// The encoder layers of a BERT text tower, weights on the host (f32, or bf16 once packed).
pub struct HostBertEncoder {
    layers: Vec<Layer>,
    heads: usize,
    head_dim: usize,
    act: HiddenAct,
}

/// A LayerNorm under `vb` (candle's loader, which also accepts `gamma`/`beta`) as a [`Norm`].
fn norm(vb: VarBuilder, d: usize, eps: f64) -> Result<Norm> {
    let ln = candle_nn::layer_norm(d, eps, vb)?;
    let beta = match ln.bias() {
        Some(b) => b.to_dtype(DType::F32)?.to_vec1::<f32>()?,
        None => vec![0f32; d],
    };
    Ok(Norm { gamma: ln.weight().to_dtype(DType::F32)?.to_vec1::<f32>()?, beta, eps: eps as f32 })
}

impl HostBertEncoder {
    /// Reads `layer.0..num_hidden_layers` under `vb` (HF `bert.encoder`), which must give f32
    /// tensors. Errors: a missing or mis-shaped tensor (named by candle), or `hidden_size` not
    /// divisible by `num_attention_heads`.
    pub fn new(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let (d, heads, inter) = (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size);
        if heads == 0 || !d.is_multiple_of(heads) {
            candle_core::bail!("bert hidden_size {d} is not divisible by num_attention_heads {heads}");
        }
        let eps = cfg.layer_norm_eps;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let vb = vb.pp("layer").pp(i.to_string());
                let attn = vb.pp("attention");
                Ok(Layer {
                    qkv: dense(&attn.pp("self"), &["query", "key", "value"], d, d, true, None)?,
                    attn_out: dense(&attn.pp("output"), &["dense"], d, d, true, None)?,
                    attn_norm: norm(attn.pp("output").pp("LayerNorm"), d, eps)?,
                    intermediate: dense(&vb.pp("intermediate"), &["dense"], d, inter, true, None)?,
                    output: dense(&vb.pp("output"), &["dense"], inter, d, true, None)?,
                    output_norm: norm(vb.pp("output").pp("LayerNorm"), d, eps)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HostBertEncoder { layers, heads, head_dim: d / heads, act: cfg.hidden_act })
    }

    /// Moves every layer's four Linear products to bf16 ([`Dense::pack_bf16`]); the attention
    /// products, LayerNorm, softmax, the activation and the residual stream stay f32.
    pub fn pack_bf16(&mut self) {
        for l in &mut self.layers {
            for d in [&mut l.qkv, &mut l.attn_out, &mut l.intermediate, &mut l.output] {
                d.pack_bf16();
            }
        }
    }

    /// `hidden_states` `(batch, seq, hidden)` f32 on the CPU (after the embeddings' LayerNorm)
    /// and `key_bias` `(batch, seq)` f32 (0 for tokens, `f32::MIN` for padding, HF's extended
    /// attention mask) → `last_hidden_state` `(batch, seq, hidden)` f32.
    pub fn forward(&self, hidden_states: &Tensor, key_bias: &[f32]) -> Result<Tensor> {
        let (batch, seq, d) = hidden_states.dims3()?;
        if d != self.heads * self.head_dim || key_bias.len() != batch * seq {
            candle_core::bail!(
                "bert encoder: hidden width {d} (expected {}), mask of {} entries for {batch}x{seq} tokens",
                self.heads * self.head_dim,
                key_bias.len()
            );
        }
        let rows = batch * seq;
        let mut x = hidden_states.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?; // (rows, d)
        for l in &self.layers {
            let qkv = l.qkv.forward(&x, rows, None); // (rows, 3d)
            let a = attention_masked(&qkv, batch, seq, self.heads, self.head_dim, Some(key_bias)); // (rows, d)
            x = l.attn_norm.forward(&l.attn_out.forward(&a, rows, Some(&x)));
            let mut f = l.intermediate.forward(&x, rows, None); // (rows, intermediate)
            match self.act {
                HiddenAct::Gelu => gelu_erf_in_place(&mut f),
                HiddenAct::GeluApproximate => gelu_tanh_in_place(&mut f),
                HiddenAct::Relu => f.par_iter_mut().for_each(|v| *v = v.max(0.0)),
            }
            x = l.output_norm.forward(&l.output.forward(&f, rows, Some(&x)));
        }
        Tensor::from_vec(x, (batch, seq, d), hidden_states.device())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::VarMap;
    use candle_transformers::models::bert::{BertEncoder, PositionEmbeddingType};

    /// The host layers (f32, then bf16 products) against candle-transformers' `BertEncoder` (an
    /// independent implementation of the same HF layers) with the same random weights: 2 layers,
    /// hidden 64 in 4 heads, intermediate 96, 3 texts of 20 tokens, the second padded after 7
    /// tokens and the third after 1 (padding keys get `f32::MIN`, as HF's extended mask).
    #[test]
    fn matches_candle_transformers_bert_encoder() -> Result<()> {
        let dev = Device::Cpu;
        let cfg = Config {
            vocab_size: 10,
            hidden_size: 64,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 96,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.0,
            max_position_embeddings: 32,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 0,
            position_embedding_type: PositionEmbeddingType::Absolute,
            use_cache: false,
            classifier_dropout: None,
            model_type: None,
        };
        let map = VarMap::new();
        let vb = VarBuilder::from_varmap(&map, DType::F32, &dev);
        let reference = BertEncoder::load(vb.clone(), &cfg)?;
        for (name, var) in map.data().lock().expect("varmap").iter() {
            if name.contains("LayerNorm") {
                var.set(&var.as_tensor().rand_like(0.5, 1.5)?)?;
            } else if name.ends_with("bias") {
                var.set(&var.as_tensor().randn_like(0.0, 0.5)?)?;
            }
        }
        let mut ours = HostBertEncoder::new(vb, &cfg)?;
        let (batch, seq) = (3, 20);
        let mut bias = vec![0f32; batch * seq];
        bias[seq + 7..2 * seq].fill(f32::MIN);
        bias[2 * seq + 1..].fill(f32::MIN);
        let x = Tensor::randn(0f32, 1.0, (batch, seq, 64), &dev)?;
        let mask = Tensor::from_vec(bias.clone(), (batch, 1, 1, seq), &dev)?;
        let want = reference.forward(&x, &mask)?;
        let diff = |got: &Tensor| -> Result<f32> { (got - &want)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>() };
        // Post-LN outputs are O(1) (γ ≤ 1.5, β ~ N(0, 0.5)).
        let d32 = diff(&ours.forward(&x, &bias)?)?;
        assert!(d32 <= 1e-4, "f32 max diff {d32}");
        ours.pack_bf16();
        let got = ours.forward(&x, &bias)?;
        let d16 = diff(&got)?;
        // bf16 inputs carry 8 significant bits (relative error ≤ 2^-9 each): visibly different
        // from f32, still close on O(1) values.
        assert!(d16 > 1e-6 && d16 <= 0.1, "bf16 max diff {d16}");
        Ok(())
    }
}
