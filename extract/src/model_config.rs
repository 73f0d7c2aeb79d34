//! `config.json` parsing by `model_type` (DESIGN.md section 5). Older hub configs lack keys; each
//! missing key takes the transformers default (configuration_vit.py, configuration_clip.py,
//! configuration_bert.py, transformers 4.46; DINOv2 and SigLIP in [`towers`]). `hidden_act:
//! "gelu"` is the exact erf GELU.

pub mod towers;

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;
pub use towers::{Activation, Dinov2Cfg, SiglipVisionCfg};

/// The architectures this crate runs, picked from `config.json` `model_type`.
#[derive(Debug, Clone)]
pub enum ModelConfig {
    /// `vit` (HF ViTModel).
    Vit(candle_transformers::models::vit::Config),
    /// `clip_vision_model`, or the vision half of `clip`.
    ClipVision(ClipVisionCfg),
    /// `dinov2` (HF Dinov2Model).
    Dinov2(Dinov2Cfg),
    /// `siglip_vision_model`, or the vision tower of `siglip`.
    SiglipVision(SiglipVisionCfg),
    /// `bert` (HF BertModel; sentence-transformers checkpoints too).
    Bert(candle_transformers::models::bert::Config),
}

/// HF `CLIPVisionConfig` fields the vision tower needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipVisionCfg {
    /// `hidden_size` (CLIP calls it embed_dim).
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// Width of `visual_projection` (used only when its weight is present).
    pub projection_dim: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    /// Must be 1e-5: candle's CLIP tower hard-codes it.
    pub layer_norm_eps: f64,
}

impl ClipVisionCfg {
    /// The candle-transformers form (QuickGELU activation).
    pub fn to_candle(&self) -> candle_transformers::models::clip::vision_model::ClipVisionConfig {
        candle_transformers::models::clip::vision_model::ClipVisionConfig {
            embed_dim: self.hidden_size,
            activation: candle_transformers::models::clip::text_model::Activation::QuickGelu,
            intermediate_size: self.intermediate_size,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            projection_dim: self.projection_dim,
            num_channels: self.num_channels,
            image_size: self.image_size,
            patch_size: self.patch_size,
        }
    }
}

impl ModelConfig {
    /// The `model_type` this crate records (`vit`, `clip_vision_model`, `dinov2`,
    /// `siglip_vision_model`, `bert`; a full `clip` / `siglip` checkpoint is recorded by its
    /// vision tower's type).
    pub fn model_type(&self) -> &'static str {
        match self {
            ModelConfig::Vit(_) => "vit",
            ModelConfig::ClipVision(_) => "clip_vision_model",
            ModelConfig::Dinov2(_) => "dinov2",
            ModelConfig::SiglipVision(_) => "siglip_vision_model",
            ModelConfig::Bert(_) => "bert",
        }
    }
}

/// Fills keys missing from `obj` with `defaults`; keys present (even `null`) are kept, except
/// `null` values, which also take the default.
pub(crate) fn with_defaults(obj: &Map<String, Value>, defaults: Value) -> Map<String, Value> {
    let mut out = obj.clone();
    if let Value::Object(d) = defaults {
        for (k, v) in d {
            match out.get(&k) {
                None | Some(Value::Null) => {
                    out.insert(k, v);
                }
                Some(_) => {}
            }
        }
    }
    out
}

pub(crate) fn get_usize(m: &Map<String, Value>, key: &str, file: &Path) -> Result<usize> {
    m.get(key)
        .and_then(Value::as_u64)
        .map(|v| v as usize)
        .with_context(|| format!("{}: key {key:?} must be a non-negative integer", file.display()))
}

/// Maps HF `hidden_act` names onto the names candle's serde enums accept, or errors.
fn vit_act(act: &str, file: &Path) -> Result<&'static str> {
    Ok(match act {
        "gelu" => "gelu",
        "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" => "gelu_pytorch_tanh",
        "relu" => "relu",
        "silu" | "swish" => "silu",
        other => {
            bail!("{}: hidden_act {other:?} is not supported for vit (gelu, gelu_new, relu, silu)", file.display())
        }
    })
}

fn bert_act(act: &str, file: &Path) -> Result<&'static str> {
    Ok(match act {
        "gelu" => "gelu",
        "gelu_new" | "gelu_fast" | "gelu_pytorch_tanh" => "geluapproximate",
        "relu" => "relu",
        other => bail!("{}: hidden_act {other:?} is not supported for bert (gelu, gelu_new, relu)", file.display()),
    })
}

/// Reads and parses `config.json` at `path`.
pub fn load_config(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_str(&text).with_context(|| format!("parsing {} as JSON", path.display()))?;
    parse_config(&value, path)
}

