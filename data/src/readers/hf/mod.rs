//! `hf:PATH`: Hugging Face `datasets` Parquet (DESIGN.md §4): the Hub's layout
//! (`data/train-00000-of-00004.parquet`, `validation-...`, `test-...`), `Dataset.to_parquet`
//! output, split folders (`train/0000.parquet`), and img2dataset's Parquet shards (a `jpg`
//! bytes column beside `txt`, `key` and metadata columns).
//!
//! PATH is one `.parquet` file or a folder searched recursively for `*.parquet` (sorted by
//! path; hidden entries skipped); the dataset root is the folder (or the file's folder).
//! Columns ([`features::choose`]): the image is the `Image` feature of the `huggingface`
//! schema metadata or `--image-column` or the first of `image, img, jpg, jpeg, png, webp,
//! file_name`; the label a `ClassLabel` (its names are the classes, values index them) or
//! `--label-column` or the first of `label, labels, cls, class, fine_label`; the text
//! `--text-column` or the first of `text, txt, caption, sentence` (a string, or a list of
//! strings joined with `", "`; none = no `x_s`). Split: the file name (`train-`,
//! `validation-`/`valid-`/`val-`, `test-`), else a split-named folder, else a `split` column,
//! else train. Ids: `FILE/ROW` (FILE relative to the root, ROW 0-based in the file) or
//! `FILE/KEY` with a `key` column. Images stay in the Parquet file ([`ImageSource::Parquet`]);
//! a row whose struct has only a `path` is read from that file relative to the root.
//! `save_to_disk` folders (`*.arrow` files) are refused with a pointer to `to_parquet`.

mod features;
mod rows;

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::files::rel_id;
use super::labels::resolve_labels;
use super::unique::UniqueIds;
use crate::{Dataset, DatasetKind, DatasetOptions};

pub(crate) use rows::HfRow;

/// Loads the Parquet file or folder at `path`.
///
/// # Errors
/// No Parquet file, a `save_to_disk` folder, unreadable Parquet, files whose columns or
/// `ClassLabel` names differ, a missing image or label column, a label out of range, or a
/// repeated id (file and row named).
pub fn load(path: &Path, options: &DatasetOptions) -> anyhow::Result<Dataset> {
    let (root, files) = parquet_files(path)?;
    let mut rows: Vec<HfRow> = Vec::new();
    let mut class_label: Option<(PathBuf, Option<Vec<String>>)> = None;
    for file in &files {
        let rel = rel_id(&root, file);
        let (file_rows, names) = rows::read_file(&root, file, &rel, options)?;
        match &class_label {
            None => class_label = Some((file.clone(), names)),
            Some((first, prev)) => anyhow::ensure!(
                *prev == names,
                "{}: label classes {names:?} differ from those of {} ({prev:?})",
                file.display(),
                first.display()
            ),
        }
        rows.extend(file_rows);
    }
    let mut ids = UniqueIds::default();
    for r in &rows {
        ids.insert(&r.record.rel_path, &r.record.origin)?;
    }
    let class_names = class_label.and_then(|(_, n)| n);
    let (names, labels, warning) = match class_names {
        Some(names) => {
            let labels = rows::class_label_indices(&rows, names.len())?;
            (names, labels, None)
        }
        None => {
            let records: Vec<_> = rows.iter().map(|r| r.record.clone()).collect();
            let r = resolve_labels(&records, None)?;
            (r.names, r.labels, r.warning)
        }
    };
    let samples = rows.into_iter().zip(labels).map(|(r, l)| r.record.into_sample(&root, l)).collect();
    let dataset = Dataset::new(DatasetKind::Hf, root, names, samples);
    Ok(match warning {
        Some(w) => dataset.with_warning(w),
        None => dataset,
    })
}

/// The dataset root and its Parquet files, sorted.
///
/// # Errors
/// No Parquet file; Arrow files of `save_to_disk` instead.
fn parquet_files(path: &Path) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    if path.is_file() {
        let root = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        return Ok((root.to_path_buf(), vec![path.to_path_buf()]));
    }
    let mut parquet = Vec::new();
    let mut arrow = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))? {
            let p = entry.with_context(|| format!("listing {}", dir.display()))?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".parquet") {
                parquet.push(p);
            } else if name.ends_with(".arrow") {
                arrow.push(p);
            }
        }
    }
    parquet.sort();
    if parquet.is_empty() {
        anyhow::ensure!(
            arrow.is_empty(),
            "{} holds Arrow files of datasets' save_to_disk ({}), which marnet does not read: write Parquet \
             with `for s, d in ds.items(): d.to_parquet(f\"data/{{s}}-00000-of-00001.parquet\")`",
            path.display(),
            rel_id(path, &arrow[0])
        );
        anyhow::bail!("no .parquet file under {}", path.display());
    }
    Ok((path.to_path_buf(), parquet))
}
