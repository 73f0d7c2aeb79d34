//! `marnet-heads finetune`: the MARNet heads trained end to end with the image backbone
//! ([`crate::finetune`]). Re-running the same command with the same `--out` resumes from
//! `OUT/checkpoints/last.safetensors`.

use crate::cli::train::effective_config;
use crate::finetune::{run_finetune, FinetuneOptions};
use crate::train::Mode;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `marnet-heads finetune`.
#[derive(Debug, Args)]
pub struct FinetuneArgs {
    /// Dataset as KIND:PATH (manifest:FILE, imagefolder:DIR, vireo172:DIR, ingredient101:DIR).
    #[arg(long)]
    pub dataset: String,
    /// Image model: local folder or hub id (vit, clip_vision_model, clip).
    #[arg(long)]
    pub image_model: String,
    /// Text model (bert) for x_s; without it only a classifier on x_v trains.
    #[arg(long)]
    pub text_model: Option<String>,
    /// Run folder (checkpoints/, metrics.json, ...); an existing run in it is resumed.
    #[arg(long)]
    pub out: PathBuf,
    /// TOML file with heads config keys (default: the --init-heads run's config.toml, if any).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. `--set lr=1e-3` (heads learning rate); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Train the image backbone (false: heads only, images still augmented).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub train_image_backbone: bool,
    /// Train the text backbone (false: x_s from the frozen text encoder, computed once).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub train_text_backbone: bool,
    /// Keep the first N transformer blocks (and the embeddings when N > 0) frozen.
    #[arg(long, default_value_t = 0)]
    pub freeze_blocks: usize,
    /// Peak learning rate of the backbone(s); the heads use the config's `lr`.
    #[arg(long, default_value_t = 1e-5)]
    pub backbone_lr: f64,
    /// Micro-batches per optimiser step (gradient accumulation).
    #[arg(long, default_value_t = 1)]
    pub accum_steps: usize,
    /// Stop after this many optimiser steps in total (the schedule still spans --epochs);
    /// re-run with a larger value to continue.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Epochs of the schedule.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per micro-batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Images per forward pass at evaluation.
    #[arg(long, default_value_t = 32)]
    pub eval_batch_size: usize,
    /// Compute device: cpu, cuda or cuda:N (needs the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Backbone weight dtype: f32, bf16 or f16 (heads and optimiser state stay f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Image pooling: cls or mean.
    #[arg(long)]
    pub image_pooling: Option<String>,
    /// Initialise the heads from a `marnet-heads train` run folder (its heads.safetensors).
    #[arg(long)]
    pub init_heads: Option<PathBuf>,
    /// Mode whose val top-1 picks the best checkpoint: ema, cdr, fusion (baseline without text).
    #[arg(long)]
    pub select: Option<String>,
    /// Write the fine-tuned image backbone as a Hugging Face folder for `marnet-extract run`.
    #[arg(long)]
    pub export_backbone: Option<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `marnet-heads finetune`.
pub fn run(args: FinetuneArgs) -> Result<()> {
    let base = match (&args.config, &args.init_heads) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(run)) => Some(run.join("config.toml")).filter(|p| p.is_file()),
        (None, None) => None,
    };
    let mut cfg = effective_config(base.as_deref(), &args.set)?;
    if args.batch_size == 0 || args.epochs == 0 {
        bail!("--batch-size and --epochs must be at least 1");
    }
    cfg.budget.batch = args.batch_size;
    cfg.budget.epochs = args.epochs;
    let mut opts = FinetuneOptions::new(&args.dataset, &args.image_model, args.text_model.as_deref(), args.out.clone());
    opts.cfg = cfg;
    opts.train_image_backbone = args.train_image_backbone;
    opts.train_text_backbone = args.train_text_backbone;
    opts.freeze_blocks = args.freeze_blocks;
    opts.backbone_lr = args.backbone_lr;
    opts.accum_steps = args.accum_steps;
    opts.max_steps = args.max_steps;
    opts.epochs = args.epochs;
    opts.batch_size = args.batch_size;
    opts.eval_batch = args.eval_batch_size;
    opts.device = marnet_extract::select_device(&args.device)?;
    opts.dtype = marnet_extract::parse_dtype(&args.dtype)?;
    opts.image_pooling = args.image_pooling.as_deref().map(str::parse).transpose().context("--image-pooling")?;
    opts.select = args.select.as_deref().map(str::parse::<Mode>).transpose().context("--select")?;
    opts.init_heads = args.init_heads;
    opts.export_backbone = args.export_backbone;
    opts.progress = !args.quiet;
    let outcome = run_finetune(opts)?;
    if !args.quiet {
        match outcome.best {
            Some(best) => eprintln!(
                "finetune: {} of {} steps done; best val top-1 {:.2} % at step {}; wrote {}",
                outcome.step,
                outcome.total_steps,
                best.val_top1,
                best.step,
                args.out.display()
            ),
            None => eprintln!(
                "finetune: {} of {} steps done; wrote {}",
                outcome.step,
                outcome.total_steps,
                args.out.display()
            ),
        }
    }
    Ok(())
}
