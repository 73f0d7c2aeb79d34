//! `marnet-heads predict --run DIR --image FILE...` (DESIGN §7): the top classes of new images
//! ([`crate::predict`]), as a table or, with `--json`, one JSON object per image on stdout.

use crate::predict::{predict, ImagePrediction, PredictOptions};
use crate::train::Mode;
use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

/// Arguments of `marnet-heads predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Run folder written by `marnet-heads train` (heads.safetensors, config.toml,
    /// metrics.json, cache_metadata.json).
    #[arg(long)]
    pub run: PathBuf,
    /// Image file(s) to classify (repeatable; several files may follow one --image).
    #[arg(long, required = true, num_args = 1..)]
    pub image: Vec<PathBuf>,
    /// Mode whose heads predict: baseline, ema, mlp, cdr or fusion (default: the trained mode
    /// with the best val top-1 in metrics.json).
    #[arg(long)]
    pub mode: Option<String>,
    /// Compute device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Classes to print per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// The image encoder to embed the images with, when the one recorded in the run's
    /// cache_metadata.json has moved: a local model folder (config.json, model.safetensors,
    /// preprocessor_config.json) or a hub id already in the local Hugging Face cache. Its weights
    /// must have the sha256 recorded there (default: the recorded model).
    #[arg(long, value_name = "DIR|HUB_ID")]
    pub image_model: Option<String>,
    /// Print one JSON object per image: {"image", "mode", "top": [{"index", "class", "probability"}]}.
    #[arg(long)]
    pub json: bool,
}

/// The human-readable table of one image: a header line, then `rank  class  probability`.
pub fn format_table(p: &ImagePrediction) -> String {
    let width = p.top.iter().map(|c| c.class.chars().count()).max().unwrap_or(5).max(5);
    let mut s = format!("{} (mode {})\n", p.image.display(), p.mode);
    for (i, c) in p.top.iter().enumerate() {
        s.push_str(&format!("  {:>2}  {:<width$}  {:.4}\n", i + 1, c.class, c.probability));
    }
    s
}

/// Runs `marnet-heads predict`.
pub fn run(args: PredictArgs) -> Result<()> {
    let mode = args.mode.as_deref().map(|m| m.parse::<Mode>()).transpose().context("--mode")?;
    let device = marnet_extract::select_device(&args.device)?;
    let opts =
        PredictOptions { run: args.run, images: args.image, mode, top_k: args.top_k, image_model: args.image_model };
    let preds = predict(&opts, &device)?;
    for p in &preds {
        if args.json {
            println!("{}", serde_json::to_string(p)?);
        } else {
            print!("{}", format_table(p));
        }
    }
    Ok(())
}
