//! `manifest:PATH`: a CSV, TSV, JSONL or Parquet file (or a folder holding exactly one
//! `metadata.*` / `manifest.*`) with columns `file_name` (relative to the manifest's folder),
//! `text` (may be empty), `label` (class name or 0-based index) and optional `split`
//! (train/val/test or a synonym; missing or empty = train). DESIGN.md §4.
//!
//! An optional `classes.txt` next to the manifest (one name per line) fixes the class order:
//! labels may then be names from it or indices into it.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::files::find_child_ci;
use super::labels::{read_class_list, resolve_labels};
use super::record::{non_empty_text, normalize_rel_path, RawRecord};
use super::table::{read_table, EXTENSIONS};
use super::table_rows::Table;
use super::unique::check_unique;
use crate::{Dataset, DatasetKind, Split};

/// Loads a manifest file, or the single `metadata.*` / `manifest.*` inside a folder.
///
/// # Errors
/// No or several manifests in the folder, a missing `file_name` or `label` column, a malformed
/// line, an unknown split name or a bad label (file and line named).
pub fn load(path: &Path) -> anyhow::Result<Dataset> {
    let file = if path.is_dir() { find_manifest_in(path)? } else { path.to_path_buf() };
    let root =
        file.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let table = read_table(&file)?;
    for required in ["file_name", "label"] {
        anyhow::ensure!(
            table.has(required),
            "{}: no {required:?} column (a manifest needs file_name, label, and optionally text, split)",
            file.display()
        );
    }
    let records = table_records(&table, "", None)?;
    let classes = find_child_ci(&root, "classes.txt").map(|p| read_class_list(&p)).transpose()?;
    build(DatasetKind::Manifest, root, records, classes)
}

/// The single manifest file in `dir`: `metadata.{csv,tsv,jsonl,parquet}` or `manifest.{...}`.
///
/// # Errors
/// None found, or more than one (they are listed).
pub(crate) fn find_manifest_in(dir: &Path) -> anyhow::Result<PathBuf> {
    let found = manifests_in(dir);
    match found.len() {
        0 => anyhow::bail!(
            "no manifest in {}: expected metadata.csv|tsv|jsonl|parquet or manifest.csv|tsv|jsonl|parquet",
            dir.display()
        ),
        1 => Ok(found.into_iter().next().unwrap_or_default()),
        _ => anyhow::bail!(
            "several manifests in {}: {}; pass the file itself",
            dir.display(),
            found.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// All `metadata.*` / `manifest.*` files with a manifest extension in `dir`.
pub(crate) fn manifests_in(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for stem in ["metadata", "manifest"] {
        for ext in EXTENSIONS {
            if let Some(p) = find_child_ci(dir, &format!("{stem}.{ext}")) {
                if p.is_file() {
                    found.push(p);
                }
            }
        }
    }
    found
}

/// Turns table rows into records. `prefix` is prepended to `file_name` (the table's folder
/// relative to the dataset root, e.g. `"train/"`); `split` overrides the `split` column.
/// Without a `label` column the label is the first folder of `file_name` (HF imagefolder).
///
/// # Errors
/// Empty `file_name`, unknown split name, or no label (file and line named).
pub(crate) fn table_records(table: &Table, prefix: &str, split: Option<Split>) -> anyhow::Result<Vec<RawRecord>> {
    let mut records = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let origin = row.origin.clone();
        let file_name = normalize_rel_path(row.file_name.as_deref().unwrap_or(""));
        anyhow::ensure!(!file_name.is_empty(), "{origin}: empty file_name");
        let split = match split {
            Some(s) => s,
            None => match row.split.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => Split::Train,
                Some(s) => s.parse().with_context(|| format!("{origin}: column \"split\""))?,
            },
        };
        let label = match &row.label {
            Some(l) => l.clone(),
            None if !table.has("label") => match file_name.split_once('/') {
                Some((folder, _)) => folder.to_string(),
                None => anyhow::bail!("{origin}: no label column and {file_name:?} is not inside a class folder"),
            },
            None => anyhow::bail!("{origin}: empty label"),
        };
        records.push(RawRecord {
            rel_path: format!("{prefix}{file_name}"),
            text: non_empty_text(row.text.as_deref()),
            label,
            split,
            origin,
            image: None,
        });
    }
    Ok(records)
}

/// Resolves labels and builds the dataset.
///
/// # Errors
/// A repeated sample id (both places named), or as [`resolve_labels`].
pub(crate) fn build(
    kind: DatasetKind,
    root: PathBuf,
    records: Vec<RawRecord>,
    classes: Option<Vec<String>>,
) -> anyhow::Result<Dataset> {
    check_unique(records.iter().map(|r| (r.rel_path.as_str(), &r.origin)))?;
    let resolved = resolve_labels(&records, classes)?;
    let samples = records.into_iter().zip(resolved.labels).map(|(r, l)| r.into_sample(&root, l)).collect();
    let dataset = Dataset::new(kind, root, resolved.names, samples);
    Ok(match resolved.warning {
        Some(w) => dataset.with_warning(w),
        None => dataset,
    })
}
