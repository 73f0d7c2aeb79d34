//! Tokenization with the `tokenizers` crate from `tokenizer.json` (DESIGN.md section 5):
//! truncation to `max_tokens` including the special tokens, padding to the longest text of the
//! batch with an attention mask, `token_type_ids` all zero (one segment).

use anyhow::{anyhow, Context, Result};
use candle_core::{Device, Tensor};
use std::path::Path;
use tokenizers::{
    PaddingDirection, PaddingParams, PaddingStrategy, Tokenizer, TruncationDirection, TruncationParams,
    TruncationStrategy,
};

/// A tokenizer configured for one text model.
#[derive(Clone)]
pub struct TextTokenizer {
    tokenizer: Tokenizer,
    max_tokens: usize,
}

/// One tokenized batch on a device; every tensor is `(batch, seq_len)`.
pub struct TokenBatch {
    /// `input_ids`, u32.
    pub input_ids: Tensor,
    /// 1 for real tokens, 0 for padding; u32.
    pub attention_mask: Tensor,
    /// All zero; u32.
    pub token_type_ids: Tensor,
    /// How many texts of the batch were cut to `max_tokens`.
    pub truncated: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; `max_tokens` (≥ 2) bounds every sequence including `[CLS]`/`[SEP]`;
    /// `pad_id` is used when `tokenizer.json` has no padding section and no `[PAD]`/`<pad>` token.
    pub fn from_file(path: &Path, max_tokens: usize, pad_id: u32) -> Result<Self> {
        let mut tokenizer =
            Tokenizer::from_file(path).map_err(|e| anyhow!("cannot load tokenizer {}: {e}", path.display()))?;
        let (pad_id, pad_token) = match tokenizer.get_padding() {
            Some(p) => (p.pad_id, p.pad_token.clone()),
            None => ["[PAD]", "<pad>"]
                .iter()
                .find_map(|t| tokenizer.token_to_id(t).map(|id| (id, t.to_string())))
                .unwrap_or((pad_id, "[PAD]".to_string())),
        };
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| anyhow!("{}: cannot truncate to {max_tokens} tokens: {e}", path.display()))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            direction: PaddingDirection::Right,
            pad_to_multiple_of: None,
            pad_id,
            pad_type_id: 0,
            pad_token,
        }));
        Ok(TextTokenizer { tokenizer, max_tokens })
    }

    /// Maximum sequence length including special tokens.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Tokenizes `texts` (with special tokens) into padded `(batch, seq_len)` u32 tensors.
    pub fn encode(&self, texts: &[&str], device: &Device) -> Result<TokenBatch> {
        let encodings =
            self.tokenizer.encode_batch(texts.to_vec(), true).map_err(|e| anyhow!("tokenization failed: {e}"))?;
        let truncated = encodings.iter().filter(|e| !e.get_overflowing().is_empty()).count();
        let b = encodings.len();
        let len = encodings.iter().map(|e| e.get_ids().len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(b * len);
        let mut mask = Vec::with_capacity(b * len);
        for e in &encodings {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let input_ids = Tensor::from_vec(ids, (b, len), device).context("input_ids")?;
        let attention_mask = Tensor::from_vec(mask, (b, len), device).context("attention_mask")?;
        let token_type_ids = input_ids.zeros_like()?;
        Ok(TokenBatch { input_ids, attention_mask, token_type_ids, truncated })
    }
}
