//! Durable file replacement (write a temp file, fsync, rename, fsync the folder) and file
//! hashing, so a crash never leaves a half-written part or manifest under its final name.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// A temp name beside `path`, unique per process: `.<file name>.<pid>.tmp`.
pub(crate) fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Renames `tmp` to `dst` (replacing it) and fsyncs the folder so the rename survives a crash.
///
/// # Errors
/// The rename fails (e.g. `tmp` vanished).
pub(crate) fn rename_durable(tmp: &Path, dst: &Path) -> anyhow::Result<()> {
    std::fs::rename(tmp, dst).with_context(|| format!("renaming {} to {}", tmp.display(), dst.display()))?;
    if let Some(dir) = dst.parent() {
        // Directory fsync is best effort: not every platform allows opening a folder.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: temp file, fsync, rename.
///
/// # Errors
/// The temp file cannot be written or renamed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut f = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Lower-case hex SHA-256 of a file's bytes.
///
/// # Errors
/// The file cannot be read.
pub(crate) fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether the process that owns a temp file named `.<name>.<pid>.tmp` may still be writing it:
/// on Linux, `/proc/<pid>` exists and it is not this process; elsewhere (no `/proc`), files
/// younger than ten minutes are assumed live.
pub(crate) fn temp_owner_alive(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let pid: Option<u32> = name.strip_suffix(".tmp").and_then(|s| s.rsplit('.').next()).and_then(|p| p.parse().ok());
    let Some(pid) = pid else { return false };
    if pid == std::process::id() {
        return false;
    }
    if Path::new("/proc/self").exists() {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 600)
}
