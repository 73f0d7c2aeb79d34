//! The files of a training run folder (DESIGN §7): `config.toml`, `metrics.json`,
//! `heads.safetensors`, `predictions.parquet`, `cache_metadata.json` (which encoders made the
//! features: what `marnet-heads predict` needs to embed new images), and the ablation table
//! (paper table 2 layout).
//! Every file is written to a temporary name and renamed ([`crate::report::write_atomic`]).

use crate::model::config::HeadsConfig;
use crate::report::paired::{paired_diff, PairedDiff, VsBaseline};
use crate::report::write_atomic;
use crate::train::features::Features;
use crate::train::metrics::top_indices;
use crate::train::{Mode, ModeResult};
use anyhow::{Context, Result};
use arrow_array::{ArrayRef, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use candle_core::Tensor;
use marnet_data::cache::CacheMetadata;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Results of one mode over one or more seeds (first seed first).
pub struct ModeRuns {
    pub mode: Mode,
    pub runs: Vec<ModeResult>,
}

/// A mode that failed: the other modes still write their results.
#[derive(Debug, Clone, PartialEq)]
pub struct ModeFailure {
    pub mode: Mode,
    /// One line: the error and its causes.
    pub reason: String,
}

/// `(seed, value)` of every run of `mr`.
fn per_seed(mr: &ModeRuns, pick: fn(&ModeResult) -> f64) -> Vec<(u64, f64)> {
    mr.runs.iter().map(|r| (r.seed, pick(r))).collect()
}

/// Paired per-seed differences of `mr`'s val and test top-1 to the `baseline` runs in
/// `results`; `None` for the baseline itself or when there is no baseline.
pub fn vs_baseline(mr: &ModeRuns, results: &[ModeRuns]) -> Option<VsBaseline> {
    if mr.mode == Mode::Baseline {
        return None;
    }
    let b = results.iter().find(|r| r.mode == Mode::Baseline)?;
    Some(VsBaseline {
        val: paired_diff(&per_seed(mr, |r| r.val.top1), &per_seed(b, |r| r.val.top1))?,
        test: paired_diff(&per_seed(mr, |r| r.test.top1), &per_seed(b, |r| r.test.top1))?,
    })
}

fn diff_json(p: &PairedDiff) -> Value {
    let num = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    json!({"mean": p.mean, "ci95": [num(p.lo), num(p.hi)], "n": p.n})
}

fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 { v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (m, var.sqrt())
}

/// Means and sample standard deviations over seeds of `[val top1, val top5, test top1, test
/// top5]` (percent; std 0 with one seed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeedSummary {
    pub mean: [f64; 4],
    pub std: [f64; 4],
}

impl ModeRuns {
    /// Top-1/top-5 on val and test over this mode's seeds.
    pub fn summary(&self) -> SeedSummary {
        let pick: [fn(&ModeResult) -> f64; 4] = [|r| r.val.top1, |r| r.val.top5, |r| r.test.top1, |r| r.test.top5];
        let mut out = SeedSummary { mean: [0.0; 4], std: [0.0; 4] };
        for (i, p) in pick.iter().enumerate() {
            let v: Vec<f64> = self.runs.iter().map(p).collect();
            (out.mean[i], out.std[i]) = mean_std(&v);
        }
        out
    }
}

