//! One dataset row as the readers produce it (DESIGN.md §4).

use std::path::PathBuf;

use crate::Split;

/// One image with its optional text, its class and its split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Stable id: the image path relative to the dataset root, with forward slashes
    /// (e.g. `ready_chinese_food/1/1_1.jpg`); the cache's `id` column (DESIGN.md §3).
    pub id: String,
    /// Absolute or root-joined path of the image file (not checked for existence).
    pub image_path: PathBuf,
    /// The text paired with the image; `None` when the source has none or it is empty.
    pub text: Option<String>,
    /// 0-based class index into [`crate::Dataset::class_names`].
    pub label: u32,
    /// The split the row belongs to.
    pub split: Split,
}
