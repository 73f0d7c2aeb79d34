//! `marnet-extract inspect`: the dataset summary JSON of DESIGN.md §7.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::{load_dataset_with, Dataset, DatasetOptions, Split};

/// Number of samples per split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SplitCounts {
    /// Rows in the train split.
    pub train: usize,
    /// Rows in the val split.
    pub val: usize,
    /// Rows in the test split.
    pub test: usize,
}

/// Serialises exactly as `{"kind", "root", "classes", "class_names", "splits": {"train", "val",
/// "test"}, "with_text", "missing_files"}` (DESIGN.md §7), plus `"folders": {role: path}` where
/// the reader chose among layouts (Ingredient-101) and `"warnings": [..]` when the reader
/// warned. For `hf` and `webdataset`, `missing_files` counts samples whose Parquet file or shard
/// is missing (image bytes are not read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectReport {
    /// `manifest`, `imagefolder`, `vireo172`, `ingredient101`, `hf` or `webdataset`.
    pub kind: String,
    /// The dataset root as given (image paths are relative to it).
    pub root: String,
    /// K, the number of classes.
    pub classes: usize,
    /// The K class names, index = label.
    pub class_names: Vec<String>,
    /// Rows per split.
    pub splits: SplitCounts,
    /// Rows that carry a non-empty text.
    pub with_text: usize,
    /// Rows whose image file does not exist.
    pub missing_files: usize,
    /// The folders used, by role, relative to `root` ([`Dataset::folders`]); left out when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub folders: BTreeMap<String, String>,
    /// The reader's warnings ([`Dataset::warnings`], e.g. `labels run 1..172: class 0 has no
    /// sample`); left out when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl InspectReport {
    /// Summarises a loaded dataset (stats every image path once).
    pub fn of(dataset: &Dataset) -> InspectReport {
        InspectReport {
            kind: dataset.kind.as_str().to_string(),
            root: dataset.root.display().to_string(),
            classes: dataset.class_names.len(),
            class_names: dataset.class_names.clone(),
            splits: SplitCounts {
                train: dataset.count(Split::Train),
                val: dataset.count(Split::Val),
                test: dataset.count(Split::Test),
            },
            with_text: dataset.count_with_text(),
            missing_files: dataset.missing_files().len(),
            folders: dataset.folders.clone(),
            warnings: dataset.warnings.clone(),
        }
    }
}

/// Loads the dataset of a `KIND:PATH` spec and summarises it.
///
/// # Errors
/// As [`load_dataset`].
pub fn inspect(spec: &str) -> anyhow::Result<InspectReport> {
    inspect_with(spec, &DatasetOptions::default())
}

/// [`inspect`] with column and key choices for the `hf` and `webdataset` kinds.
///
/// # Errors
/// As [`crate::load_dataset_with`].
pub fn inspect_with(spec: &str, options: &DatasetOptions) -> anyhow::Result<InspectReport> {
    Ok(InspectReport::of(&load_dataset_with(spec, options)?))
}
