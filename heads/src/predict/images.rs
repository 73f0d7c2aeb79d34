//! Embedding new images with the image encoder a run's features came from (DESIGN §3 cache
//! metadata, §5 encoders), so that `x_v` of a new image is computed exactly as `marnet-extract`
//! computed the cache: same weights (sha256 checked), pooling, preprocessing and dtype, and on the
//! CPU one forward pass per image (as the extract pipeline does; candle's CPU kernels round
//! differently for other batch shapes).

use crate::report::run_output::CACHE_METADATA_FILE;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use marnet_data::cache::{exif_orientation_hint, CacheMetadata};
use marnet_extract::pipeline::json_fixpoint;
use marnet_extract::{load_image_model, parse_dtype, ImageModel, Pooling};
use std::path::Path;

/// Reads `run/cache_metadata.json` (written by `marnet-heads train`).
/// Errors: missing file (named; runs of older builds and fine-tune runs have none), bad JSON.
pub fn read_cache_metadata(run: &Path) -> Result<CacheMetadata> {
    let path = run.join(CACHE_METADATA_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "reading {} (written by `marnet-heads train`; it records the image model the features came from)",
            path.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Loads the image model recorded in `meta` (or `spec_override`, e.g. after the model folder
/// moved) on `device` with the recorded pooling and dtype. Errors: the model cannot be found or
/// loaded; its weight sha256, preprocessing or width differs from the recorded one.
pub fn load_recorded_model(meta: &CacheMetadata, spec_override: Option<&str>, device: &Device) -> Result<ImageModel> {
    let spec = spec_override.unwrap_or(&meta.image_model);
    let pooling: Pooling = meta.image_pooling.parse().context("cache metadata `image_pooling`")?;
    let dtype: DType = parse_dtype(&meta.dtype).context("cache metadata `dtype`")?;
    let context = || {
        format!("loading the run's image model {spec:?} (recorded in {CACHE_METADATA_FILE}; pass --image-model DIR if it moved)")
    };
    // The weights are checked first: another checkpoint is refused as such, whatever else differs.
    let sha256 = marnet_extract::resolve_model(spec).with_context(context)?.sha256;
    if sha256 != meta.image_model_sha256 {
        bail!(
            "image model {spec:?}: weights sha256 {sha256} differ from the {} the run's features were extracted with",
            meta.image_model_sha256
        );
    }
    let model = load_image_model(spec, Some(pooling), device, dtype).with_context(context)?;
    if json_fixpoint(&model.info.preprocess) != json_fixpoint(&meta.preprocess) {
        let why = exif_orientation_hint(&meta.preprocess, &model.info.preprocess)
            .map_or(String::new(), |h| format!(" ({h}, then retrain)"));
        bail!(
            "image model {spec:?}: preprocessing {} differs from the recorded {}{why}",
            model.info.preprocess,
            meta.preprocess
        );
    }
    if model.info.dim != meta.d_v {
        bail!("image model {spec:?}: width {} differs from the recorded d_v = {}", model.info.dim, meta.d_v);
    }
    Ok(model)
}

/// `x_v` (n, d_v) f32 of the image files, on the model's device. Errors name the file: missing,
/// or not decodable as an image.
pub fn embed_images(model: &ImageModel, paths: &[&Path]) -> Result<Tensor> {
    let mut items = Vec::with_capacity(paths.len());
    for p in paths {
        if !p.is_file() {
            bail!("image {}: no such file", p.display());
        }
        items.push(model.preprocessor.load(p)?); // the error names the file and the decoder's reason
    }
    model.embed_items(&items) // same forward shapes as extraction, so x_v matches the cache
}
