//! Batched, sharded, resumable extraction of `x_v` and `x_s` to the feature cache
//! (`marnet-extract run`, DESIGN.md sections 3 and 7).
//!
//! Flow: the dataset's samples (reader order, first `--limit`) are laid out in parts of
//! `--rows-per-part` rows ([`plan`]); this process takes the parts of its `--shard` that are not
//! written yet. A producer thread decodes and preprocesses the next batches with rayon
//! ([`prefetch`]) while this thread embeds the current one; a part is written (temp file +
//! rename, by `marnet_data::cache::CacheWriter`) once its last batch is embedded. Rerunning the
//! same command skips finished parts and redoes a part that was interrupted. Results do not
//! depend on `--batch-size`: batches never cross parts, on the CPU images go through the model
//! in forward passes of exactly [`CPU_MICRO_BATCH`] images (the last one padded with copies of
//! its last image), because candle's kernels round differently for different batch shapes but
//! not for a row's neighbours within one shape; and texts are embedded one at a time (padding to
//! a batch's longest text would change the floating-point summation order). On an accelerator
//! images run as one forward pass per batch.

pub mod bad_inputs;
pub mod part;
pub mod plan;
pub mod prefetch;
pub mod progress;
pub mod sources;
pub mod summary;

pub use crate::encoders::CPU_MICRO_BATCH;

pub use bad_inputs::{read_bad_inputs, BadImagePolicy, BadInput, BAD_INPUTS_FILE};
pub use plan::{Plan, Shard, PLAN_FILE};
pub use summary::{StageSeconds, Summary};

use crate::encoders::{load_image_model, load_text_model, ImageModel, Pooling, TextModel};
use crate::{parse_dtype, select_device};
use anyhow::{bail, Context, Result};
use candle_core::DType;
use marnet_data::cache::{CacheMetadata, CacheWriter};
use marnet_data::{load_dataset_with, DatasetOptions, Sample};
use part::{wants_text, PartRows};
use prefetch::PreparedBatch;
use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::time::Instant;

/// Default `--rows-per-part`.
pub const DEFAULT_ROWS_PER_PART: usize = 2048;
/// Default `--batch-size`.
pub const DEFAULT_BATCH_SIZE: usize = 16;

/// Everything `marnet-extract run` needs (the CLI flags, parsed).
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Dataset as `KIND:PATH`.
    pub dataset: String,
    /// Column and key choices of the `hf` and `webdataset` kinds.
    pub dataset_options: DatasetOptions,
    /// Image model: local folder or hub id.
    pub image_model: String,
    /// Text model: local folder or hub id.
    pub text_model: String,
    /// Cache folder.
    pub out: PathBuf,
    /// Images per step (≥ 1): one forward pass on an accelerator, groups of
    /// [`CPU_MICRO_BATCH`] on the CPU; changes speed and memory only.
    pub batch_size: usize,
    /// Which parts this process extracts.
    pub shard: Shard,
    /// Extract only the first N samples (reader order).
    pub limit: Option<usize>,
    /// What to do with unusable images.
    pub on_bad_image: BadImagePolicy,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// Compute dtype: `f32`, `bf16` or `f16`.
    pub dtype: String,
    /// Image pooling; `None` = the model's default (`cls`).
    pub image_pooling: Option<Pooling>,
    /// Text pooling; `None` = sentence-transformers config, else `cls`.
    pub text_pooling: Option<Pooling>,
    /// Rows per part (fixed, so part boundaries do not depend on the batch size).
    pub rows_per_part: usize,
    /// No progress bar.
    pub quiet: bool,
    /// Testing aid: stop with an error after writing this many parts (simulates a kill).
    pub stop_after_parts: Option<usize>,
}

impl ExtractOptions {
    /// Options with the defaults of the CLI for the given dataset, models and output folder.
    pub fn new(dataset: &str, image_model: &str, text_model: &str, out: impl Into<PathBuf>) -> ExtractOptions {
        ExtractOptions {
            dataset: dataset.into(),
            dataset_options: DatasetOptions::default(),
            image_model: image_model.into(),
            text_model: text_model.into(),
            out: out.into(),
            batch_size: DEFAULT_BATCH_SIZE,
            shard: Shard::ALL,
            limit: None,
            on_bad_image: BadImagePolicy::Fail,
            device: "cpu".into(),
            dtype: "f32".into(),
            image_pooling: None,
            text_pooling: None,
            rows_per_part: DEFAULT_ROWS_PER_PART,
            quiet: true,
            stop_after_parts: None,
        }
    }
}

