//! The record of one finished run: `OUT/trials/<hash>.json`, written atomically. Its presence
//! marks the run as done, which makes a sweep resumable and lets several machines (`--worker
//! k/n`) fill one shared folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::value::Value;

/// Accuracies of one run, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TrialMetrics {
    pub val_top1: f64,
    pub val_top5: f64,
    pub test_top1: f64,
    pub test_top5: f64,
}

/// Everything known about one finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// [`super::expand::run_hash`]; also the file stem.
    pub hash: String,
    /// Trial index in expansion order at the time of the run.
    pub trial: usize,
    pub seed: u64,
    /// Mode trained (`fusion`, `baseline`, ...).
    pub mode: String,
    /// Effective overrides of the trial.
    pub overrides: BTreeMap<String, Value>,
    pub metrics: TrialMetrics,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// `marnet-heads` version that wrote the record.
    pub tool_version: String,
    /// Set when a `[prune]` rule stopped the run: `metrics.val_top1` is then the value it was
    /// stopped at and the other metrics are 0 (not measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pruned: Option<PrunedAt>,
    /// The last rung (epoch of the rung phase) the run was compared at, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<usize>,
    /// Epochs of the rung phase (phase 1) the run trained; `None` in records of `[grid]` and
    /// `[random]` sweeps, which do not follow epochs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_used: Option<usize>,
    /// Epochs of the rung phase the run would train unpruned (early stopping aside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs_planned: Option<usize>,
    /// Val top-1 after every epoch of every phase, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub curve: Vec<CurvePoint>,
}

impl TrialRecord {
    /// Whether a `[prune]` rule stopped the run.
    pub fn is_pruned(&self) -> bool {
        self.pruned.is_some()
    }
}

/// Where a pruned run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PrunedAt {
    /// Epoch of the rung phase (1-based).
    pub epoch: usize,
    /// Val top-1 (percent) at that epoch.
    pub val_top1: f64,
}

/// One epoch of a run's val curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub phase: u8,
    /// 1-based epoch within the phase.
    pub epoch: usize,
    /// Val top-1 in percent.
    pub val_top1: f64,
}

/// Folder of the records inside a sweep output folder.
pub fn trials_dir(out: &Path) -> PathBuf {
    out.join("trials")
}

/// Path of the record of the run with `hash`.
pub fn record_path(out: &Path, hash: &str) -> PathBuf {
    trials_dir(out).join(format!("{hash}.json"))
}

/// Writes `rec` to `OUT/trials/<hash>.json` (temporary file, then rename).
///
/// # Errors
/// The folder cannot be created or written.
pub fn write_record(out: &Path, rec: &TrialRecord) -> Result<()> {
    let dir = trials_dir(out);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(rec).context("serialising a trial record")?;
    crate::report::write_atomic(&record_path(out, &rec.hash), &json)
}

/// Reads one record and checks that its hash matches its file name.
///
/// # Errors
/// Unreadable file, invalid JSON, or a hash different from the file stem.
pub fn read_record(path: &Path) -> Result<TrialRecord> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rec: TrialRecord =
        serde_json::from_str(&text).with_context(|| format!("{}: not a trial record", path.display()))?;
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    if rec.hash != stem {
        bail!("{}: record hash {} does not match the file name", path.display(), rec.hash);
    }
    Ok(rec)
}

/// Whether the run with `hash` has a valid record (an unreadable one counts as not done, so
/// the run is repeated and the record replaced).
pub fn is_done(out: &Path, hash: &str) -> bool {
    read_record(&record_path(out, hash)).is_ok()
}

/// All valid records under `OUT/trials/`, sorted by (mode, trial, seed, hash); files that are not
/// `*.json` (e.g. temporary files of a run in progress) are ignored.
///
/// # Errors
/// The folder cannot be listed, or a `*.json` file in it is not a valid record (named).
pub fn load_records(out: &Path) -> Result<Vec<TrialRecord>> {
    let dir = trials_dir(out);
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("listing {} (has a sweep run here?)", dir.display()))?;
    let mut records = Vec::new();
    for entry in entries {
        let path = entry.with_context(|| format!("listing {}", dir.display()))?.path();
        let is_json = path.extension().is_some_and(|e| e == "json");
        let hidden = path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if is_json && !hidden {
            records.push(read_record(&path)?);
        }
    }
    records.sort_by(|a, b| {
        (a.mode.as_str(), a.trial, a.seed, a.hash.as_str()).cmp(&(b.mode.as_str(), b.trial, b.seed, b.hash.as_str()))
    });
    Ok(records)
}
