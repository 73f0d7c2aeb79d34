//! `.manifest.json` of a cache folder (DESIGN.md §3; `manifest.json` before schema version 2,
//! still read): the parts present, their row counts and sha256, and whether all parts are done. It is always rebuilt by scanning the part files in
//! the folder, so several shard processes writing into one folder converge on the same manifest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::part_read::read_part_metadata;
use super::schema::parse_part_file_name;
use super::sidecars::{existing_sidecar, MANIFEST_FILE};
use super::{CacheMetadata, SCHEMA_VERSION};
use crate::fsutil::{sha256_file, write_atomic};

/// One completed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// File name, `part-NNNNN-of-MMMMM.parquet`.
    pub file: String,
    /// 0-based part index NNNNN.
    pub index: usize,
    /// Rows in the part.
    pub rows: usize,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// Lower-case hex SHA-256 of the file.
    pub sha256: String,
    /// Always true: parts only appear under their final name once complete.
    pub completed: bool,
}

/// The content of `.manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheManifest {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The `marnet.*` key-value metadata shared by all parts.
    pub metadata: BTreeMap<String, String>,
    /// MMMMM, the number of parts the cache is split into.
    pub total_parts: usize,
    /// The parts present, by index.
    pub parts: Vec<PartEntry>,
    /// Whether all `total_parts` parts are present.
    pub completed: bool,
}

impl CacheManifest {
    /// Reads `dir/.manifest.json` (or the `manifest.json` of a schema version 1 cache);
    /// `Ok(None)` when there is none.
    ///
    /// # Errors
    /// The file exists but is not a valid manifest.
    pub fn read(dir: &Path) -> anyhow::Result<Option<CacheManifest>> {
        let Some(path) = existing_sidecar(dir, MANIFEST_FILE) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        let manifest = serde_json::from_str(&text).with_context(|| format!("{}: invalid manifest", path.display()))?;
        Ok(Some(manifest))
    }

    /// Parsed metadata of the manifest.
    ///
    /// # Errors
    /// As [`CacheMetadata::from_kv`].
    pub fn cache_metadata(&self) -> anyhow::Result<CacheMetadata> {
        CacheMetadata::from_kv(&self.metadata)
    }
}

/// The part files in `dir` (sorted by name) with their `(index, total)`.
///
/// # Errors
/// `dir` cannot be listed.
pub fn list_part_files(dir: &Path) -> anyhow::Result<Vec<(PathBuf, usize, usize)>> {
    let mut parts = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((index, total)) = parse_part_file_name(&name) {
            parts.push((entry.path(), index, total));
        }
    }
    parts.sort();
    Ok(parts)
}

/// Rebuilds `dir/.manifest.json` from the part files present (those of `total_parts` only),
/// reusing the previous manifest's sha256 for files whose name and size are unchanged, and
/// writes it atomically.
///
/// # Errors
/// A part cannot be read or hashed, or the manifest cannot be written.
pub fn rewrite_manifest(dir: &Path, metadata: &CacheMetadata, total_parts: usize) -> anyhow::Result<CacheManifest> {
    let previous: BTreeMap<String, PartEntry> = CacheManifest::read(dir)
        .ok()
        .flatten()
        .map(|m| m.parts.into_iter().map(|p| (p.file.clone(), p)).collect())
        .unwrap_or_default();
    let mut parts = Vec::new();
    for (path, index, total) in list_part_files(dir)? {
        if total != total_parts {
            continue;
        }
        let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = std::fs::metadata(&path).with_context(|| format!("stat {}", path.display()))?.len();
        let entry = match previous.get(&file) {
            Some(p) if p.bytes == bytes => p.clone(),
            _ => {
                let (_, rows) = read_part_metadata(&path)?;
                PartEntry { file, index, rows, bytes, sha256: sha256_file(&path)?, completed: true }
            }
        };
        parts.push(entry);
    }
    parts.sort_by_key(|p| p.index);
    let manifest = CacheManifest {
        schema_version: SCHEMA_VERSION,
        metadata: metadata.to_kv(),
        total_parts,
        completed: parts.len() == total_parts,
        parts,
    };
    let json = serde_json::to_string_pretty(&manifest).context("serialising the cache manifest")?;
    write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())?;
    Ok(manifest)
}
