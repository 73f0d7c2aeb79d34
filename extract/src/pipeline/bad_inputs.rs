//! Bad images (`--on-bad-image fail|skip`, DESIGN.md section 7): unreadable, missing, empty or
//! corrupt files. `fail` stops at the first one with an error naming the file (parts already
//! written stay valid); `skip` leaves the sample out of the cache and lists it in
//! `DIR/.bad_inputs.jsonl`, one `{"id", "path", "reason"}` object per line.
//!
//! Each part's skipped samples are first written next to the part (`DIR/.bad_inputs.part-NNNNN.jsonl`,
//! before the part itself), then `.bad_inputs.jsonl` is rebuilt from the lists of the finished
//! parts, in part order; so resumed and sharded runs list every skipped sample exactly once.
//! The names are hidden so that dataframe readers opening the folder skip them
//! (`marnet_data::cache::sidecars`); a cache of schema version 1 used them without the dot.

use anyhow::{Context, Result};
use marnet_data::cache::sidecars::{bad_inputs_part_file, existing_sidecar};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// File listing the skipped samples of a cache folder.
pub use marnet_data::cache::sidecars::BAD_INPUTS_FILE;

/// What to do with an image that cannot be read or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadImagePolicy {
    /// Stop with an error naming the file.
    #[default]
    Fail,
    /// Leave the sample out and list it in `.bad_inputs.jsonl`.
    Skip,
}

impl FromStr for BadImagePolicy {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(BadImagePolicy::Fail),
            "skip" => Ok(BadImagePolicy::Skip),
            other => anyhow::bail!("unknown --on-bad-image {other:?}: expected fail or skip"),
        }
    }
}

/// One skipped sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadInput {
    /// Sample id (image path relative to the dataset root).
    pub id: String,
    /// Image path as the dataset resolved it.
    pub path: String,
    /// Why it could not be used (the decoder's error chain).
    pub reason: String,
}

fn part_list_path(dir: &Path, part: usize) -> PathBuf {
    dir.join(bad_inputs_part_file(part))
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn to_jsonl(items: &[BadInput]) -> Result<String> {
    let mut out = String::new();
    for b in items {
        out.push_str(&serde_json::to_string(b)?);
        out.push('\n');
    }
    Ok(out)
}

/// Records the skipped samples of part `part` (removing a stale list when there are none).
/// Call before writing the part itself.
pub fn record_part(dir: &Path, part: usize, items: &[BadInput]) -> Result<()> {
    let path = part_list_path(dir, part);
    if items.is_empty() {
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
        return Ok(());
    }
    write_atomic(&path, &to_jsonl(items)?)
}

/// Rebuilds `DIR/.bad_inputs.jsonl` from the lists of the parts for which `is_done` holds, in
/// part order; removes it when nothing was skipped. Returns the number of lines.
pub fn rebuild(dir: &Path, total_parts: usize, is_done: impl Fn(usize) -> bool) -> Result<usize> {
    let mut text = String::new();
    let mut lines = 0;
    for part in (0..total_parts).filter(|&p| is_done(p)) {
        let path = part_list_path(dir, part);
        if path.is_file() {
            let t = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            lines += t.lines().count();
            text.push_str(&t);
        }
    }
    let out = dir.join(BAD_INPUTS_FILE);
    if lines == 0 {
        if out.exists() {
            std::fs::remove_file(&out).with_context(|| format!("removing {}", out.display()))?;
        }
    } else {
        write_atomic(&out, &text)?;
    }
    Ok(lines)
}

/// Reads `DIR/.bad_inputs.jsonl`, or the `bad_inputs.jsonl` of a schema version 1 cache
/// (empty when there is none).
///
/// # Errors
/// A line is not a `{"id", "path", "reason"}` object (the line number is named).
pub fn read_bad_inputs(dir: &Path) -> Result<Vec<BadInput>> {
    let Some(path) = existing_sidecar(dir, BAD_INPUTS_FILE) else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: expected {{\"id\", \"path\", \"reason\"}}", path.display(), i + 1))
        })
        .collect()
}
