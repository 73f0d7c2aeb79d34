//! HF `BertModel` (model_type `bert`) as a text encoder: our embeddings (word + absolute
//! position + token type, LayerNorm; HF `BertEmbeddings`) followed by candle-transformers'
//! public `bert::BertEncoder`. We build the additive attention mask ourselves in f32 (HF:
//! `(1 - mask) * finfo.min`) and cast it, because candle's `BertModel` multiplies in the model
//! dtype, where `f32::MIN` overflows to `-inf` in f16/bf16 and `0 * -inf` gives NaN.
//! The pooler is not used (DESIGN.md section 8: `BertModel` has none).
//!
//! Under `--dtype bf16` on the CPU the encoder layers run on the host kernels with bf16 Linear
//! products ([`super::host_bert`], [`BertEncoder::new_bf16_host`]); the embeddings (three
//! lookups and their LayerNorm) stay f32 there.

use super::host_bert::HostBertEncoder;
use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use candle_transformers::models::bert;

/// The encoder layers: candle-transformers' ops (any device and dtype) or the host kernels
/// with bf16 products (CPU).
enum Layers {
    Candle(bert::BertEncoder),
    Host(Box<HostBertEncoder>),
}

/// BERT encoder; weights under `embeddings.*` and `encoder.layer.N.*` of `vb`.
pub struct BertEncoder {
    word_embeddings: Embedding,
    position_embeddings: Embedding,
    token_type_embeddings: Embedding,
    layer_norm: LayerNorm,
    encoder: Layers,
    hidden_size: usize,
    max_position_embeddings: usize,
}

impl BertEncoder {
    /// Builds the encoder from any `VarBuilder` rooted at the BertModel (strip a `bert.` prefix
    /// with `vb.pp("bert")` first); a VarMap-backed builder makes it trainable.
    pub fn new(cfg: &bert::Config, vb: VarBuilder) -> Result<Self> {
        let encoder = Layers::Candle(bert::BertEncoder::load(vb.pp("encoder"), cfg)?);
        Self::with_layers(cfg, vb, encoder)
    }

    /// [`BertEncoder::new`] with the encoder layers on the host kernels, their Linear products
    /// in bf16 (weights rounded and packed once here, inputs rounded per product, f32
    /// accumulation; [`HostBertEncoder::pack_bf16`]); embeddings, LayerNorm, softmax and GELU
    /// stay f32. `vb` must give CPU f32 tensors; the bf16 kernel needs AVX-512 BF16 for speed
    /// (callers check [`crate::kernels::has_avx512_bf16`]). Errors: as [`BertEncoder::new`].
    pub fn new_bf16_host(cfg: &bert::Config, vb: VarBuilder) -> Result<Self> {
        if !vb.device().is_cpu() || vb.dtype() != DType::F32 {
            candle_core::bail!("bert bf16 host layers need CPU f32 weights");
        }
        let mut host = HostBertEncoder::new(vb.pp("encoder"), cfg)?;
        host.pack_bf16();
        Self::with_layers(cfg, vb, Layers::Host(Box::new(host)))
    }

    fn with_layers(cfg: &bert::Config, vb: VarBuilder, encoder: Layers) -> Result<Self> {
        let e = vb.pp("embeddings");
        Ok(BertEncoder {
            word_embeddings: embedding(cfg.vocab_size, cfg.hidden_size, e.pp("word_embeddings"))?,
            position_embeddings: embedding(cfg.max_position_embeddings, cfg.hidden_size, e.pp("position_embeddings"))?,
            token_type_embeddings: embedding(cfg.type_vocab_size, cfg.hidden_size, e.pp("token_type_embeddings"))?,
            layer_norm: layer_norm(cfg.hidden_size, cfg.layer_norm_eps, e.pp("LayerNorm"))?,
            encoder,
            hidden_size: cfg.hidden_size,
            max_position_embeddings: cfg.max_position_embeddings,
        })
    }

    /// Hidden width (`hidden_size`).
    pub fn dim(&self) -> usize {
        self.hidden_size
    }

    /// `max_position_embeddings` of the config.
    pub fn max_position_embeddings(&self) -> usize {
        self.max_position_embeddings
    }

    /// `input_ids`, `token_type_ids`, `attention_mask`: `(batch, seq)` integer tensors (mask 1 =
    /// token, 0 = padding) → `last_hidden_state` `(batch, seq, hidden)` in the model dtype.
    pub fn forward(&self, input_ids: &Tensor, token_type_ids: &Tensor, attention_mask: &Tensor) -> Result<Tensor> {
        let (_, seq) = input_ids.dims2()?;
        if seq > self.max_position_embeddings {
            candle_core::bail!(
                "sequence of {seq} tokens exceeds max_position_embeddings {}",
                self.max_position_embeddings
            );
        }
        let positions = Tensor::arange(0u32, seq as u32, input_ids.device())?;
        let x = self
            .word_embeddings
            .forward(input_ids)?
            .add(&self.token_type_embeddings.forward(token_type_ids)?)?
            .broadcast_add(&self.position_embeddings.forward(&positions)?)?;
        let x = self.layer_norm.forward(&x)?;
        let dtype = x.dtype();
        // (batch, seq): 0 for tokens, f32::MIN for padding (HF get_extended_attention_mask).
        let mask = attention_mask.to_dtype(DType::F32)?;
        let additive = ((1.0 - mask)? * f32::MIN as f64)?;
        match &self.encoder {
            Layers::Candle(enc) => enc.forward(&x, &additive.unsqueeze(1)?.unsqueeze(1)?.to_dtype(dtype)?),
            Layers::Host(enc) => enc.forward(&x.contiguous()?, &additive.flatten_all()?.to_vec1::<f32>()?),
        }
    }
}
