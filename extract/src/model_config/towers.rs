//! `config.json` of the DINOv2 and SigLIP image towers (transformers 4.46
//! `configuration_dinov2.py`, `configuration_siglip.py`): missing keys take the transformers
//! defaults, and keys that change the computation in ways this crate does not run are refused.

use super::{get_usize, with_defaults};
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::Path;

/// The MLP activations of these towers (HF `hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact erf GELU `x·Φ(x)`.
    GeluErf,
    /// `gelu_pytorch_tanh` / `gelu_new` / `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `quick_gelu`: `x·σ(1.702·x)`.
    QuickGelu,
}

fn activation(m: &Map<String, Value>, default: &str, file: &Path) -> Result<Activation> {
    let act = m.get("hidden_act").and_then(Value::as_str).unwrap_or(default);
    Ok(match act {
        "gelu" => Activation::GeluErf,
        "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast" => Activation::GeluTanh,
        "quick_gelu" => Activation::QuickGelu,
        other => {
            bail!("{}: hidden_act {other:?} is not supported (gelu, gelu_pytorch_tanh, quick_gelu)", file.display())
        }
    })
}

fn get_f64(m: &Map<String, Value>, key: &str, file: &Path) -> Result<f64> {
    m.get(key).and_then(Value::as_f64).with_context(|| format!("{}: key {key:?} must be a number", file.display()))
}

fn square(m: &Map<String, Value>, key: &str, file: &Path) -> Result<usize> {
    if m.get(key).is_some_and(Value::is_array) {
        bail!("{}: {key} as [h, w] is not supported; expected one integer (square images)", file.display());
    }
    get_usize(m, key, file)
}

/// HF `Dinov2Config` fields `Dinov2Model` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Dinov2Cfg {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    /// MLP width: `int(hidden_size · mlp_ratio)`; for SwiGLU the hidden width is
    /// `(int(that · 2 / 3) + 7) / 8 · 8` ([`Dinov2Cfg::swiglu_hidden`]).
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    /// Training resolution: the position table is `(image_size / patch_size)²` + 1 entries.
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
    pub qkv_bias: bool,
    /// `use_swiglu_ffn` (the giant model): `mlp.weights_in` / `mlp.weights_out`, SiLU gate.
    pub use_swiglu_ffn: bool,
}

impl Dinov2Cfg {
    /// Hidden width of `Dinov2SwiGLUFFN`: `(int(intermediate_size · 2 / 3) + 7) / 8 · 8`.
    pub fn swiglu_hidden(&self) -> usize {
        (self.intermediate_size * 2 / 3).div_ceil(8) * 8
    }

    /// Side of the checkpoint's position grid, `image_size / patch_size`.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
}

/// Parses a `dinov2` config. Errors: a key of the wrong type, `apply_layernorm: false`, an
/// unsupported `hidden_act`.
pub fn parse_dinov2(obj: &Map<String, Value>, file: &Path) -> Result<Dinov2Cfg> {
    let m = with_defaults(
        obj,
        json!({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "mlp_ratio": 4,
               "hidden_act": "gelu", "layer_norm_eps": 1e-6, "image_size": 224, "patch_size": 16,
               "num_channels": 3, "qkv_bias": true, "use_swiglu_ffn": false, "apply_layernorm": true}),
    );
    let flag = |k: &str| {
        m.get(k).and_then(Value::as_bool).with_context(|| format!("{}: key {k:?} must be a boolean", file.display()))
    };
    if !flag("apply_layernorm")? {
        bail!(
            "{}: apply_layernorm false is not supported (Dinov2Model always applies its final layernorm)",
            file.display()
        );
    }
    let hidden_size = get_usize(&m, "hidden_size", file)?;
    let mlp_ratio = get_f64(&m, "mlp_ratio", file)?;
    Ok(Dinov2Cfg {
        hidden_size,
        num_hidden_layers: get_usize(&m, "num_hidden_layers", file)?,
        num_attention_heads: get_usize(&m, "num_attention_heads", file)?,
        intermediate_size: (hidden_size as f64 * mlp_ratio) as usize,
        hidden_act: activation(&m, "gelu", file)?,
        layer_norm_eps: get_f64(&m, "layer_norm_eps", file)?,
        image_size: square(&m, "image_size", file)?,
        patch_size: square(&m, "patch_size", file)?,
        num_channels: get_usize(&m, "num_channels", file)?,
        qkv_bias: flag("qkv_bias")?,
        use_swiglu_ffn: flag("use_swiglu_ffn")?,
    })
}

/// HF `SiglipVisionConfig` fields `SiglipVisionModel` needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SiglipVisionCfg {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    /// `vision_use_head` (default true): the attention-pooling `head` gives `pooler_output`.
    pub use_head: bool,
}

/// Parses a `siglip_vision_model` config, or the `vision_config` of a `siglip` one.
pub fn parse_siglip_vision(obj: &Map<String, Value>, file: &Path) -> Result<SiglipVisionCfg> {
    let m = with_defaults(
        obj,
        json!({"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
               "num_attention_heads": 12, "num_channels": 3, "image_size": 224, "patch_size": 16,
               "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6, "vision_use_head": true}),
    );
    Ok(SiglipVisionCfg {
        hidden_size: get_usize(&m, "hidden_size", file)?,
        intermediate_size: get_usize(&m, "intermediate_size", file)?,
        num_hidden_layers: get_usize(&m, "num_hidden_layers", file)?,
        num_attention_heads: get_usize(&m, "num_attention_heads", file)?,
        num_channels: get_usize(&m, "num_channels", file)?,
        image_size: square(&m, "image_size", file)?,
        patch_size: square(&m, "patch_size", file)?,
        hidden_act: activation(&m, "gelu_pytorch_tanh", file)?,
        layer_norm_eps: get_f64(&m, "layer_norm_eps", file)?,
        use_head: m.get("vision_use_head").and_then(Value::as_bool).unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dinov2_defaults_and_swiglu_width() {
        let v = json!({"hidden_size": 1536, "mlp_ratio": 4, "use_swiglu_ffn": true});
        let c = parse_dinov2(v.as_object().unwrap(), Path::new("c.json")).unwrap();
        assert_eq!((c.patch_size, c.image_size, c.layer_norm_eps), (16, 224, 1e-6));
        assert_eq!((c.intermediate_size, c.hidden_act), (6144, Activation::GeluErf));
        // dinov2-giant: int(6144·2/3) = 4096, (4096 + 7) // 8 · 8 = 4096.
        assert_eq!(c.swiglu_hidden(), 4096);
        // tiny: int(64·2/3) = 42, (42 + 7) // 8 · 8 = 48.
        let c = parse_dinov2(json!({"hidden_size": 32, "mlp_ratio": 2}).as_object().unwrap(), Path::new("c")).unwrap();
        assert_eq!(c.swiglu_hidden(), 48);
        let err = parse_dinov2(json!({"apply_layernorm": false}).as_object().unwrap(), Path::new("x/c.json"));
        assert!(format!("{:#}", err.unwrap_err()).contains("x/c.json"));
    }

    #[test]
    fn siglip_defaults() {
        let c = parse_siglip_vision(&Map::new(), Path::new("c.json")).unwrap();
        assert_eq!((c.hidden_act, c.layer_norm_eps, c.patch_size, c.use_head), (Activation::GeluTanh, 1e-6, 16, true));
    }
}
