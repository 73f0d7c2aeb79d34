//! The feature cache (DESIGN.md §3): a folder of `part-NNNNN-of-MMMMM.parquet` files (zstd)
//! plus hidden sidecars ([`sidecars`]: `.manifest.json`, and the extraction's own), so that
//! dataframe libraries open the folder itself as one table.
//!
//! Columns: `id` utf8, `split` dictionary<int32, utf8>, `label` int32,
//! `x_v` `fixed_size_list<float32>[D_v]`, `x_s` `fixed_size_list<float32>[D_s]` (null where the
//! sample has no text: all test rows). Every part carries the `marnet.*` key-value metadata
//! of [`CacheMetadata`]; readers and the resuming writer refuse to mix parts whose metadata
//! differs in anything but `marnet.tool_version`. pyarrow, polars and HF `datasets` read the
//! parts as they are.

mod manifest;
mod metadata;
mod part_read;
mod part_write;
mod reader;
mod rows;
mod schema;
pub mod sidecars;
mod writer;

pub use manifest::{list_part_files, CacheManifest, PartEntry};
pub use metadata::{exif_orientation_hint, CacheMetadata, EXIF_ORIENTATION_KEY, KEY_PREFIX, TOOL_VERSION_KEY};
pub use part_write::ROW_GROUP_ROWS;
pub use reader::{read_cache, FeatureCache};
pub use rows::FeatureRows;
pub use schema::{feature_type, parse_part_file_name, part_file_name, part_schema, ITEM_FIELD};
pub use sidecars::MANIFEST_FILE;
pub use writer::{CacheWriter, MAX_PARTS};

/// Version of the cache layout written in `marnet.schema_version`; readers refuse versions
/// outside [`OLDEST_READABLE_SCHEMA_VERSION`]`..=SCHEMA_VERSION`. Version 2 hides the
/// sidecars (`.manifest.json` for `manifest.json`, ...); the parts are as in version 1.
pub const SCHEMA_VERSION: u32 = 2;

/// The oldest `marnet.schema_version` still read (version 1: the same parts, sidecars not hidden).
pub const OLDEST_READABLE_SCHEMA_VERSION: u32 = 1;
