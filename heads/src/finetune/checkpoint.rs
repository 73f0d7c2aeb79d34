//! Fine-tune checkpoints: `DIR/checkpoints/last.safetensors` (everything needed to resume) and
//! `DIR/checkpoints/best.safetensors` (weights of the best val top-1), written atomically
//! (temporary name, then rename).
//!
//! Tensor names (all stored on the CPU; weights and moments in f32):
//! - `backbone.image.<HF name>` / `backbone.text.<HF name>`: the trainable backbone tensors
//!   (frozen ones are re-read from the source model, whose sha256 the fingerprint pins);
//! - `heads.<name>`: the heads (`heads.ema.e_v.weight`, ...);
//! - `optim.m.<param>` / `optim.v.<param>` (last only): AdamW moments, `<param>` being one of the
//!   two names above.
//!
//! The metadata key `marnet.finetune` holds [`CheckpointMeta`] as JSON: the optimiser step, the
//! best score so far, the evaluation history and the run fingerprint that a resume must match.

use crate::report::write_atomic;
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Metadata key of the JSON [`CheckpointMeta`].
pub const META_KEY: &str = "marnet.finetune";

/// One evaluation on val (at the end of an epoch, or where a run stopped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimiser steps done.
    pub step: u64,
    /// Epochs done, fractional when the run stopped mid-epoch.
    pub epoch: f64,
    /// Mean training loss over the steps since the previous evaluation.
    pub train_loss: f64,
    /// Val top-1 (percent) per mode, table order.
    pub val_top1: Vec<(String, f64)>,
    /// Val top-1 of the selection mode.
    pub score: f64,
}

/// The best evaluation so far: val top-1 (percent) of the selection mode and its optimiser step.
/// Stored in [`CheckpointMeta`] as the JSON pair `[val_top1, step]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, u64)", into = "(f64, u64)")]
pub struct BestEval {
    /// Val top-1 (percent) of the selection mode.
    pub val_top1: f64,
    /// Optimiser steps done when it was measured.
    pub step: u64,
}

impl From<(f64, u64)> for BestEval {
    fn from((val_top1, step): (f64, u64)) -> Self {
        Self { val_top1, step }
    }
}

impl From<BestEval> for (f64, u64) {
    fn from(b: BestEval) -> Self {
        (b.val_top1, b.step)
    }
}

/// The JSON metadata of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Optimiser steps done when the checkpoint was written.
    pub step: u64,
    /// Best val top-1 of the selection mode so far, and its step.
    pub best: Option<BestEval>,
    /// Every evaluation so far.
    pub history: Vec<EvalRecord>,
    /// What must not change on resume (models and their sha256, dataset, config, flags).
    pub fingerprint: Value,
}

/// `DIR/checkpoints/last.safetensors`.
pub fn last_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("last.safetensors")
}

/// `DIR/checkpoints/best.safetensors`.
pub fn best_path(run_dir: &Path) -> PathBuf {
    run_dir.join("checkpoints").join("best.safetensors")
}

/// Writes `tensors` (moved to the CPU, floats as f32) with `meta` to `path`, atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], meta: &CheckpointMeta) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let host = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?.contiguous()?)))
        .collect::<Result<Vec<(String, Tensor)>>>()?;
    let mut md = HashMap::new();
    md.insert(META_KEY.to_string(), serde_json::to_string(meta)?);
    let bytes = crate::report::safetensors_bytes(host.iter().map(|(n, t)| (n.as_str(), t)), md)
        .with_context(|| format!("serialising checkpoint {}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Reads a checkpoint: its tensors (on `device`) and metadata. Errors name the file.
pub fn load(path: &Path, device: &Device) -> Result<(HashMap<String, Tensor>, CheckpointMeta)> {
    let bytes = std::fs::read(path).with_context(|| format!("reading checkpoint {}", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .with_context(|| format!("{}: not a safetensors file", path.display()))?;
    let meta_json =
        header.metadata().as_ref().and_then(|m| m.get(META_KEY)).with_context(|| {
            format!("{}: no {META_KEY} metadata (not a marnet fine-tune checkpoint)", path.display())
        })?;
    let meta: CheckpointMeta =
        serde_json::from_str(meta_json).with_context(|| format!("{}: invalid {META_KEY} metadata", path.display()))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .with_context(|| format!("reading tensors of {}", path.display()))?;
    Ok((tensors, meta))
}

/// Errors when a resumed run's fingerprint differs from the checkpoint's, listing the keys.
pub fn check_fingerprint(path: &Path, saved: &Value, current: &Value) -> Result<()> {
    if saved == current {
        return Ok(());
    }
    let (Value::Object(a), Value::Object(b)) = (saved, current) else {
        bail!("{}: fingerprint has an unexpected form", path.display());
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let diffs: Vec<String> = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!("{k}: checkpoint {} vs now {}", a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null))
        })
        .collect();
    bail!(
        "{} was written by a different fine-tune ({}); use another --out folder or the same settings to resume",
        path.display(),
        diffs.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_and_fingerprint_diff() {
        let dir = tempfile::tempdir().unwrap();
        let p = last_path(dir.path());
        let meta = CheckpointMeta {
            step: 7,
            best: Some(BestEval { val_top1: 50.0, step: 4 }),
            history: vec![],
            fingerprint: json!({"lr": 1e-5, "seed": 0}),
        };
        let t = Tensor::new(&[1.5f32, -2.0], &Device::Cpu).unwrap();
        save(&p, &[("heads.w".into(), t)], &meta).unwrap();
        let (ts, m) = load(&p, &Device::Cpu).unwrap();
        assert_eq!(m, meta);
        // The best evaluation is stored as the pair [val_top1, step].
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["best"], json!([50.0, 4]));
        assert_eq!(ts["heads.w"].to_vec1::<f32>().unwrap(), vec![1.5, -2.0]);
        let err = check_fingerprint(&p, &meta.fingerprint, &json!({"lr": 1e-4, "seed": 0})).unwrap_err().to_string();
        assert!(err.contains("lr: checkpoint ") && err.contains(" vs now ") && !err.contains("seed"), "{err}");
    }
}
