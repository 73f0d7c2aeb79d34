//! One dataset row as the readers produce it (DESIGN.md §4).

use std::path::PathBuf;

use crate::source::{ImageSource, Location};
use crate::Split;

/// One image with its optional text, its class and its split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Stable id: the image path relative to the dataset root, with forward slashes
    /// (e.g. `ready_chinese_food/1/1_1.jpg`); for Parquet rows `FILE/ROW` or `FILE/KEY`, for
    /// tar members `SHARD/KEY` (paths relative to the dataset root); the cache's `id` column
    /// (DESIGN.md §3).
    pub id: String,
    /// Absolute or root-joined path of the image file, or of the Parquet file / tar shard that
    /// holds it (not checked for existence).
    pub image_path: PathBuf,
    /// Where in `image_path` the image bytes are ([`ImageSource::File`]: the whole file).
    pub source: ImageSource,
    /// The text paired with the image; `None` when the source has none or it is empty.
    pub text: Option<String>,
    /// 0-based class index into [`crate::Dataset::class_names`].
    pub label: u32,
    /// The split the row belongs to.
    pub split: Split,
}

impl Sample {
    /// Where the image is, for messages: the path, `SHARD:MEMBER` or `FILE row group G row R`.
    pub fn location(&self) -> Location<'_> {
        Location { path: &self.image_path, source: &self.source }
    }
}
