//! Image batches for the backbone: decode (`marnet_extract::decode_rgb`: alpha on white,
//! CMYK/grey → RGB), then either the model's preprocessing (val/test) or the training
//! augmentation followed by the model's normalisation ([`super::augment`]). Decoding and resizing
//! run in parallel (rayon); the random draws are made in row order from the seeded RNG first, so
//! a batch does not depend on thread scheduling.

use super::augment::{apply, train_preprocessor, Augmentation};
use crate::nn::rng::HostRng;
use anyhow::{Context, Result};
use candle_core::{Device, Tensor};
use marnet_extract::{decode_rgb, Preprocessor};
use rayon::prelude::*;
use std::path::PathBuf;

/// Turns image files into `pixel_values` `(B, 3, H, W)` f32.
pub struct PixelLoader {
    eval: Preprocessor,
    train: Preprocessor,
    augmentation: Augmentation,
}

impl PixelLoader {
    /// A loader for a model's preprocessor. Errors when its output size is not fixed.
    pub fn new(model: &Preprocessor) -> Result<Self> {
        let train =
            train_preprocessor(model).context("the model's preprocessor has no fixed output size; cannot augment")?;
        Ok(Self { eval: model.clone(), train, augmentation: Augmentation::default() })
    }

    /// Val/test batch: the model's preprocessing only.
    pub fn eval_batch(&self, paths: &[&PathBuf], device: &Device) -> Result<Tensor> {
        let items = paths.par_iter().map(|p| self.eval.load(p)).collect::<Result<Vec<_>>>()?;
        self.eval.batch(&items, device)
    }

    /// Train batch: random resized crop + flip drawn from `rng` per image (in order), then the
    /// model's normalisation.
    pub fn train_batch(&self, paths: &[&PathBuf], rng: &mut HostRng, device: &Device) -> Result<Tensor> {
        let images = paths.par_iter().map(|p| decode_rgb(p)).collect::<Result<Vec<_>>>()?;
        let draws: Vec<_> = images.iter().map(|im| self.augmentation.draw(im.width(), im.height(), rng)).collect();
        let items: Vec<Vec<f32>> =
            images.par_iter().zip(draws.par_iter()).map(|(im, d)| self.train.process_rgb(&apply(im, d))).collect();
        self.train.batch(&items, device)
    }
}
