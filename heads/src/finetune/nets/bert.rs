//! Trainable HF `BertModel` (model_type `bert`; transformers `modeling_bert.py`) returning
//! `last_hidden_state`: word + position + token-type embeddings → `embeddings.LayerNorm`, then
//! post-LayerNorm blocks (`attention.self.{query,key,value}` → `attention.output.dense` +
//! residual → `attention.output.LayerNorm`; `intermediate.dense` → act → `output.dense` +
//! residual → `output.LayerNorm`). The additive attention mask is `(1 − mask)·(−1e30)` in f32.
//! Same names and outputs as `marnet_extract`'s `BertEncoder`, differentiable.

use super::layers::{attention, linear, Act, Norm};
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

struct Block {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln1: Norm,
    fc1: Linear,
    fc2: Linear,
    ln2: Norm,
}

/// The trainable BERT encoder.
pub struct TrainBert {
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_ln: Norm,
    blocks: Vec<Block>,
    act: Act,
    heads: usize,
    max_positions: usize,
}

impl TrainBert {
    /// Reads the weights under `vb` (rooted at the BertModel: `embeddings.*`, `encoder.layer.N.*`).
    pub fn new(cfg: &Config, vb: VarBuilder) -> Result<Self> {
        let h = cfg.hidden_size;
        let e = vb.pp("embeddings");
        let eps = cfg.layer_norm_eps;
        let mut blocks = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            blocks.push(Block {
                q: linear(l.pp("attention.self.query"), h, h, true)?,
                k: linear(l.pp("attention.self.key"), h, h, true)?,
                v: linear(l.pp("attention.self.value"), h, h, true)?,
                out: linear(l.pp("attention.output.dense"), h, h, true)?,
                ln1: Norm::new(h, eps, l.pp("attention.output.LayerNorm"))?,
                fc1: linear(l.pp("intermediate.dense"), h, cfg.intermediate_size, true)?,
                fc2: linear(l.pp("output.dense"), cfg.intermediate_size, h, true)?,
                ln2: Norm::new(h, eps, l.pp("output.LayerNorm"))?,
            });
        }
        let act = match cfg.hidden_act {
            HiddenAct::Gelu => Act::GeluErf,
            HiddenAct::GeluApproximate => Act::GeluTanh,
            HiddenAct::Relu => Act::Relu,
        };
        Ok(Self {
            word: e.get((cfg.vocab_size, h), "word_embeddings.weight")?,
            position: e.get((cfg.max_position_embeddings, h), "position_embeddings.weight")?,
            token_type: e.get((cfg.type_vocab_size, h), "token_type_embeddings.weight")?,
            emb_ln: Norm::new(h, eps, e.pp("LayerNorm"))?,
            blocks,
            act,
            heads: cfg.num_attention_heads,
            max_positions: cfg.max_position_embeddings,
        })
    }

    /// `input_ids`, `token_type_ids`, `attention_mask` `(batch, seq)` integers → `last_hidden_state`
    /// `(batch, seq, hidden)` in the weight dtype.
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (b, seq) = input_ids.dims2()?;
        if seq > self.max_positions {
            candle_core::bail!("sequence of {seq} tokens exceeds max_position_embeddings {}", self.max_positions);
        }
        let ids = input_ids.flatten_all()?;
        let types = token_type_ids.flatten_all()?;
        let hdim = self.word.dim(1)?;
        let x =
            (self.word.index_select(&ids, 0)? + self.token_type.index_select(&types, 0)?)?.reshape((b, seq, hdim))?;
        let x = x.broadcast_add(&self.position.narrow(0, 0, seq)?.unsqueeze(0)?)?;
        let mut x = self.emb_ln.forward(&x)?;
        let mask = attention_mask.to_dtype(DType::F32)?;
        let additive = ((1.0 - mask)? * -1e30)?.reshape((b, 1, 1, seq))?;
        for blk in &self.blocks {
            let a =
                attention(&blk.q.forward(&x)?, &blk.k.forward(&x)?, &blk.v.forward(&x)?, self.heads, Some(&additive))?;
            x = blk.ln1.forward(&(blk.out.forward(&a)? + &x)?)?;
            let y = self.act.apply(&blk.fc1.forward(&x)?)?;
            x = blk.ln2.forward(&(blk.fc2.forward(&y)? + &x)?)?;
        }
        Ok(x)
    }

    /// Hidden width.
    pub fn dim(&self) -> usize {
        self.word.dims()[1]
    }
}
