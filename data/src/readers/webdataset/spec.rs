//! The shard list of a `webdataset:SPEC`: a `.tar` file, a folder (every `*.tar` below it,
//! sorted by path), or brace patterns as webdataset and img2dataset write them
//! (`shards/{00000..00099}.tar`, `{train,val}-{0..3}.tar`; several joined by `::`).

use std::path::{Path, PathBuf};

use anyhow::Context;

/// Most shards one pattern may expand to (a typo such as `{0..99999999}` is refused).
const MAX_SHARDS: usize = 1_000_000;

/// The dataset root (ids and splits are relative to it) and the shards, in order.
///
/// # Errors
/// A malformed brace, a range too large, a shard that does not exist, or a folder without tar
/// files.
pub(crate) fn shards(spec: &str) -> anyhow::Result<(PathBuf, Vec<PathBuf>)> {
    if !spec.contains('{') && !spec.contains("::") {
        let path = PathBuf::from(spec);
        anyhow::ensure!(path.exists(), "{} does not exist", path.display());
        if path.is_file() {
            return Ok((parent_or_dot(&path), vec![path]));
        }
        let tars = tars_under(&path)?;
        anyhow::ensure!(!tars.is_empty(), "no .tar shard under {}", path.display());
        return Ok((path, tars));
    }
    let mut all = Vec::new();
    for pattern in spec.split("::").filter(|p| !p.is_empty()) {
        all.extend(expand(pattern)?);
        anyhow::ensure!(all.len() <= MAX_SHARDS, "{spec:?} expands to more than {MAX_SHARDS} shards");
    }
    let first = spec.split("::").next().unwrap_or(spec);
    let fixed = &first[..first.find('{').unwrap_or(first.len())];
    let root = match fixed.rfind('/') {
        Some(i) => PathBuf::from(&fixed[..i.max(1)]),
        None => PathBuf::from("."),
    };
    let paths: Vec<PathBuf> = all.into_iter().map(PathBuf::from).collect();
    for p in &paths {
        anyhow::ensure!(p.is_file(), "shard {} (from {spec:?}) does not exist", p.display());
    }
    Ok((root, paths))
}

fn parent_or_dot(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Every `*.tar` below `dir` (hidden entries skipped), sorted by path.
fn tars_under(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("listing {}", d.display()))? {
            let path = entry.with_context(|| format!("listing {}", d.display()))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".tar") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Expands the braces of one pattern, left to right: `{a..b}` is a numeric range (zero-padded
/// to the width of `a` when `a` starts with `0`), `{x,y}` a list.
///
/// # Errors
/// An unclosed brace, a range whose ends are not integers or run backwards, too many shards.
pub(crate) fn expand(pattern: &str) -> anyhow::Result<Vec<String>> {
    let Some(open) = pattern.find('{') else { return Ok(vec![pattern.to_string()]) };
    let close = pattern[open..].find('}').map(|i| open + i).with_context(|| format!("{pattern:?}: unclosed '{{'"))?;
    let (head, body, tail) = (&pattern[..open], &pattern[open + 1..close], &pattern[close + 1..]);
    let choices: Vec<String> = match body.split_once("..") {
        Some((a, b)) => {
            let bad = || format!("{pattern:?}: {{{body}}} must be {{FIRST..LAST}} with integers, FIRST <= LAST");
            let (lo, hi): (u64, u64) = (a.parse().with_context(bad)?, b.parse().with_context(bad)?);
            anyhow::ensure!(lo <= hi && hi - lo < MAX_SHARDS as u64, bad());
            let width = if a.starts_with('0') { a.len() } else { 0 };
            (lo..=hi).map(|i| format!("{i:0width$}")).collect()
        }
        None => body.split(',').map(str::to_string).collect(),
    };
    let rest = expand(tail)?;
    let mut out = Vec::with_capacity(choices.len() * rest.len());
    for c in &choices {
        for r in &rest {
            out.push(format!("{head}{c}{r}"));
        }
    }
    anyhow::ensure!(out.len() <= MAX_SHARDS, "{pattern:?} expands to more than {MAX_SHARDS} shards");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_like_webdataset() {
        assert_eq!(expand("s/{00..02}.tar").unwrap(), ["s/00.tar", "s/01.tar", "s/02.tar"]);
        assert_eq!(expand("{train,val}-{8..10}.tar").unwrap().len(), 6);
        assert_eq!(expand("{train,val}-{8..10}.tar").unwrap()[2], "train-10.tar");
        assert!(expand("s/{3..1}.tar").is_err());
        assert!(expand("s/{3..1.tar").is_err());
    }
}