/// The cache metadata (DESIGN.md section 3) of features made by these models on this dataset.
pub fn cache_metadata(
    image: &ImageModel,
    text: &TextModel,
    dataset: &str,
    class_names: &[String],
    dtype: DType,
) -> CacheMetadata {
    CacheMetadata {
        image_model: image.info.spec.clone(),
        image_model_sha256: image.info.sha256.clone(),
        image_model_type: image.info.model_type.clone(),
        image_pooling: image.info.pooling.as_str().into(),
        preprocess: json_fixpoint(&image.info.preprocess),
        text_model: text.info.spec.clone(),
        text_model_sha256: text.info.sha256.clone(),
        text_model_type: text.info.model_type.clone(),
        text_pooling: text.info.pooling.as_str().into(),
        max_tokens: text.max_tokens(),
        text_normalize: text.normalize(),
        dtype: crate::device::dtype_name(dtype).into(),
        dataset: dataset.into(),
        class_names: class_names.to_vec(),
        d_v: image.info.dim,
        d_s: text.dim(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// `value` after as many text round trips as make it stable (at most 3). serde_json's default
/// float parser may land one ulp away from the printed float, so a value compared with its own
/// re-read copy (the cache metadata stored in `.manifest.json`) must be stored in re-read form.
pub fn json_fixpoint(value: &serde_json::Value) -> serde_json::Value {
    let mut v = value.clone();
    for _ in 0..3 {
        match serde_json::from_str::<serde_json::Value>(&v.to_string()) {
            Ok(next) if next == v => break,
            Ok(next) => v = next,
            Err(_) => break,
        }
    }
    v
}

/// Runs one extraction: loads the dataset and both encoders, then writes this shard's missing
/// parts to `opts.out`.
///
/// # Errors
/// Unreadable dataset or model; `opts.out` holds a cache of other models, settings or layout
/// (refused, nothing written); an unusable image with [`BadImagePolicy::Fail`] (the error names
/// the file; parts written before stay valid); `stop_after_parts` reached.
pub fn run_extraction(opts: &ExtractOptions) -> Result<Summary> {
    anyhow::ensure!(opts.batch_size >= 1, "--batch-size must be at least 1");
    let dataset = load_dataset_with(&opts.dataset, &opts.dataset_options)?;
    let mut samples = dataset.samples;
    if let Some(limit) = opts.limit {
        samples.truncate(limit);
    }
    let device = select_device(&opts.device)?;
    let dtype = parse_dtype(&opts.dtype)?;
    let image = load_image_model(&opts.image_model, opts.image_pooling, &device, dtype)?;
    let text = load_text_model(&opts.text_model, opts.text_pooling, &device, dtype)?;
    let metadata = cache_metadata(&image, &text, &dataset.name, &dataset.class_names, dtype);

    let plan = Plan::new(samples.len(), opts.rows_per_part).with_context(|| format!("dataset {}", opts.dataset))?;
    let writer = CacheWriter::create_or_resume(&opts.out, metadata, plan.total_parts)?;
    plan.record_or_check(&opts.out)?;

    let owned: Vec<usize> = (0..plan.total_parts).filter(|&i| opts.shard.owns(i)).collect();
    let pending: Vec<(usize, std::ops::Range<usize>)> =
        owned.iter().filter(|&&i| !writer.is_part_done(i)).map(|&i| (i, plan.part_range(i))).collect();
    let mut summary = Summary {
        out: opts.out.display().to_string(),
        total_parts: plan.total_parts,
        parts_already_done: owned.len() - pending.len(),
        dims: (image.info.dim, text.dim()),
        ..Summary::default()
    };
    let n_images: usize = pending.iter().map(|(_, r)| r.len()).sum();
    let bar = progress::image_bar(n_images as u64, opts.quiet);
    let start = Instant::now();
    let batches = prefetch::batches(&pending, opts.batch_size);
    let ctx = Consumer { image: &image, text: &text, writer: &writer, plan: &plan, samples: &samples, opts, bar: &bar };
    let result = std::thread::scope(|scope| {
        let (rx, producer) = prefetch::spawn(scope, &samples, &image.preprocessor, batches);
        let consumed = ctx.consume(rx, &mut summary);
        // The receiver is dropped by now, so the producer stops after its current batch.
        summary.stages.decode_waited =
            producer.join().map_err(|_| anyhow::anyhow!("internal: the image decoding thread panicked"))?;
        consumed
    });
    bar.finish_and_clear();
    summary.seconds = start.elapsed().as_secs_f64();
    result?;
    writer.finish()?;
    bad_inputs::rebuild(&opts.out, plan.total_parts, |i| writer.is_part_done(i))?;
    summary.cache_complete = writer.missing_parts().is_empty();
    Ok(summary)
}

/// The embedding side of the pipeline.
struct Consumer<'a> {
    image: &'a ImageModel,
    text: &'a TextModel,
    writer: &'a CacheWriter,
    plan: &'a Plan,
    samples: &'a [Sample],
    opts: &'a ExtractOptions,
    bar: &'a indicatif::ProgressBar,
}

impl Consumer<'_> {
    fn consume(&self, rx: Receiver<PreparedBatch>, summary: &mut Summary) -> Result<()> {
        let (d_v, d_s) = summary.dims;
        let mut current: Option<PartRows> = None;
        loop {
            let waiting = Instant::now();
            let Ok(batch) = rx.recv() else { break };
            summary.stages.model_waited += waiting.elapsed().as_secs_f64();
            summary.stages.decode += batch.decode_seconds;
            let rows = current.get_or_insert_with(|| PartRows::new(batch.part, d_v, d_s));
            self.embed_batch(batch.range.clone(), batch.pixels, rows, summary)?;
            self.bar.inc(batch.range.len() as u64);
            if batch.range.end == self.plan.part_range(batch.part).end {
                let done = current.take().context("internal: no rows for a finished part")?;
                self.write_part(done, summary)?;
                if let Some(n) = self.opts.stop_after_parts {
                    if summary.parts_written >= n {
                        bail!("stopped after writing {n} part(s) as asked by --stop-after-parts");
                    }
                }
            }
        }
        Ok(())
    }

    /// Embeds one prepared batch into `rows`; unusable images fail or are recorded as bad.
    fn embed_batch(
        &self,
        range: std::ops::Range<usize>,
        pixels: Vec<Result<Vec<f32>>>,
        rows: &mut PartRows,
        summary: &mut Summary,
    ) -> Result<()> {
        let mut good: Vec<&Sample> = Vec::with_capacity(range.len());
        let mut items: Vec<Vec<f32>> = Vec::with_capacity(range.len());
        for (sample, px) in self.samples[range].iter().zip(pixels) {
            match px {
                Ok(v) => {
                    good.push(sample);
                    items.push(v);
                }
                Err(e) if self.opts.on_bad_image == BadImagePolicy::Skip => {
                    rows.bad.push(BadInput {
                        id: sample.id.clone(),
                        path: sample.location().to_string(),
                        reason: format!("{e:#}"),
                    });
                    summary.skipped += 1;
                }
                Err(e) => {
                    return Err(e.context(format!(
                        "sample {:?}: unusable image {} (pass --on-bad-image skip to leave such samples out; parts already written are kept)",
                        sample.id,
                        sample.location()
                    )))
                }
            }
        }
        if good.is_empty() {
            return Ok(());
        }
        // (n, D_v): fixed micro-batches on the CPU, one forward pass on an accelerator.
        let forward = Instant::now();
        let x_v = self.image.embed_items(&items)?.to_vec2::<f32>()?;
        summary.stages.image_forward += forward.elapsed().as_secs_f64();
        for (sample, v) in good.into_iter().zip(x_v) {
            let x_s = match (&sample.text, wants_text(sample)) {
                (Some(t), true) => {
                    let forward = Instant::now();
                    let (e, truncated) = self
                        .text
                        .embed(&[t.as_str()])
                        .with_context(|| format!("sample {:?}: embedding its text", sample.id))?;
                    summary.truncated_texts += truncated;
                    let e = e.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
                    summary.stages.text_forward += forward.elapsed().as_secs_f64();
                    Some(e)
                }
                _ => None,
            };
            rows.push(sample, &v, x_s.as_deref())?;
            summary.add_row(sample.split, x_s.is_some());
        }
        Ok(())
    }

    /// Writes a finished part: its bad-input list first, then the Parquet part, then the
    /// merged `.bad_inputs.jsonl`.
    fn write_part(&self, rows: PartRows, summary: &mut Summary) -> Result<()> {
        let writing = Instant::now();
        let part = rows.part;
        let (rows, bad) = rows.into_feature_rows()?;
        let dir = &self.opts.out;
        bad_inputs::record_part(dir, part, &bad)?;
        self.writer.write_part(part, &rows).with_context(|| format!("writing part {part} to {}", dir.display()))?;
        bad_inputs::rebuild(dir, self.plan.total_parts, |i| self.writer.is_part_done(i))?;
        summary.parts_written += 1;
        summary.stages.write += writing.elapsed().as_secs_f64();
        Ok(())
    }
}
