//! A dataset row before its label is resolved to a class index, with where it came from.

use std::fmt;
use std::path::{Path, PathBuf};

use unicode_normalization::UnicodeNormalization;

use crate::{ImageSource, Sample, Split};

/// Where a row was read: a file and a 1-based line (or row, for Parquet) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub file: PathBuf,
    pub number: usize,
    /// `"line"` for text formats, `"row"` for Parquet.
    pub unit: &'static str,
}

impl Origin {
    pub fn line(file: &Path, number: usize) -> Origin {
        Origin { file: file.to_path_buf(), number, unit: "line" }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.file.display(), self.unit, self.number)
    }
}

/// A row with its label still as written in the source (class name or index).
#[derive(Debug, Clone)]
pub(crate) struct RawRecord {
    /// Image path relative to the dataset root, forward slashes.
    pub rel_path: String,
    pub text: Option<String>,
    pub label: String,
    pub split: Split,
    pub origin: Origin,
    /// The container file and place of the image when it is not the file `root/rel_path`
    /// (Parquet cells, tar members); `None` for loose files.
    pub image: Option<(PathBuf, ImageSource)>,
}

impl RawRecord {
    /// The finished sample under `root` with the resolved class index. The id is the path as
    /// written; the image path is [`resolve_unicode_form`]'s.
    pub fn into_sample(self, root: &Path, label: u32) -> Sample {
        let (image_path, source) =
            self.image.unwrap_or_else(|| (resolve_unicode_form(root, &self.rel_path), ImageSource::File));
        Sample { image_path, id: self.rel_path, source, text: self.text, label, split: self.split }
    }
}

/// `root/rel`, or `root/` + `rel` in the other Unicode normalisation form (NFC or NFD) when only
/// that file exists: a manifest typed on Linux or Windows holds NFC names (`crème`
/// as one `è`), files copied from macOS may be named in NFD (`e` + combining grave), and the
/// reverse. ASCII paths are joined without touching the disk.
pub(crate) fn resolve_unicode_form(root: &Path, rel: &str) -> PathBuf {
    let path = root.join(rel);
    if rel.is_ascii() || path.exists() {
        return path;
    }
    [rel.nfc().collect::<String>(), rel.nfd().collect::<String>()]
        .into_iter()
        .map(|form| root.join(form))
        .find(|candidate| candidate.exists())
        .unwrap_or(path)
}

/// Normalises a relative path as written in a metadata file: backslashes to `/`, no leading
/// `./` or `/`.
pub(crate) fn normalize_rel_path(path: &str) -> String {
    let mut p = path.trim().replace('\\', "/");
    while let Some(rest) = p.strip_prefix("./") {
        p = rest.to_string();
    }
    p.trim_start_matches('/').to_string()
}

/// `Some(trimmed)` for a non-blank text, `None` for blank or missing.
pub(crate) fn non_empty_text(text: Option<&str>) -> Option<String> {
    text.map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}