/// The JSON of `metrics.json`: per mode `{"val": {"top1","top5","mean_class_recall",
/// "per_class_recall"}, "test": {...}}` (first seed's recall), plus `generation` (sampled-vs-true
/// val cosine / MSE), `tau` and `probe_l2` where they exist, `vs_baseline` (paired per-seed
/// difference of val and test top-1 to `baseline`: `{"mean", "ci95": [lo, hi], "n"}`, points);
/// with several seeds `top1`/`top5` are means and `std` and `per_seed` are added. A failed mode
/// is `{"failed": "<reason>"}`. Holds no timings, so the same seed gives the same file.
pub fn metrics_json(results: &[ModeRuns], failed: &[ModeFailure]) -> Value {
    let mut out = Map::new();
    for mr in results {
        let first = &mr.runs[0];
        let SeedSummary { mean: m, std: s } = mr.summary();
        let split = |sm: &crate::train::metrics::SplitMetrics, top1: f64, top5: f64| {
            json!({"top1": top1, "top5": top5, "mean_class_recall": sm.mean_class_recall,
                   "per_class_recall": sm.per_class_recall, "n": sm.n})
        };
        let mut o = Map::new();
        o.insert("val".into(), split(&first.val, m[0], m[1]));
        o.insert("test".into(), split(&first.test, m[2], m[3]));
        if let Some(g) = &first.generation {
            o.insert("generation".into(), json!({"val_cosine": g.val_cosine, "val_mse": g.val_mse, "n": g.n}));
        }
        if let Some(t) = first.tau {
            o.insert("tau".into(), json!(t));
        }
        if let Some(l2) = first.probe_l2 {
            o.insert("probe_l2".into(), json!(l2));
        }
        if let Some(VsBaseline { val, test }) = vs_baseline(mr, results) {
            o.insert("vs_baseline".into(), json!({"val_top1": diff_json(&val), "test_top1": diff_json(&test)}));
        }
        o.insert("epochs_run".into(), json!(first.history.len()));
        if mr.runs.len() > 1 {
            o.insert("seeds".into(), json!(mr.runs.iter().map(|r| r.seed).collect::<Vec<_>>()));
            o.insert("std".into(), json!({"val": {"top1": s[0], "top5": s[1]}, "test": {"top1": s[2], "top5": s[3]}}));
            o.insert(
                "per_seed".into(),
                json!(mr
                    .runs
                    .iter()
                    .map(|r| json!({"seed": r.seed,
                    "val": {"top1": r.val.top1, "top5": r.val.top5},
                    "test": {"top1": r.test.top1, "top5": r.test.top5}}))
                    .collect::<Vec<_>>()),
            );
        }
        out.insert(mr.mode.as_str().into(), Value::Object(o));
    }
    for f in failed {
        out.insert(f.mode.as_str().into(), json!({"failed": f.reason}));
    }
    Value::Object(out)
}

/// The ablation table (rows in table-2 order, columns val/test top-1/top-5, percent; `± std`
/// with several seeds; the paired difference of test top-1 to `baseline` with its 95 %
/// interval; failed modes with their reason).
pub fn ablation_table(results: &[ModeRuns], failed: &[ModeFailure]) -> String {
    let mut s = format!(
        "{:<10} {:>16} {:>16} {:>16} {:>16}  {}\n",
        "mode", "val top-1", "val top-5", "test top-1", "test top-5", "Δ test top-1 vs baseline [95% CI]"
    );
    for mode in Mode::EVERY {
        if let Some(f) = failed.iter().find(|f| f.mode == mode) {
            s.push_str(&format!("{:<10} failed: {}\n", mode.as_str(), f.reason));
            continue;
        }
        let Some(mr) = results.iter().find(|r| r.mode == mode) else { continue };
        let SeedSummary { mean: m, std: sd } = mr.summary();
        s.push_str(&format!("{:<10}", mode.as_str()));
        for i in 0..4 {
            let cell = if mr.runs.len() > 1 { format!("{:.2} ± {:.2}", m[i], sd[i]) } else { format!("{:.2}", m[i]) };
            s.push_str(&format!(" {cell:>16}"));
        }
        if let Some(VsBaseline { test, .. }) = vs_baseline(mr, results) {
            s.push_str(&format!("  {}", test.label()));
        }
        s.push('\n');
    }
    s
}

/// Writes `config.toml`.
pub fn write_config(dir: &Path, cfg: &HeadsConfig) -> Result<()> {
    write_atomic(&dir.join("config.toml"), cfg.to_toml_string()?.as_bytes())
}

/// Name of the copy of the cache metadata in a run folder.
pub const CACHE_METADATA_FILE: &str = "cache_metadata.json";

/// Writes `cache_metadata.json`: the feature cache's [`CacheMetadata`] (DESIGN §3: image model
/// spec, its weight sha256, `model_type`, pooling, preprocessing, dtype, class names, D_v, D_s)
/// as pretty JSON, so that `marnet-heads predict` can embed new images with the same encoder.
pub fn write_cache_metadata(dir: &Path, meta: &CacheMetadata) -> Result<()> {
    let text = serde_json::to_string_pretty(meta)? + "\n";
    write_atomic(&dir.join(CACHE_METADATA_FILE), text.as_bytes())
}

