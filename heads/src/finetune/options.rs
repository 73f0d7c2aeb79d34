//! Settings of one fine-tune run (the `marnet-heads finetune` flags) and the fingerprint a
//! resumed run must match.

use crate::model::config::HeadsConfig;
use crate::train::Mode;
use anyhow::{bail, Result};
use candle_core::{DType, Device};
use marnet_extract::Pooling;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Everything `run_finetune` needs.
#[derive(Debug, Clone)]
pub struct FinetuneOptions {
    /// Dataset spec `KIND:PATH` (DESIGN §4).
    pub dataset: String,
    /// Image model folder or hub id.
    pub image_model: String,
    /// Text model folder or hub id; `None` trains a classifier on `x_v` only.
    pub text_model: Option<String>,
    /// Run folder.
    pub out: PathBuf,
    /// Heads hyperparameters; `lr` and `weight_decay` apply to the heads, `seed`, `warmup`,
    /// `val_fraction`, loss weights and sampler settings to the whole run.
    pub cfg: HeadsConfig,
    /// Train the image backbone (default true).
    pub train_image_backbone: bool,
    /// Train the text backbone (default false: `x_s` from the frozen encoder, computed once).
    pub train_text_backbone: bool,
    /// Leading transformer blocks (+ embeddings when > 0) kept frozen in trained backbones.
    pub freeze_blocks: usize,
    /// Peak learning rate of the backbones (default 1e-5).
    pub backbone_lr: f64,
    /// Micro-batches per optimiser step (default 1).
    pub accum_steps: usize,
    /// Stop after this many optimiser steps in total (the schedule still spans `epochs`).
    pub max_steps: Option<u64>,
    /// Epochs (default 10).
    pub epochs: usize,
    /// Micro-batch size (default 32).
    pub batch_size: usize,
    /// Compute device.
    pub device: Device,
    /// Backbone weight dtype (heads and optimiser state are f32).
    pub dtype: DType,
    /// Image pooling (default `cls`).
    pub image_pooling: Option<Pooling>,
    /// Initialise the heads from a `marnet-heads train` run folder.
    pub init_heads: Option<PathBuf>,
    /// Write the fine-tuned image backbone as an HF folder here at the end.
    pub export_backbone: Option<PathBuf>,
    /// Mode whose val top-1 selects the best checkpoint (default `ema`, or `baseline` without
    /// a text model).
    pub select: Option<Mode>,
    /// Images per forward pass at evaluation (default 32).
    pub eval_batch: usize,
    /// Print per-step progress to stderr.
    pub progress: bool,
}

impl FinetuneOptions {
    /// Options with the documented defaults.
    pub fn new(dataset: &str, image_model: &str, text_model: Option<&str>, out: PathBuf) -> Self {
        Self {
            dataset: dataset.to_string(),
            image_model: image_model.to_string(),
            text_model: text_model.map(str::to_string),
            out,
            cfg: HeadsConfig::default(),
            train_image_backbone: true,
            train_text_backbone: false,
            freeze_blocks: 0,
            backbone_lr: 1e-5,
            accum_steps: 1,
            max_steps: None,
            epochs: 10,
            batch_size: 32,
            device: Device::Cpu,
            dtype: DType::F32,
            image_pooling: None,
            init_heads: None,
            export_backbone: None,
            select: None,
            eval_batch: 32,
            progress: false,
        }
    }

    /// The selection mode in effect.
    pub fn select_mode(&self) -> Mode {
        match (self.select, self.text_model.is_some()) {
            (Some(m), _) => m,
            (None, true) => Mode::Ema,
            (None, false) => Mode::Baseline,
        }
    }

    /// Checks the flags against each other; errors name the flag.
    pub fn validate(&self) -> Result<()> {
        self.cfg.validate()?;
        if self.batch_size == 0 || self.accum_steps == 0 || self.epochs == 0 || self.eval_batch == 0 {
            bail!("--batch-size, --accum-steps, --epochs and the eval batch must be at least 1");
        }
        if !(self.backbone_lr > 0.0 && self.backbone_lr.is_finite()) {
            bail!("--backbone-lr {}: expected a finite value > 0", self.backbone_lr);
        }
        if self.max_steps == Some(0) {
            bail!("--max-steps 0: expected at least 1");
        }
        if self.dtype == DType::BF16 && self.device.is_cpu() {
            bail!("--dtype bf16 needs --device cuda: candle's CPU matmul has no bf16 kernel (use f32 on the CPU)");
        }
        if self.cfg.run.precision != crate::nn::precision::Precision::F32 {
            bail!(
                "precision = \"{}\": fine-tuning trains its heads in f32 (the key applies to `train` and \
                 `sweep` on cached features); set precision = \"f32\"",
                self.cfg.run.precision.name()
            );
        }
        if self.train_text_backbone && self.text_model.is_none() {
            bail!("--train-text-backbone needs --text-model");
        }
        let sel = self.select_mode();
        let allowed: &[Mode] =
            if self.text_model.is_some() { &[Mode::Ema, Mode::Cdr, Mode::Fusion] } else { &[Mode::Baseline] };
        if !allowed.contains(&sel) {
            bail!(
                "--select {sel}: expected one of {:?} (with{} a text model)",
                allowed.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
                if self.text_model.is_some() { "" } else { "out" }
            );
        }
        Ok(())
    }

    /// What a resumed run must share with the checkpoint: data, models (with their weight
    /// sha256), config and every flag that changes the trajectory (not `max_steps`, device,
    /// export folder or progress).
    pub fn fingerprint(&self, image_sha256: &str, text_sha256: Option<&str>) -> Result<Value> {
        Ok(json!({
            "dataset": self.dataset,
            "image_model": self.image_model,
            "image_sha256": image_sha256,
            "image_pooling": self.image_pooling.unwrap_or_default().as_str(),
            "text_model": self.text_model,
            "text_sha256": text_sha256,
            "config": self.cfg.to_toml_string()?,
            "train_image_backbone": self.train_image_backbone,
            "train_text_backbone": self.train_text_backbone,
            "freeze_blocks": self.freeze_blocks,
            "backbone_lr": self.backbone_lr,
            "accum_steps": self.accum_steps,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "dtype": format!("{:?}", self.dtype),
            "select": self.select_mode().as_str(),
            "init_heads": self.init_heads.as_ref().map(|p| p.display().to_string()),
        }))
    }
}
