//! Resumable cache writing (DESIGN.md §3): parts appear only by rename, so a part file that
//! exists is complete; a rerun skips done parts and refuses a folder holding features of
//! other models or settings (any metadata key but `marnet.tool_version`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::manifest::{list_part_files, rewrite_manifest, CacheManifest};
use super::part_read::read_part_metadata;
use super::part_write::write_part_file;
use super::schema::part_file_name;
use super::sidecars::{migrate_legacy_sidecars, MANIFEST_FILE};
use super::{CacheMetadata, FeatureRows};
use crate::fsutil::temp_owner_alive;

/// Upper bound on parts (the file name has five digits).
pub const MAX_PARTS: usize = 99_999;

/// Writes the parts of one cache folder; several processes (shards) may each hold one on the
/// same folder, writing different part indices.
#[derive(Debug)]
pub struct CacheWriter {
    dir: PathBuf,
    metadata: CacheMetadata,
    total_parts: usize,
}

impl CacheWriter {
    /// Opens `dir` for writing `total_parts` parts with `metadata`, creating it if needed,
    /// deleting temp files left by dead writers and renaming the sidecars of a schema version 1
    /// cache to their hidden names ([`super::sidecars::migrate_legacy_sidecars`]).
    ///
    /// # Errors
    /// `total_parts` is 0 or above [`MAX_PARTS`], `d_v` is 0, the folder cannot be created, or
    /// its `.manifest.json` or existing parts were written with other metadata (the message
    /// names the differing keys) or another part count. Never mixes caches.
    pub fn create_or_resume(dir: &Path, metadata: CacheMetadata, total_parts: usize) -> anyhow::Result<CacheWriter> {
        anyhow::ensure!(
            (1..=MAX_PARTS).contains(&total_parts),
            "total_parts must be in 1..={MAX_PARTS}, got {total_parts}"
        );
        anyhow::ensure!(metadata.d_v > 0, "d_v must be positive");
        std::fs::create_dir_all(dir).with_context(|| format!("creating cache folder {}", dir.display()))?;
        remove_stale_temps(dir)?;
        migrate_legacy_sidecars(dir)?;
        if let Some(manifest) = CacheManifest::read(dir)? {
            let theirs = manifest.cache_metadata().with_context(|| {
                format!("{} belongs to an incompatible cache; use another --out", dir.join(MANIFEST_FILE).display())
            })?;
            refuse_if_different(&metadata, &theirs, &dir.join(MANIFEST_FILE))?;
            anyhow::ensure!(
                manifest.total_parts == total_parts,
                "{} was written as {} parts, not {total_parts}; rerun with the same sharding or use another --out",
                dir.display(),
                manifest.total_parts
            );
        }
        for (path, _, total) in list_part_files(dir)? {
            anyhow::ensure!(
                total == total_parts,
                "{} belongs to a cache of {total} parts, not {total_parts}; use another --out",
                path.display()
            );
            let (theirs, _) = read_part_metadata(&path)?;
            refuse_if_different(&metadata, &theirs, &path)?;
        }
        Ok(CacheWriter { dir: dir.to_path_buf(), metadata, total_parts })
    }

    /// The cache folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of parts of the cache.
    pub fn total_parts(&self) -> usize {
        self.total_parts
    }

    /// Path of part `index`.
    pub fn part_path(&self, index: usize) -> PathBuf {
        self.dir.join(part_file_name(index, self.total_parts))
    }

    /// Whether part `index` is already written (its file exists; parts only appear by rename).
    pub fn is_part_done(&self, index: usize) -> bool {
        self.part_path(index).is_file()
    }

    /// Indices of the parts not written yet.
    pub fn missing_parts(&self) -> Vec<usize> {
        (0..self.total_parts).filter(|&i| !self.is_part_done(i)).collect()
    }

    /// Writes part `index` (temp file, fsync, rename; replaces an existing one), then rewrites
    /// `.manifest.json` atomically from the parts present.
    ///
    /// # Errors
    /// `index >= total_parts`; rows that do not match the metadata (widths, label range) or
    /// hold NaN/inf (the row id is named); an I/O failure.
    pub fn write_part(&self, index: usize, rows: &FeatureRows) -> anyhow::Result<()> {
        anyhow::ensure!(index < self.total_parts, "part index {index} out of range: {} parts", self.total_parts);
        write_part_file(&self.part_path(index), &self.metadata, rows)?;
        rewrite_manifest(&self.dir, &self.metadata, self.total_parts)?;
        Ok(())
    }

    /// Rewrites `.manifest.json` from the parts present (its `completed` flag is true once every
    /// part exists; other shards may still be running, so missing parts are not an error).
    ///
    /// # Errors
    /// A part cannot be read or the manifest cannot be written.
    pub fn finish(&self) -> anyhow::Result<()> {
        rewrite_manifest(&self.dir, &self.metadata, self.total_parts)?;
        Ok(())
    }
}

/// Refuses when `theirs` (found in `path`) differs from `ours` in any key but tool_version.
fn refuse_if_different(ours: &CacheMetadata, theirs: &CacheMetadata, path: &Path) -> anyhow::Result<()> {
    match theirs.describe_differences(ours) {
        None => Ok(()),
        Some(diff) => anyhow::bail!(
            "{} holds features made with other settings; refusing to mix caches (existing vs new: {diff}); \
             use another output folder or delete it",
            path.display()
        ),
    }
}

/// Deletes `.*.tmp` files whose writer is no longer running.
fn remove_stale_temps(dir: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") && !temp_owner_alive(&entry.path()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}
