//! Text encoder loading and embedding (DESIGN.md section 5): `bert` weights, `tokenizer.json`,
//! and the sentence-transformers files when present: `modules.json` (a `Pooling` module's
//! `config.json` picks `cls`/`mean`; a `Normalize` module L2-normalises) and
//! `sentence_bert_config.json` (`max_seq_length`). Effective max tokens =
//! `min(max_position_embeddings, max_seq_length)`, special tokens included.

use super::bert::BertEncoder;
use super::pooling::{self, Pooling};
use super::{strip_prefix, ModelInfo};
use crate::model_config::{load_config, ModelConfig};
use crate::tokenize::TextTokenizer;
use crate::weights::{resolve_model, ModelFiles};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde_json::{json, Value};
use std::path::Path;

/// A loaded text encoder with its tokenizer.
pub struct TextModel {
    encoder: BertEncoder,
    tokenizer: TextTokenizer,
    normalize: bool,
    device: Device,
    /// Metadata (`preprocess` = `{"max_tokens", "normalize"}`).
    pub info: ModelInfo,
}

/// sentence-transformers settings found next to the weights.
#[derive(Debug, Default, PartialEq)]
struct SentenceTransformersCfg {
    pooling: Option<Pooling>,
    normalize: bool,
    max_seq_length: Option<usize>,
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {} as JSON", path.display()))
}

fn sentence_transformers_cfg(files: &ModelFiles) -> Result<SentenceTransformersCfg> {
    let mut st = SentenceTransformersCfg::default();
    let mut pooling_dir = "1_Pooling".to_string();
    if let Some(p) = files.optional("modules.json") {
        let modules = read_json(&p)?;
        let list = modules.as_array().with_context(|| format!("{}: expected a JSON array", p.display()))?;
        for m in list {
            let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
            let path = m.get("path").and_then(Value::as_str).unwrap_or("");
            if ty.ends_with("Pooling") {
                pooling_dir = path.to_string();
            } else if ty.ends_with("Normalize") {
                st.normalize = true;
            }
        }
    }
    if let Some(p) = files.optional(&format!("{pooling_dir}/config.json")) {
        let v = read_json(&p)?;
        let on = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        st.pooling = if on("pooling_mode_mean_tokens") {
            Some(Pooling::Mean)
        } else if on("pooling_mode_cls_token") {
            Some(Pooling::Cls)
        } else {
            bail!(
                "{}: only pooling_mode_mean_tokens or pooling_mode_cls_token are supported (pass --text-pooling to override)",
                p.display()
            );
        };
    }
    if let Some(p) = files.optional("sentence_bert_config.json") {
        st.max_seq_length = read_json(&p)?.get("max_seq_length").and_then(Value::as_u64).map(|n| n as usize);
    }
    Ok(st)
}

/// Loads a `bert` text model from a folder or hub id. `pooling` overrides the
/// sentence-transformers pooling (default `cls` when there is none). Errors: unresolvable spec,
/// no `tokenizer.json`, a non-text `model_type`, missing tensors.
pub fn load_text_model(spec: &str, pooling: Option<Pooling>, device: &Device, dtype: DType) -> Result<TextModel> {
    let files = resolve_model(spec)?;
    let ModelConfig::Bert(cfg) = load_config(&files.config)? else {
        bail!("model {spec:?}: {} is not a text model (expected model_type bert)", files.config.display());
    };
    let st = sentence_transformers_cfg(&files)?;
    let pooling = pooling.or(st.pooling).unwrap_or_default();
    if !matches!(pooling, Pooling::Cls | Pooling::Mean) {
        bail!("model {spec:?}: text pooling {pooling} is an image pooling; use cls or mean");
    }
    let max_tokens = st.max_seq_length.map_or(cfg.max_position_embeddings, |m| m.min(cfg.max_position_embeddings));
    let tokenizer = TextTokenizer::from_file(&files.required("tokenizer.json")?, max_tokens, cfg.pad_token_id as u32)?;
    // The embeddings stay f32 under CPU bf16; the encoder layers' products run in bf16.
    let host_bf16 = super::host_bf16(device, dtype)?;
    let load_dtype = if host_bf16 { DType::F32 } else { dtype };
    let vb = strip_prefix(files.var_builder(load_dtype, device)?, "bert", "embeddings.word_embeddings.weight");
    let encoder = if host_bf16 { BertEncoder::new_bf16_host(&cfg, vb) } else { BertEncoder::new(&cfg, vb) }
        .with_context(|| format!("model {spec:?}: loading bert weights"))?;
    let info = ModelInfo {
        spec: spec.to_string(),
        sha256: files.sha256.clone(),
        model_type: "bert".into(),
        pooling,
        dim: encoder.dim(),
        dtype,
        preprocess: json!({"max_tokens": max_tokens, "normalize": st.normalize}),
    };
    Ok(TextModel { encoder, tokenizer, normalize: st.normalize, device: device.clone(), info })
}

impl TextModel {
    /// Embeds `texts` → (`(batch, dim)` f32, how many texts were truncated to
    /// [`TextModel::max_tokens`]). Padding never changes a text's vector beyond float noise.
    pub fn embed(&self, texts: &[&str]) -> Result<(Tensor, usize)> {
        if texts.is_empty() {
            return Ok((Tensor::zeros((0, self.dim()), DType::F32, &self.device)?, 0));
        }
        let t = self.tokenizer.encode(texts, &self.device)?;
        let hidden = self.last_hidden_state_of(&t.input_ids, &t.token_type_ids, &t.attention_mask)?;
        let pooled = match self.info.pooling {
            Pooling::Mean => pooling::masked_mean(&hidden, &t.attention_mask)?,
            // pooler_output / image_embeds are refused for text models at load time.
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => {
                pooling::cls(&hidden)?.to_dtype(DType::F32)?
            }
        };
        let out = if self.normalize { pooling::l2_normalize(&pooled)? } else { pooled };
        Ok((out, t.truncated))
    }

    /// Tokenizes and returns (`last_hidden_state` `(batch, seq, hidden)` f32, attention mask
    /// `(batch, seq)` u32); for parity checks.
    pub fn last_hidden_state(&self, texts: &[&str]) -> Result<(Tensor, Tensor)> {
        let t = self.tokenizer.encode(texts, &self.device)?;
        let h = self.last_hidden_state_of(&t.input_ids, &t.token_type_ids, &t.attention_mask)?;
        Ok((h.to_dtype(DType::F32)?, t.attention_mask))
    }

    fn last_hidden_state_of(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Result<Tensor> {
        Ok(self.encoder.forward(ids, types, mask)?)
    }

    /// The backbone, e.g. for fine-tuning code.
    pub fn encoder(&self) -> &BertEncoder {
        &self.encoder
    }

    /// Maximum tokens per text, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.tokenizer.max_tokens()
    }

    /// Whether outputs are L2-normalised (sentence-transformers `Normalize`).
    pub fn normalize(&self) -> bool {
        self.normalize
    }

    /// Feature width (`hidden_size`).
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }
}