/// Writes `metrics.json` (pretty-printed).
pub fn write_metrics(dir: &Path, results: &[ModeRuns], failed: &[ModeFailure]) -> Result<()> {
    let text = serde_json::to_string_pretty(&metrics_json(results, failed))? + "\n";
    write_atomic(&dir.join("metrics.json"), text.as_bytes())
}

/// Writes `heads.safetensors`: the first seed's weights of every mode as `<mode>.<name>`, plus
/// `x_s_mean` and `x_s_std` (d_s,) f32. Metadata: `class_names` (JSON array), `config` (TOML),
/// `modes` (JSON array), `d_v`, `d_s`.
pub fn write_heads(dir: &Path, results: &[ModeRuns], f: &Features, cfg: &HeadsConfig) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> = vec![
        ("x_s_mean".into(), Tensor::from_slice(&f.x_s_mean, f.d_s, &candle_core::Device::Cpu)?),
        ("x_s_std".into(), Tensor::from_slice(&f.x_s_std, f.d_s, &candle_core::Device::Cpu)?),
    ];
    for mr in results {
        for (name, t) in &mr.runs[0].weights {
            tensors.push((format!("{}.{name}", mr.mode), t.to_device(&candle_core::Device::Cpu)?.contiguous()?));
        }
    }
    let mut meta = HashMap::new();
    meta.insert("class_names".to_string(), serde_json::to_string(&f.class_names)?);
    meta.insert("config".to_string(), cfg.to_toml_string()?);
    meta.insert(
        "modes".to_string(),
        serde_json::to_string(&results.iter().map(|r| r.mode.as_str()).collect::<Vec<_>>())?,
    );
    meta.insert("d_v".to_string(), f.d_v.to_string());
    meta.insert("d_s".to_string(), f.d_s.to_string());
    let bytes = super::safetensors_bytes(tensors.iter().map(|(n, t)| (n.as_str(), t)), meta)
        .context("serialising heads.safetensors")?;
    write_atomic(&dir.join("heads.safetensors"), &bytes)
}

/// Writes `predictions.parquet`: one row per val and test sample with `id`, `split`, `label`
/// and, per mode (first seed), `<mode>_top5_ids` (fixed_size_list<int32>[min(5,K)]) and
/// `<mode>_top5_scores` (fixed_size_list<float32>, softmax probabilities), best first.
pub fn write_predictions(dir: &Path, results: &[ModeRuns], f: &Features) -> Result<()> {
    let rows: Vec<u32> = f.val.iter().chain(f.test.iter()).copied().collect();
    let k = f.num_classes();
    let top = 5.min(k);
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("label", DataType::Int32, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|&r| f.ids[r as usize].as_str()))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|&r| f.splits[r as usize].as_str()))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|&r| f.labels[r as usize] as i32))),
    ];
    for mr in results {
        let r0 = &mr.runs[0];
        let (mut ids, mut scores) = (Vec::new(), Vec::new());
        for row in r0.val_scores.chunks(k).chain(r0.test_scores.chunks(k)) {
            for j in top_indices(row, top) {
                ids.push(j as i32);
                scores.push(row[j as usize]);
            }
        }
        let fid = Arc::new(Field::new("item", DataType::Int32, false));
        let fsc = Arc::new(Field::new("item", DataType::Float32, false));
        let a_ids = FixedSizeListArray::try_new(fid.clone(), top as i32, Arc::new(Int32Array::from(ids)), None)?;
        let a_sc = FixedSizeListArray::try_new(fsc.clone(), top as i32, Arc::new(Float32Array::from(scores)), None)?;
        fields.push(Field::new(format!("{}_top5_ids", mr.mode), DataType::FixedSizeList(fid, top as i32), false));
        fields.push(Field::new(format!("{}_top5_scores", mr.mode), DataType::FixedSizeList(fsc, top as i32), false));
        cols.push(Arc::new(a_ids));
        cols.push(Arc::new(a_sc));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).context("building predictions batch")?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(&batch)?;
    w.close()?;
    write_atomic(&dir.join("predictions.parquet"), &buf)
}
