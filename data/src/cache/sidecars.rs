//! Names of the files a cache folder holds beside its parts, chosen so that dataframe
//! libraries opening the folder read the parts only.
//!
//! Every sidecar is a file directly in the folder whose name starts with `.` (measured with
//! pyarrow 26, pandas 3.1, polars 2.1, DuckDB 2.0, datasets 5.2; `tools/tests/test_cache_interop.py`):
//! - pyarrow (`read_table(dir)`, `pyarrow.dataset`, and so pandas) skips names starting with
//!   `.` or `_`;
//! - Hugging Face `datasets` (`load_dataset("parquet", data_dir=...)`) skips hidden (`.`) names
//!   and `__` folders only, and fails on `_manifest.json`;
//! - polars opens a folder only when every file in it is Parquet, or with
//!   `scan_parquet(dir, hidden_file_prefix=".")`, which skips hidden files but not the files
//!   inside a hidden folder: hence no sidecar folder.
//!
//! Schema version 1 caches used names without the dot (`manifest.json`, `extract_plan.json`,
//! `bad_inputs.jsonl`, `bad_inputs/part-NNNNN.jsonl`). They are still read
//! ([`existing_sidecar`]), and a writer resuming such a folder renames them first
//! ([`migrate_legacy_sidecars`]).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The cache manifest (parts, row counts, sha256, `completed`).
pub const MANIFEST_FILE: &str = ".manifest.json";
/// The part layout of an extraction (`marnet-extract run`).
pub const PLAN_FILE: &str = ".extract_plan.json";
/// Samples left out with `--on-bad-image skip`, one JSON object per line.
pub const BAD_INPUTS_FILE: &str = ".bad_inputs.jsonl";

/// `(schema version 1 name, current name)` of the single-file sidecars.
pub const LEGACY_NAMES: [(&str, &str); 3] =
    [("manifest.json", MANIFEST_FILE), ("extract_plan.json", PLAN_FILE), ("bad_inputs.jsonl", BAD_INPUTS_FILE)];

/// Schema version 1 folder of the per-part bad-input lists (`bad_inputs/part-NNNNN.jsonl`).
const LEGACY_BAD_INPUTS_DIR: &str = "bad_inputs";

/// Name of the list of part `part`'s skipped samples, `.bad_inputs.part-NNNNN.jsonl`, from which
/// [`BAD_INPUTS_FILE`] is rebuilt.
pub fn bad_inputs_part_file(part: usize) -> String {
    format!(".bad_inputs.{}", legacy_bad_inputs_part_name(part))
}

fn legacy_bad_inputs_part_name(part: usize) -> String {
    format!("part-{part:05}.jsonl")
}

/// The schema version 1 name of sidecar `name` (one of the constants above).
pub fn legacy_name(name: &str) -> Option<&'static str> {
    LEGACY_NAMES.iter().find(|(_, new)| *new == name).map(|(old, _)| *old)
}

/// `dir/name` if it exists, else `dir/<legacy name>` if that exists (a cache written before the
/// rename), else `None`.
pub fn existing_sidecar(dir: &Path, name: &str) -> Option<PathBuf> {
    let current = dir.join(name);
    if current.exists() {
        return Some(current);
    }
    legacy_name(name).map(|old| dir.join(old)).filter(|p| p.exists())
}

/// Renames the schema version 1 sidecars of `dir` to their current names, and moves the lists
/// of the old `bad_inputs/` folder to `.bad_inputs.part-NNNNN.jsonl`. Where both names exist
/// (another process migrated first, or a newer writer already ran), the current one wins and
/// the old file is removed. Safe to run from several shard processes at once. Returns how many
/// names were moved or removed.
///
/// # Errors
/// A rename or removal fails for another reason than the file having vanished meanwhile.
pub fn migrate_legacy_sidecars(dir: &Path) -> anyhow::Result<usize> {
    let mut changed = 0;
    for (old, new) in LEGACY_NAMES {
        let (from, to) = (dir.join(old), dir.join(new));
        if !from.exists() {
            continue;
        }
        changed += 1;
        move_unless_present(&from, &to)?;
    }
    let old_dir = dir.join(LEGACY_BAD_INPUTS_DIR);
    if old_dir.is_dir() {
        let entries = match std::fs::read_dir(&old_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(changed),
            Err(e) => return Err(e).with_context(|| format!("listing {}", old_dir.display())),
        };
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", old_dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            changed += 1;
            move_unless_present(&entry.path(), &dir.join(format!(".bad_inputs.{name}")))?;
        }
        ignore_vanished(std::fs::remove_dir(&old_dir)).with_context(|| format!("removing {}", old_dir.display()))?;
        changed += 1;
    }
    Ok(changed)
}

/// Renames `from` to `to`, or removes `from` when `to` already exists.
fn move_unless_present(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        ignore_vanished(std::fs::remove_file(from)).with_context(|| format!("removing {}", from.display()))
    } else {
        ignore_vanished(std::fs::rename(from, to))
            .with_context(|| format!("renaming {} to {}", from.display(), to.display()))
    }
}

fn ignore_vanished(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}
