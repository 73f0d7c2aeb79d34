//! `marnet-heads predict` (DESIGN §7): class probabilities for new images from a training run.
//!
//! A run folder of `marnet-heads train` holds `config.toml`, `metrics.json`, `heads.safetensors`
//! and `cache_metadata.json` (the image model the cache was extracted with). Prediction embeds the
//! images with that model ([`images`]), feeds `x_v` through the chosen mode's test-time path
//! ([`run_heads`]) and ranks the softmax of the logits.

pub mod images;
pub mod run_heads;

use crate::train::metrics::top_indices;
use crate::train::{probabilities, Mode};
use anyhow::{ensure, Result};
use candle_core::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};

pub use run_heads::{best_mode, RunHeads, HEADS_FILE};

/// One ranked class of an image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassScore {
    /// Class index (the cache's `label`).
    pub index: usize,
    /// Class name.
    pub class: String,
    /// Softmax probability of the mode's logits, in [0, 1].
    pub probability: f32,
}

/// The ranked classes of one image, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImagePrediction {
    /// The image file as given.
    pub image: PathBuf,
    /// The mode that produced the scores.
    pub mode: Mode,
    /// `min(top_k, K)` classes, best first (ties: lower index first).
    pub top: Vec<ClassScore>,
}

/// What to predict.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// Run folder written by `marnet-heads train`.
    pub run: PathBuf,
    /// Image files.
    pub images: Vec<PathBuf>,
    /// Mode; `None` = the saved mode with the best val top-1 in `metrics.json`.
    pub mode: Option<Mode>,
    /// Classes per image (≥ 1).
    pub top_k: usize,
    /// Image model to use instead of the recorded spec (its sha256 must still match).
    pub image_model: Option<String>,
}

/// Predicts the top classes of every image on `device`.
/// Errors: see [`RunHeads::load`], [`images::load_recorded_model`], [`images::embed_images`];
/// class names of the heads and the cache metadata disagree; `top_k` = 0; no images.
pub fn predict(opts: &PredictOptions, device: &Device) -> Result<Vec<ImagePrediction>> {
    ensure!(opts.top_k >= 1, "--top-k must be at least 1");
    ensure!(!opts.images.is_empty(), "no --image given");
    let heads = RunHeads::load(&opts.run, opts.mode, device)?;
    let meta = images::read_cache_metadata(&opts.run)?;
    ensure!(
        meta.class_names == heads.info.class_names,
        "{}: class names differ from those in {}",
        opts.run.join(crate::report::run_output::CACHE_METADATA_FILE).display(),
        opts.run.join(HEADS_FILE).display()
    );
    let model = images::load_recorded_model(&meta, opts.image_model.as_deref(), device)?;
    let paths: Vec<&Path> = opts.images.iter().map(|p| p.as_path()).collect();
    let x_v = images::embed_images(&model, &paths)?.to_device(device)?;
    let probs = probabilities(&heads.logits(&x_v)?)?;
    let k = heads.info.class_names.len();
    Ok(opts
        .images
        .iter()
        .zip(probs.chunks(k))
        .map(|(img, row)| ImagePrediction {
            image: img.clone(),
            mode: heads.mode,
            top: top_indices(row, opts.top_k.min(k))
                .into_iter()
                .map(|j| ClassScore {
                    index: j as usize,
                    class: heads.info.class_names[j as usize].clone(),
                    probability: row[j as usize],
                })
                .collect(),
        })
        .collect())
}
