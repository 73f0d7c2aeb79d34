//! Finding files and folders whose name case differs between copies of a dataset
//! (`Annotations` vs `annotations`, DESIGN.md §4).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// The child of `dir` called `name`, matched exactly first, then ignoring ASCII case.
pub(crate) fn find_child_ci(dir: &Path, name: &str) -> Option<PathBuf> {
    let exact = dir.join(name);
    if exact.exists() {
        return Some(exact);
    }
    let entries = std::fs::read_dir(dir).ok()?;
    let mut found: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| is_named_ci(p, name)).collect();
    found.sort();
    found.into_iter().next()
}

/// Like [`find_child_ci`] but the file must exist.
///
/// # Errors
/// No child of `dir` matches `name`; `what` says what the file holds.
pub(crate) fn require_child_ci(dir: &Path, name: &str, what: &str) -> anyhow::Result<PathBuf> {
    find_child_ci(dir, name).with_context(|| format!("missing {name} ({what}) in {}", dir.display()))
}

/// The sub-folders of `dir`, sorted by name, hidden ones (`.x`) skipped.
pub(crate) fn sorted_subdirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && entry.path().is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// Whether the last component of `path` is `name`, ASCII case ignored.
pub(crate) fn is_named_ci(path: &Path, name: &str) -> bool {
    path.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(name))
}

/// Image file extensions recognised in class sub-folders (ASCII case ignored).
pub(crate) const IMAGE_EXTENSIONS: [&str; 8] = ["jpg", "jpeg", "png", "bmp", "gif", "webp", "tif", "tiff"];

/// Whether `path` has one of [`IMAGE_EXTENSIONS`].
pub(crate) fn is_image_file(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// All image files under `dir` (recursively, hidden entries skipped), sorted.
pub(crate) fn image_files_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let entry = entry.with_context(|| format!("listing {}", d.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if is_image_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `path` relative to `root` with forward slashes.
pub(crate) fn rel_id(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}
