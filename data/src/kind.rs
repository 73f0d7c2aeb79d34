//! The dataset kinds accepted in a `KIND:PATH` spec (DESIGN.md §4 and §7).

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which reader interprets the dataset folder or file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatasetKind {
    /// A CSV/TSV/JSONL/Parquet manifest with `file_name`, `text`, `label`, optional `split`.
    Manifest,
    /// The HF `imagefolder` layout: split folders with `metadata.*` or class sub-folders.
    ImageFolder,
    /// VireoFood-172 as distributed (`ready_chinese_food/`, `SplitAndIngreLabel/`).
    Vireo172,
    /// Ingredient-101: Food-101 `images/` plus the `annotations/` folder.
    Ingredient101,
    /// Hugging Face `datasets` Parquet (the Hub's `data/train-00000-of-00001.parquet`,
    /// `Dataset.to_parquet`) and img2dataset's Parquet output.
    Hf,
    /// webdataset / img2dataset tar shards (a folder or a brace pattern).
    WebDataset,
}

impl DatasetKind {
    /// The spec prefix: `manifest`, `imagefolder`, `vireo172`, `ingredient101`, `hf` or
    /// `webdataset`.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetKind::Manifest => "manifest",
            DatasetKind::ImageFolder => "imagefolder",
            DatasetKind::Vireo172 => "vireo172",
            DatasetKind::Ingredient101 => "ingredient101",
            DatasetKind::Hf => "hf",
            DatasetKind::WebDataset => "webdataset",
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetKind {
    type Err = anyhow::Error;

    /// Parses a kind name (ASCII case ignored).
    ///
    /// # Errors
    /// An unknown kind; the message lists the accepted ones.
    fn from_str(s: &str) -> anyhow::Result<DatasetKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "manifest" => Ok(DatasetKind::Manifest),
            "imagefolder" => Ok(DatasetKind::ImageFolder),
            "vireo172" => Ok(DatasetKind::Vireo172),
            "ingredient101" => Ok(DatasetKind::Ingredient101),
            "hf" => Ok(DatasetKind::Hf),
            "webdataset" | "wds" => Ok(DatasetKind::WebDataset),
            _ => anyhow::bail!(
                "unknown dataset kind {s:?}: expected manifest, imagefolder, vireo172, ingredient101, hf or webdataset"
            ),
        }
    }
}
