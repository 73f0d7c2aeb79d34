//! The text side of fine-tuning. By default (`--train-text-backbone false`) `x_s` comes from the
//! frozen text encoder, computed once for every train/val row with text ([`frozen_text_features`]),
//! exactly as `marnet-extract run` would. With `--train-text-backbone` the BERT encoder is built
//! on a [`TrainableBackend`] and `x_s` is recomputed each step with the same tokenizer, pooling
//! (`cls` or masked `mean`) and optional L2 normalisation as the frozen model (DESIGN §5).

use super::freeze::FreezeSpec;
use super::nets::bert::TrainBert;
use super::trainable_vb::{sorted_vars, TrainableBackend};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use marnet_extract::encoders::pooling as pool;
use marnet_extract::model_config::{load_config, ModelConfig};
use marnet_extract::tokenize::TextTokenizer;
use marnet_extract::{resolve_model, ModelFiles, Pooling, TextModel};
use std::sync::Arc;

/// Texts embedded per forward pass when computing frozen features.
pub const TEXT_BATCH: usize = 64;

/// Frozen `x_s` of `texts` → `(n, dim)` row-major f32 (host), in batches of [`TEXT_BATCH`].
pub fn frozen_text_features(model: &TextModel, texts: &[&str]) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(texts.len() * model.dim());
    for chunk in texts.chunks(TEXT_BATCH) {
        let (t, _) = model.embed(chunk)?;
        out.extend(t.to_device(&Device::Cpu)?.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

/// A trainable BERT text encoder with the frozen model's tokenizer settings.
pub struct TextBackbone {
    encoder: TrainBert,
    tokenizer: TextTokenizer,
    pooling: Pooling,
    normalize: bool,
    device: Device,
    /// Resolved files.
    pub files: ModelFiles,
    /// Trainable variables by source tensor name.
    pub varmap: VarMap,
    /// `num_hidden_layers`.
    pub num_layers: usize,
}

impl TextBackbone {
    /// Builds the trainable encoder for `spec`, taking max tokens, pooling and normalisation from
    /// the already loaded frozen `reference` model.
    pub fn load(spec: &str, reference: &TextModel, freeze: FreezeSpec, device: &Device, dtype: DType) -> Result<Self> {
        let files = resolve_model(spec)?;
        let ModelConfig::Bert(cfg) = load_config(&files.config)? else {
            bail!("--text-model {spec:?} is not a bert model");
        };
        freeze.validate(cfg.num_hidden_layers, "text model")?;
        let tokenizer = TextTokenizer::from_file(
            &files.required("tokenizer.json")?,
            reference.max_tokens(),
            cfg.pad_token_id as u32,
        )?;
        let source = files.var_builder(dtype, device)?;
        let varmap = VarMap::new();
        let vb = TrainableBackend::var_builder(
            source.clone(),
            varmap.clone(),
            Arc::new(move |n: &str| freeze.is_trainable(n)),
            dtype,
            device,
        );
        let vb = if source.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let encoder = TrainBert::new(&cfg, vb).with_context(|| format!("model {spec:?}: loading bert weights"))?;
        Ok(Self {
            encoder,
            tokenizer,
            pooling: reference.info.pooling,
            normalize: reference.normalize(),
            device: device.clone(),
            files,
            varmap,
            num_layers: cfg.num_hidden_layers,
        })
    }

    /// Raw (unstandardised) `x_s` of `texts`: `(n, dim)` f32, differentiable.
    pub fn embed(&self, texts: &[&str]) -> Result<Tensor> {
        let t = self.tokenizer.encode(texts, &self.device)?;
        let h = self.encoder.forward(&t.input_ids, &t.token_type_ids, &t.attention_mask)?;
        let pooled = match self.pooling {
            Pooling::Mean => pool::masked_mean(&h, &t.attention_mask)?,
            // Image poolings are refused for text models when the model loads.
            Pooling::Cls | Pooling::PoolerOutput | Pooling::ImageEmbeds | Pooling::ClsMean => {
                pool::cls(&h)?.to_dtype(DType::F32)?
            }
        };
        Ok(if self.normalize { pool::l2_normalize(&pooled)? } else { pooled })
    }

    /// Trainable `(source name, var)` pairs sorted by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        sorted_vars(&self.varmap)
    }
}
