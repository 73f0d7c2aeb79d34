//! The image encoder as a trainable backbone: the architectures of `marnet_extract` (`vit`,
//! `clip_vision_model`/`clip`, picked by `config.json` `model_type`, DESIGN §5) in their
//! differentiable form ([`super::nets`]), the same config parsing and preprocessing as
//! `marnet-extract run`, built on a [`TrainableBackend`] so the weights the
//! [`FreezeSpec`] selects are candle `Var`s named exactly like the source safetensors tensors
//! (`encoder.layer.3.attention.attention.query.weight`, `vision_model.post_layernorm.bias`, ...).

use super::freeze::FreezeSpec;
use super::nets::{clip::TrainClip, vit::TrainViT};
use super::trainable_vb::{sorted_vars, TrainableBackend};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Var};
use candle_nn::{VarBuilder, VarMap};
use marnet_extract::model_config::{load_config, ModelConfig};
use marnet_extract::{resolve_model, ImageEncoder, ModelFiles, Pooling, Preprocessor};
use std::sync::Arc;

/// A loaded image backbone.
pub struct ImageBackbone {
    /// The encoder: `embed(pixel_values (B,3,H,W)) -> (B, dim)` f32, differentiable with respect
    /// to the trainable variables.
    pub encoder: Box<dyn ImageEncoder>,
    /// The model's preprocessing (val/test, and the normalisation of train crops).
    pub preprocessor: Preprocessor,
    /// Resolved files (source of the frozen weights and of `--export-backbone`).
    pub files: ModelFiles,
    /// `vit` or `clip_vision_model`.
    pub model_type: String,
    /// `num_hidden_layers`.
    pub num_layers: usize,
    /// Pooling in effect.
    pub pooling: Pooling,
    /// Weight dtype.
    pub dtype: DType,
    /// Trainable variables keyed by source tensor name.
    pub varmap: VarMap,
}

impl ImageBackbone {
    /// Trainable `(source name, var)` pairs sorted by name.
    pub fn trainable(&self) -> Vec<(String, Var)> {
        sorted_vars(&self.varmap)
    }

    /// Feature width of `embed`.
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }
}

/// Layer count of an image config, to validate `--freeze-blocks` before loading weights.
fn num_layers(cfg: &ModelConfig) -> usize {
    match cfg {
        ModelConfig::Vit(c) => c.num_hidden_layers,
        ModelConfig::ClipVision(c) => c.num_hidden_layers,
        ModelConfig::Dinov2(c) => c.num_hidden_layers,
        ModelConfig::SiglipVision(c) => c.num_hidden_layers,
        ModelConfig::Bert(c) => c.num_hidden_layers,
    }
}

/// Loads image model `spec` (folder or hub id) with the tensors `freeze` selects trainable.
/// Errors: unresolvable spec, a text model, too many frozen blocks, missing tensors.
pub fn load_image_backbone(
    spec: &str,
    pooling: Option<Pooling>,
    freeze: FreezeSpec,
    device: &Device,
    dtype: DType,
) -> Result<ImageBackbone> {
    let files = resolve_model(spec)?;
    let cfg = load_config(&files.config)?;
    if matches!(cfg, ModelConfig::Dinov2(_) | ModelConfig::SiglipVision(_)) {
        bail!(
            "--image-model {spec:?}: fine-tuning supports vit and clip image models; {} has no trainable version \
             (extract frozen features with `marnet-extract run` and train heads on the cache instead)",
            cfg.model_type()
        );
    }
    let layers = num_layers(&cfg);
    freeze.validate(layers, "image model")?;
    let pooling =
        marnet_extract::encoders::pooling::resolve_image_pooling(pooling, matches!(cfg, ModelConfig::ClipVision(_)))
            .with_context(|| format!("model {spec:?}"))?;
    let source = files.var_builder(dtype, device)?;
    let varmap = VarMap::new();
    let pred = Arc::new(move |n: &str| freeze.is_trainable(n));
    let vb = TrainableBackend::var_builder(source.clone(), varmap.clone(), pred, dtype, device);
    let under = |prefix: &str, probe: &str| -> VarBuilder<'static> {
        if source.contains_tensor(&format!("{prefix}.{probe}")) {
            vb.pp(prefix)
        } else {
            vb.clone()
        }
    };
    let (encoder, image_size, clip_style): (Box<dyn ImageEncoder>, usize, bool) = match &cfg {
        ModelConfig::Vit(c) => {
            let enc = TrainViT::new(c, pooling, under("vit", "embeddings.cls_token"))
                .with_context(|| format!("model {spec:?}: loading vit weights"))?;
            (Box::new(enc), c.image_size, false)
        }
        ModelConfig::ClipVision(c) => {
            let tower = under("vision_model", "embeddings.class_embedding");
            let proj = source.contains_tensor("visual_projection.weight").then(|| vb.pp("visual_projection"));
            let enc = TrainClip::new(c, pooling, tower, proj)
                .with_context(|| format!("model {spec:?}: loading CLIP vision weights"))?;
            (Box::new(enc), c.image_size, true)
        }
        ModelConfig::Bert(_) => bail!("--image-model {spec:?} is a text model (bert), expected vit or clip"),
        ModelConfig::Dinov2(_) | ModelConfig::SiglipVision(_) => bail!("--image-model {spec:?}: refused above"),
    };
    let preprocessor = match files.optional("preprocessor_config.json") {
        Some(p) => Preprocessor::from_json_file(&p, clip_style, image_size as u32)?,
        None if clip_style => Preprocessor::clip_default(image_size as u32),
        None => Preprocessor::vit_default(image_size as u32),
    };
    match preprocessor.output_size() {
        Some((h, w)) if (h as usize, w as usize) == (image_size, image_size) => {}
        other => bail!("model {spec:?}: preprocessor output {other:?} does not match config image_size {image_size}"),
    }
    Ok(ImageBackbone {
        encoder,
        preprocessor,
        model_type: cfg.model_type().to_string(),
        files,
        num_layers: layers,
        pooling,
        dtype,
        varmap,
    })
}
