//! Where a sample's image bytes live (DESIGN.md §4): a file on disk, a cell of a Parquet file
//! (Hugging Face `datasets` / img2dataset layouts), or a member of a tar shard (webdataset).
//! Readers only record the place; [`crate::image_bytes::ImageBytesReader`] fetches the bytes.

use std::fmt;
use std::path::Path;

/// How to get the encoded image (JPEG, PNG, ...) of one [`crate::Sample`]; the container file
/// is always [`crate::Sample::image_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// The image is the file at `image_path` (manifest, imagefolder, vireo172, ingredient101,
    /// and Parquet rows that only hold a `path`).
    File,
    /// The binary cell of `column` in row `row` (0-based within the row group) of row group
    /// `row_group` of the Parquet file at `image_path`. For an HF `Image` column (a struct
    /// `{bytes, path}`) the `bytes` child; `fallback` is the file its `path` names, read when the
    /// bytes are null or empty.
    Parquet {
        /// Top-level column name (`image`, `jpg`, ...).
        column: String,
        /// 0-based row group index.
        row_group: usize,
        /// 0-based row within the row group.
        row: usize,
        /// File named by the struct's `path` child, resolved against the dataset root.
        fallback: Option<std::path::PathBuf>,
    },
    /// The member `member` of the tar shard at `image_path`, whose data starts `offset` bytes
    /// into the shard and is `size` bytes long (found when the shard was listed).
    Tar {
        /// Member name inside the shard (`000123.jpg`).
        member: String,
        /// Byte offset of the member's data in the shard.
        offset: u64,
        /// Data size in bytes, as its header states.
        size: u64,
    },
    /// The source lists the sample but holds no image for it (a webdataset key with a `txt`
    /// but no `jpg`); reading it fails with `why`.
    Missing {
        /// What is missing, e.g. `key 0007 has no jpg/jpeg/png/webp member (members: 0007.txt)`.
        why: String,
    },
}

impl ImageSource {
    /// Whether the image sits in its own file (the path is read as before).
    pub fn is_file(&self) -> bool {
        matches!(self, ImageSource::File)
    }
}

/// Human-readable place of an image, for errors and `.bad_inputs.jsonl`: the path for files,
/// `SHARD.tar:MEMBER` for tar members, `FILE.parquet row group G row R column C` for Parquet.
pub struct Location<'a> {
    /// The container or image file.
    pub path: &'a Path,
    /// How the image is read from it.
    pub source: &'a ImageSource,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match self.source {
            ImageSource::File => write!(f, "{p}"),
            ImageSource::Parquet { column, row_group, row, .. } => {
                write!(f, "{p} row group {row_group} row {row} column {column:?}")
            }
            ImageSource::Tar { member, .. } => write!(f, "{p}:{member}"),
            ImageSource::Missing { .. } => write!(f, "{p}"),
        }
    }
}