/// Parses a `config.json` value; `file` is used in error messages only.
pub fn parse_config(value: &Value, file: &Path) -> Result<ModelConfig> {
    let obj = value.as_object().with_context(|| format!("{}: expected a JSON object", file.display()))?;
    let model_type = obj
        .get("model_type")
        .and_then(Value::as_str)
        .with_context(|| format!("{}: missing string key \"model_type\"", file.display()))?;
    match model_type {
        "vit" => parse_vit(obj, file).map(ModelConfig::Vit),
        "clip_vision_model" => parse_clip_vision(obj, None, file).map(ModelConfig::ClipVision),
        "clip" => {
            let vision = obj.get("vision_config").and_then(Value::as_object).cloned().unwrap_or_default();
            let proj = obj.get("projection_dim").and_then(Value::as_u64).map(|v| v as usize);
            parse_clip_vision(&vision, proj, file).map(ModelConfig::ClipVision)
        }
        "dinov2" => towers::parse_dinov2(obj, file).map(ModelConfig::Dinov2),
        "siglip_vision_model" => towers::parse_siglip_vision(obj, file).map(ModelConfig::SiglipVision),
        "siglip" => {
            let vision = obj.get("vision_config").and_then(Value::as_object).cloned().unwrap_or_default();
            towers::parse_siglip_vision(&vision, file).map(ModelConfig::SiglipVision)
        }
        "bert" => parse_bert(obj, file).map(ModelConfig::Bert),
        other => bail!(
            "{}: model_type {other:?} is not supported (vit, clip_vision_model, clip, dinov2, siglip_vision_model, \
             siglip, bert)",
            file.display()
        ),
    }
}

fn parse_vit(obj: &Map<String, Value>, file: &Path) -> Result<candle_transformers::models::vit::Config> {
    let mut m = with_defaults(
        obj,
        json!({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
               "intermediate_size": 3072, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
               "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": true}),
    );
    let act = m.get("hidden_act").and_then(Value::as_str).unwrap_or("gelu").to_string();
    m.insert("hidden_act".into(), Value::from(vit_act(&act, file)?));
    for key in ["image_size", "patch_size"] {
        if m.get(key).is_some_and(Value::is_array) {
            bail!("{}: {key} as [h, w] is not supported; expected one integer (square images)", file.display());
        }
    }
    serde_json::from_value(Value::Object(m)).with_context(|| format!("{}: invalid vit config", file.display()))
}

fn parse_clip_vision(obj: &Map<String, Value>, proj: Option<usize>, file: &Path) -> Result<ClipVisionCfg> {
    let m = with_defaults(
        obj,
        json!({"hidden_size": 768, "intermediate_size": 3072, "projection_dim": 512,
               "num_hidden_layers": 12, "num_attention_heads": 12, "num_channels": 3,
               "image_size": 224, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}),
    );
    let act = m.get("hidden_act").and_then(Value::as_str).unwrap_or("quick_gelu");
    if act != "quick_gelu" {
        bail!("{}: CLIP hidden_act {act:?} is not supported (only quick_gelu)", file.display());
    }
    let eps = m.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-5);
    if (eps - 1e-5).abs() > 1e-12 {
        bail!("{}: CLIP layer_norm_eps {eps} is not supported (candle's tower uses 1e-5)", file.display());
    }
    Ok(ClipVisionCfg {
        hidden_size: get_usize(&m, "hidden_size", file)?,
        intermediate_size: get_usize(&m, "intermediate_size", file)?,
        num_hidden_layers: get_usize(&m, "num_hidden_layers", file)?,
        num_attention_heads: get_usize(&m, "num_attention_heads", file)?,
        projection_dim: match proj {
            Some(p) => p,
            None => get_usize(&m, "projection_dim", file)?,
        },
        num_channels: get_usize(&m, "num_channels", file)?,
        image_size: get_usize(&m, "image_size", file)?,
        patch_size: get_usize(&m, "patch_size", file)?,
        layer_norm_eps: eps,
    })
}

fn parse_bert(obj: &Map<String, Value>, file: &Path) -> Result<candle_transformers::models::bert::Config> {
    let mut m = with_defaults(
        obj,
        json!({"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
               "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
               "hidden_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
               "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
               "position_embedding_type": "absolute"}),
    );
    let act = m.get("hidden_act").and_then(Value::as_str).unwrap_or("gelu").to_string();
    m.insert("hidden_act".into(), Value::from(bert_act(&act, file)?));
    let pe = m.get("position_embedding_type").and_then(Value::as_str).unwrap_or("absolute");
    if pe != "absolute" {
        bail!("{}: position_embedding_type {pe:?} is not supported (absolute)", file.display());
    }
    serde_json::from_value(Value::Object(m)).with_context(|| format!("{}: invalid bert config", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vit_missing_keys_take_hf_defaults() {
        let v = json!({"model_type": "vit", "hidden_size": 32});
        let ModelConfig::Vit(c) = parse_config(&v, Path::new("c.json")).unwrap() else { panic!() };
        assert_eq!(c.hidden_size, 32);
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert!(c.qkv_bias);
        assert_eq!(c.hidden_act, candle_nn::Activation::Gelu);
        assert_eq!(c.patch_size, 16);
    }

    #[test]
    fn clip_nested_vision_config() {
        let v = json!({"model_type": "clip", "projection_dim": 64, "vision_config": {"hidden_size": 48}});
        let ModelConfig::ClipVision(c) = parse_config(&v, Path::new("c.json")).unwrap() else { panic!() };
        assert_eq!((c.hidden_size, c.projection_dim, c.patch_size), (48, 64, 32));
    }

    #[test]
    fn bert_gelu_is_erf_and_unknown_type_errors() {
        let v = json!({"model_type": "bert"});
        let ModelConfig::Bert(c) = parse_config(&v, Path::new("c.json")).unwrap() else { panic!() };
        assert_eq!(c.hidden_act, candle_transformers::models::bert::HiddenAct::Gelu);
        assert_eq!(c.max_position_embeddings, 512);
        let err = parse_config(&json!({"model_type": "gpt2"}), Path::new("x/config.json")).unwrap_err();
        assert!(err.to_string().contains("x/config.json") && err.to_string().contains("gpt2"));
    }
}
