//! The dataset rows of a fine-tune run: image paths, labels, the split partition and the
//! (frozen, standardised) text features, built through the heads' [`Features`] so that splits
//! (val carved from train when the dataset has none, stratified, seeded by `seed` and
//! `val_fraction`) and the `x_s` standardisation are those of `marnet-heads train` (DESIGN §2).
//!
//! `Features` holds a placeholder `x_v` of width 1 here: image features are computed from the
//! pixels at every step. Test rows never get `x_s` (DESIGN §3). Without a text model, `x_s` is a
//! zero column and only the row partition is used.

use super::text_backbone::frozen_text_features;
use crate::train::features::{FeatureParts, Features};
use anyhow::{Context, Result};
use candle_core::Device;
use marnet_data::{Dataset, Split};
use marnet_extract::TextModel;
use std::path::PathBuf;

/// Rows plus what the steps need per row.
pub struct FinetuneRows {
    /// Labels, splits, partition (`train`, `train_text`, `val`, `test`), standardised `x_s`.
    pub features: Features,
    /// Image file of every row.
    pub paths: Vec<PathBuf>,
    /// Text of every row (None for test rows and rows without text).
    pub texts: Vec<Option<String>>,
    /// Whether a text model supplied `x_s`.
    pub with_text: bool,
}

impl FinetuneRows {
    /// Rows the training steps draw from: train rows with text (MARNet heads), or all train rows
    /// (classifier only, without a text model).
    pub fn train_rows(&self) -> &[u32] {
        if self.with_text {
            &self.features.train_text
        } else {
            &self.features.train
        }
    }
}

/// Builds the rows of `dataset`; `text` computes the frozen `x_s` of train/val rows with text.
/// Errors: no train rows with text (when `text` is given), no test rows, no val rows.
pub fn build_rows(
    dataset: &Dataset,
    text: Option<&TextModel>,
    val_fraction: f64,
    seed: u64,
    device: &Device,
) -> Result<FinetuneRows> {
    let s = &dataset.samples;
    let n = s.len();
    let texts: Vec<Option<String>> = s
        .iter()
        .map(|r| if r.split == Split::Test { None } else { r.text.clone().filter(|t| !t.trim().is_empty()) })
        .collect();
    let (has_text, x_s, d_s) = match text {
        Some(model) => {
            let with: Vec<usize> = (0..n).filter(|&i| texts[i].is_some()).collect();
            let strs: Vec<&str> = with.iter().map(|&i| texts[i].as_deref().unwrap_or("")).collect();
            let feats = frozen_text_features(model, &strs).context("embedding texts with the frozen text model")?;
            let d = model.dim();
            let mut x_s = vec![0f32; n * d];
            for (j, &i) in with.iter().enumerate() {
                x_s[i * d..(i + 1) * d].copy_from_slice(&feats[j * d..(j + 1) * d]);
            }
            (texts.iter().map(Option::is_some).collect::<Vec<_>>(), x_s, d)
        }
        // No text model: every non-test row counts as "with text" so that the partition exists.
        None => (s.iter().map(|r| r.split != Split::Test).collect(), vec![0f32; n], 1),
    };
    let parts = FeatureParts {
        ids: s.iter().map(|r| r.id.clone()).collect(),
        splits: s.iter().map(|r| r.split).collect(),
        labels: s.iter().map(|r| r.label).collect(),
        x_v: vec![0f32; n],
        d_v: 1,
        x_s,
        d_s,
        has_text,
        class_names: dataset.class_names.clone(),
    };
    let features = Features::from_parts(parts, val_fraction, seed, device)
        .with_context(|| format!("dataset {}", dataset.root.display()))?;
    Ok(FinetuneRows {
        features,
        paths: s.iter().map(|r| r.image_path.clone()).collect(),
        texts,
        with_text: text.is_some(),
    })
}
