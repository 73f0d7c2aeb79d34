//! `imagefolder:DIR`: the Hugging Face `imagefolder` convention (DESIGN.md §4).
//!
//! Split folders (`train`/`training`, `validation`/`valid`/`dev`/`val`,
//! `test`/`testing`/`eval`/`evaluation`, any ASCII case) each hold either a `metadata.csv`
//! (or `.jsonl`, `.tsv`, `.parquet`) whose `file_name` is relative to that split folder, or
//! class sub-folders whose name is the label. Without split folders the root itself is read the
//! same way and every row is train (a root `metadata.*` may carry a `split` column). An optional
//! `classes.txt` in the root fixes the class order.
//!
//! A root holding a file this reader would pass over, a `manifest.*` or a `metadata.*` beside split
//! folders, is refused with a pointer to `manifest:FILE`: read as class sub-folders,
//! such a folder (e.g. the demo's `manifest.csv` + `images/`) would silently become one class.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::files::{find_child_ci, image_files_under, rel_id, sorted_subdirs};
use super::labels::read_class_list;
use super::manifest::{build, manifests_in, table_records};
use super::record::{Origin, RawRecord};
use super::table::read_table;
use crate::{Dataset, DatasetKind, Split};

/// Loads an imagefolder tree rooted at `root`.
///
/// # Errors
/// `root` is not a folder, holds a manifest it would not read (see [`refuse_unread_manifests`]),
/// a split folder holds several metadata files, or a metadata file is malformed (file and line
/// named).
pub fn load(root: &Path) -> anyhow::Result<Dataset> {
    anyhow::ensure!(root.is_dir(), "{} is not a folder", root.display());
    let split_dirs: Vec<(PathBuf, Split)> = sorted_subdirs(root)?
        .into_iter()
        .filter_map(|d| {
            let name = d.file_name()?.to_string_lossy().into_owned();
            Split::from_synonym(&name).map(|s| (d, s))
        })
        .collect();
    refuse_unread_manifests(root, !split_dirs.is_empty())?;
    let mut records = Vec::new();
    if split_dirs.is_empty() {
        records.extend(read_folder(root, root, None)?);
    } else {
        for (dir, split) in &split_dirs {
            records.extend(read_folder(root, dir, Some(*split))?);
        }
    }
    let mut classes = find_child_ci(root, "classes.txt").map(|p| read_class_list(&p)).transpose()?;
    if classes.is_none() && !records.is_empty() && records.iter().all(|r| r.origin.unit == "image") {
        // Folder names are names even when they look like numbers ("1", "2"): sorted, as HF does.
        let names: BTreeSet<&str> = records.iter().map(|r| r.label.as_str()).collect();
        classes = Some(names.into_iter().map(str::to_string).collect());
    }
    build(DatasetKind::ImageFolder, root.to_path_buf(), records, classes)
}

/// Refuses a root holding a manifest that imagefolder would not read: any `manifest.*` (the
/// `manifest:` kind's name), or a `metadata.*` when split folders exist (then only theirs are
/// read). A root `metadata.*` without split folders is the HF layout and is read.
///
/// # Errors
/// Names the file and suggests `--dataset manifest:FILE`.
fn refuse_unread_manifests(root: &Path, has_split_dirs: bool) -> anyhow::Result<()> {
    for file in manifests_in(root) {
        let is_metadata = file.file_stem().is_some_and(|s| s.eq_ignore_ascii_case("metadata"));
        let why = match (is_metadata, has_split_dirs) {
            (true, false) => continue,
            (true, true) => "imagefolder reads the metadata or class folders inside each split folder instead",
            (false, _) => "imagefolder reads only metadata.* files or class sub-folders",
        };
        anyhow::bail!(
            "{} holds the manifest {}, which imagefolder does not read ({why}); use --dataset manifest:{}",
            root.display(),
            file.file_name().unwrap_or_default().to_string_lossy(),
            file.display()
        );
    }
    Ok(())
}

/// Reads one folder: its metadata file if it has one, else its class sub-folders.
fn read_folder(root: &Path, dir: &Path, split: Option<Split>) -> anyhow::Result<Vec<RawRecord>> {
    let metas: Vec<PathBuf> = manifests_in(dir)
        .into_iter()
        .filter(|p| p.file_stem().is_some_and(|s| s.eq_ignore_ascii_case("metadata")))
        .collect();
    match metas.as_slice() {
        [] => class_folder_records(root, dir, split.unwrap_or(Split::Train)),
        [meta] => {
            let table = read_table(meta)?;
            anyhow::ensure!(table.has("file_name"), "{}: no \"file_name\" column", meta.display());
            let rel = rel_id(root, dir);
            let prefix = if rel.is_empty() { String::new() } else { format!("{rel}/") };
            table_records(&table, &prefix, split)
        }
        _ => anyhow::bail!(
            "several metadata files in {}: {}",
            dir.display(),
            metas.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// One record per image file under each class sub-folder of `dir` (label = folder name).
fn class_folder_records(root: &Path, dir: &Path, split: Split) -> anyhow::Result<Vec<RawRecord>> {
    let mut records = Vec::new();
    for class_dir in sorted_subdirs(dir)? {
        let label = class_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for (i, image) in image_files_under(&class_dir)?.into_iter().enumerate() {
            records.push(RawRecord {
                rel_path: rel_id(root, &image),
                text: None,
                label: label.clone(),
                split,
                origin: Origin { file: class_dir.clone(), number: i + 1, unit: "image" },
                image: None,
            });
        }
    }
    Ok(records)
}
