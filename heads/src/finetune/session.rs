//! Everything a fine-tune run holds in memory: rows, backbones, heads, optimiser, and the
//! mapping between variables and checkpoint names (`backbone.image.*`, `backbone.text.*`,
//! `heads.*`; see [`super::checkpoint`]).

use super::freeze::FreezeSpec;
use super::heads_model::FinetuneHeads;
use super::image_backbone::{load_image_backbone, ImageBackbone};
use super::options::FinetuneOptions;
use super::pixels::PixelLoader;
use super::rows::{build_rows, FinetuneRows};
use super::text_backbone::TextBackbone;
use crate::optim::{AdamW, NamedParam, ParamGroup};
use anyhow::{Context, Result};
use candle_core::{DType, Tensor, Var};
use serde_json::Value;
use std::collections::HashMap;

/// Checkpoint-name prefix of image backbone variables.
pub const IMAGE_PREFIX: &str = "backbone.image.";
/// Checkpoint-name prefix of text backbone variables.
pub const TEXT_PREFIX: &str = "backbone.text.";
/// Checkpoint-name prefix of head variables.
pub const HEADS_PREFIX: &str = "heads.";

/// Per-dimension statistics that standardise the raw `x_s` of a trained text backbone (those of
/// the train rows with text, as in the feature cache's rows).
pub struct XsStats {
    /// Mean (1, d_s) f32.
    pub mean: Tensor,
    /// Std (1, d_s) f32.
    pub std: Tensor,
}

/// A built run.
pub struct Session {
    pub opts: FinetuneOptions,
    pub rows: FinetuneRows,
    pub image: ImageBackbone,
    pub text: Option<TextBackbone>,
    pub heads: FinetuneHeads,
    pub loader: PixelLoader,
    pub optimizer: AdamW,
    /// `(checkpoint name, var)` of everything the optimiser updates, sorted within each part.
    pub params: Vec<(String, Var)>,
    /// Resume fingerprint ([`FinetuneOptions::fingerprint`]).
    pub fingerprint: Value,
    /// Dataset name (report title).
    pub dataset_name: String,
    /// Train-split statistics of the raw `x_s`, for a trained text backbone.
    pub x_s_stats: Option<XsStats>,
    /// Lines describing what was loaded (printed and kept in `finetune.json`).
    pub notes: Vec<String>,
}

impl Session {
    /// Loads the dataset and models and builds heads and optimiser (no checkpoint applied).
    pub fn build(opts: FinetuneOptions) -> Result<Self> {
        opts.validate()?;
        let dev = opts.device.clone();
        let dataset = marnet_data::load_dataset(&opts.dataset)?;
        images_are_files(&opts, &dataset)?;
        let mut notes = Vec::new();
        let text_model = match &opts.text_model {
            Some(spec) => Some(
                marnet_extract::load_text_model(spec, None, &dev, opts.dtype)
                    .with_context(|| format!("--text-model {spec}"))?,
            ),
            None => None,
        };
        let rows = build_rows(&dataset, text_model.as_ref(), opts.cfg.run.val_fraction, opts.cfg.run.seed, &dev)?;
        let f = &rows.features;
        notes.push(rows_note(&dataset.name, f));
        let image_freeze = FreezeSpec { train: opts.train_image_backbone, frozen_blocks: opts.freeze_blocks };
        let image = load_image_backbone(&opts.image_model, opts.image_pooling, image_freeze, &dev, opts.dtype)
            .with_context(|| format!("--image-model {}", opts.image_model))?;
        let loader = PixelLoader::new(&image.preprocessor)?;
        let d_s = text_model.as_ref().map(|_| f.d_s);
        let heads = FinetuneHeads::new(image.dim(), d_s, f.num_classes(), &opts.cfg, opts.cfg.run.seed, &dev)?;
        if let Some(run) = &opts.init_heads {
            let (mode, n) = heads.init_from_run(run).with_context(|| format!("--init-heads {}", run.display()))?;
            notes.push(format!("heads initialised from {} ({n} tensors of mode {mode})", run.display()));
        }
        let text = match (&text_model, opts.train_text_backbone) {
            (Some(reference), true) => {
                let spec = opts.text_model.as_deref().unwrap_or_default();
                let freeze = FreezeSpec { train: true, frozen_blocks: opts.freeze_blocks };
                Some(TextBackbone::load(spec, reference, freeze, &dev, opts.dtype)?)
            }
            _ => None,
        };
        let x_s_stats = match &text {
            Some(_) => Some(XsStats {
                mean: Tensor::from_slice(&f.x_s_mean, (1, f.d_s), &dev)?,
                std: Tensor::from_slice(&f.x_s_std, (1, f.d_s), &dev)?,
            }),
            None => None,
        };
        let Optimised { params, optimizer } = optimised(&opts, &image, text.as_ref(), &heads)?;
        notes.push(trainable_note(&opts, &image, text.is_some(), text_model.is_some(), &params));
        let fingerprint = opts.fingerprint(&image.files.sha256, text_model.as_ref().map(|t| t.info.sha256.as_str()))?;
        Ok(Self {
            opts,
            rows,
            image,
            text,
            heads,
            loader,
            optimizer,
            params,
            fingerprint,
            dataset_name: dataset.name,
            x_s_stats,
            notes,
        })
    }

    /// Optimiser steps per epoch: `ceil(train rows / (batch_size · accum_steps))`.
    pub fn steps_per_epoch(&self) -> u64 {
        let per_step = self.opts.batch_size * self.opts.accum_steps;
        self.rows.train_rows().len().div_ceil(per_step) as u64
    }

    /// Steps of the whole schedule (`epochs · steps_per_epoch`).
    pub fn total_steps(&self) -> u64 {
        self.steps_per_epoch() * self.opts.epochs as u64
    }

