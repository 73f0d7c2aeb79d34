//! `marnet-extract run` (DESIGN.md section 7): extracts `x_v`, `x_s` of a dataset into a
//! Parquet feature cache; rerunning the same command resumes.

use crate::encoders::Pooling;
use crate::pipeline::{self, BadImagePolicy, ExtractOptions};
use anyhow::Context;
use clap::Args;
use marnet_data::scheduler::ShareSpec;
use std::path::PathBuf;

/// Flags of `marnet-extract run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Dataset as KIND:PATH, KIND one of manifest, imagefolder, vireo172, ingredient101,
    /// hf (Parquet file or folder), webdataset (tar shards: a folder, a file or a brace pattern).
    #[arg(long)]
    pub dataset: String,
    /// Columns (hf) and JSON keys (webdataset) of the image, label and text.
    #[command(flatten)]
    pub dataset_flags: super::DatasetFlags,
    /// Image model (vit, clip_vision_model): a local folder with config.json + model.safetensors, or a hub id.
    #[arg(long)]
    pub image_model: String,
    /// Text model (bert): a local folder with config.json + model.safetensors + tokenizer.json, or a hub id.
    #[arg(long)]
    pub text_model: String,
    /// Output cache folder (created; resumed when it holds a cache of the same models and settings).
    #[arg(long)]
    pub out: PathBuf,
    /// Images decoded and embedded per step (on the CPU the model runs 4 images per forward
    /// pass whatever this is); changes speed and memory only, never the values.
    #[arg(long, default_value_t = pipeline::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// Extract only the parts i with i % n == k (k/n, e.g. 0/2); run every k, same --out, to
    /// complete the cache. `auto`: k/n of this task of a Slurm job array (SLURM_ARRAY_TASK_ID,
    /// SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, MARNET_TASK_COUNT).
    #[arg(long, default_value = "0/1")]
    pub shard: ShareSpec,
    /// Extract only the first N samples (in the dataset's order).
    #[arg(long)]
    pub limit: Option<usize>,
    /// What to do with a missing, empty or undecodable image: fail (stop, naming the file) or
    /// skip (leave the sample out and list it in OUT/.bad_inputs.jsonl).
    #[arg(long, default_value = "fail")]
    pub on_bad_image: BadImagePolicy,
    /// Device: cpu, cuda or cuda:N (cuda needs a build with the `cuda` feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Compute dtype of the encoders: f32, bf16 or f16 (features are stored as f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// Image feature pooling: cls (ViT: class token after the final LayerNorm; CLIP: same as
    /// pooler_output), mean over patch tokens, and for CLIP pooler_output (768-d for ViT-B/16,
    /// before visual_projection) or image_embeds (through visual_projection, 512-d). Default: cls.
    #[arg(long)]
    pub image_pooling: Option<Pooling>,
    /// Text feature pooling: cls or mean over unmasked tokens. Default: the model's
    /// sentence-transformers pooling, else cls.
    #[arg(long)]
    pub text_pooling: Option<Pooling>,
    /// Rows per Parquet part; fixes the part boundaries (a resumed run must use the same value).
    #[arg(long, default_value_t = pipeline::DEFAULT_ROWS_PER_PART)]
    pub rows_per_part: usize,
    /// No progress bar (the summary is still printed).
    #[arg(long)]
    pub quiet: bool,
    /// Testing aid: exit with an error after writing N parts, as if killed.
    #[arg(long, hide = true)]
    pub stop_after_parts: Option<usize>,
}

impl RunArgs {
    /// The pipeline options these flags stand for; `--shard auto` is resolved from the process
    /// environment (and the share it found is printed to stderr, for the task's log).
    ///
    /// # Errors
    /// `--shard auto` outside a job array task, or with unusable array variables.
    pub fn options(&self) -> anyhow::Result<ExtractOptions> {
        let shard = self.shard.resolve_from_process_env().context("--shard auto")?;
        if let Some(source) = &shard.source {
            eprintln!("--shard auto: shard {} ({source})", shard.share);
        }
        Ok(ExtractOptions {
            dataset: self.dataset.clone(),
            dataset_options: self.dataset_flags.options(),
            image_model: self.image_model.clone(),
            text_model: self.text_model.clone(),
            out: self.out.clone(),
            batch_size: self.batch_size,
            shard: shard.share,
            limit: self.limit,
            on_bad_image: self.on_bad_image,
            device: self.device.clone(),
            dtype: self.dtype.clone(),
            image_pooling: self.image_pooling,
            text_pooling: self.text_pooling,
            rows_per_part: self.rows_per_part,
            quiet: self.quiet,
            stop_after_parts: self.stop_after_parts,
        })
    }
}

/// Runs the extraction and prints its summary to stdout.
///
/// # Errors
/// See [`pipeline::run_extraction`].
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let summary = pipeline::run_extraction(&args.options()?)?;
    println!("{summary}");
    Ok(())
}