    /// Current values of every optimised variable under its checkpoint name (f32 masters).
    pub fn weights(&self) -> Result<Vec<(String, Tensor)>> {
        self.params
            .iter()
            .map(|(n, v)| Ok((n.clone(), self.optimizer.master_value(n).unwrap_or_else(|| v.as_tensor().detach()))))
            .collect()
    }

    /// Sets every optimised variable from `tensors` (checkpoint names). Errors name a missing one.
    pub fn set_weights(&mut self, tensors: &HashMap<String, Tensor>, origin: &str) -> Result<()> {
        let names: Vec<String> = self.params.iter().map(|(n, _)| n.clone()).collect();
        for n in names {
            let t = tensors
                .get(&n)
                .with_context(|| format!("{origin}: no tensor {n} (was it written with other freeze settings?)"))?;
            self.optimizer.set_value(&n, t).with_context(|| origin.to_string())?;
        }
        Ok(())
    }

    /// Fine-tuned image backbone tensors by source name (for `--export-backbone`).
    pub fn image_values(&self) -> Result<HashMap<String, Tensor>> {
        Ok(self
            .weights()?
            .into_iter()
            .filter_map(|(n, t)| n.strip_prefix(IMAGE_PREFIX).map(|s| (s.to_string(), t)))
            .collect())
    }

    /// Standardised `x_s` (n, d_s) of a trained text backbone for `texts`.
    pub fn text_features(&self, texts: &[&str]) -> Result<Option<Tensor>> {
        match (&self.text, &self.x_s_stats) {
            (Some(t), Some(stats)) => {
                let raw = t.embed(texts)?.to_dtype(DType::F32)?;
                Ok(Some(raw.broadcast_sub(&stats.mean)?.broadcast_div(&stats.std)?))
            }
            _ => Ok(None),
        }
    }
}

/// The fine-tune steps open every image by its file path; images stored inside Parquet files or
/// tar shards are read only by the extraction pipeline so far. Errors name the first such sample.
fn images_are_files(opts: &FinetuneOptions, dataset: &marnet_data::Dataset) -> Result<()> {
    if let Some(s) = dataset.samples.iter().find(|s| !matches!(s.source, marnet_data::ImageSource::File)) {
        anyhow::bail!(
            "--dataset {}: fine-tuning reads images from files only; sample {} is stored in {} \
             (extract features with marnet-extract run and train the heads on the cache, or unpack the images)",
            opts.dataset,
            s.id,
            s.image_path.display()
        );
    }
    Ok(())
}

/// The note on the rows: train (with text), val (carved or not), test and class counts.
fn rows_note(dataset: &str, f: &crate::train::features::Features) -> String {
    format!(
        "dataset {}: {} train rows ({} with text), {} val{}, {} test, {} classes",
        dataset,
        f.train.len(),
        f.train_text.len(),
        f.val.len(),
        if f.val_carved { " (carved from train)" } else { "" },
        f.test.len(),
        f.num_classes()
    )
}

/// The note on what is trained: the image backbone's trainable values, the text side (trained,
/// frozen or absent) and the heads' values.
fn trainable_note(
    opts: &FinetuneOptions,
    image: &ImageBackbone,
    text_trained: bool,
    text_model: bool,
    params: &[(String, Var)],
) -> String {
    let count = |p: &str| params.iter().filter(|(n, _)| n.starts_with(p)).map(|(_, v)| v.elem_count()).sum::<usize>();
    format!(
        "{} {} ({} blocks, dtype {:?}): {} trainable backbone values; text: {}; heads: {} values",
        image.model_type,
        opts.image_model,
        image.num_layers,
        opts.dtype,
        count(IMAGE_PREFIX),
        if text_trained {
            format!("trainable, {} values", count(TEXT_PREFIX))
        } else if text_model {
            "frozen (x_s computed once)".to_string()
        } else {
            "none (classifier on x_v)".to_string()
        },
        count(HEADS_PREFIX)
    )
}

/// What the optimiser updates and the optimiser itself.
struct Optimised {
    /// `(checkpoint name, var)`: trainable image backbone, trainable text backbone, heads.
    params: Vec<(String, Var)>,
    /// AdamW with group 0 the backbones (`--backbone-lr`), group 1 the heads (`lr`), both decaying
    /// by `weight_decay`.
    optimizer: AdamW,
}

/// Names every trainable variable by its checkpoint prefix and builds the two-group AdamW.
fn optimised(
    opts: &FinetuneOptions,
    image: &ImageBackbone,
    text: Option<&TextBackbone>,
    heads: &FinetuneHeads,
) -> Result<Optimised> {
    let mut params: Vec<(String, Var)> = Vec::new();
    let mut groups: Vec<NamedParam> = Vec::new();
    let mut push = |name: String, var: Var, group: usize| {
        params.push((name.clone(), var.clone()));
        groups.push(NamedParam { name, var, group });
    };
    for (n, v) in image.trainable() {
        push(format!("{IMAGE_PREFIX}{n}"), v, 0);
    }
    if let Some(t) = text {
        for (n, v) in t.trainable() {
            push(format!("{TEXT_PREFIX}{n}"), v, 0);
        }
    }
    for (n, v) in heads.named_vars() {
        push(format!("{HEADS_PREFIX}{n}"), v, 1);
    }
    let optimizer = AdamW::new(
        groups,
        vec![
            ParamGroup { lr: opts.backbone_lr, weight_decay: opts.cfg.optim.weight_decay },
            ParamGroup { lr: opts.cfg.optim.lr, weight_decay: opts.cfg.optim.weight_decay },
        ],
    )?;
    Ok(Optimised { params, optimizer })
}
