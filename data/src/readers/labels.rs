//! Resolving raw labels (class names or integer indices) to 0-based class indices
//! (DESIGN.md §4, manifest `label` column).
//!
//! Rules: with a class list (e.g. `classes.txt`), a label is a class name from it or an index
//! `0..K`. Without one, if every label is an integer the classes are `"0".."K-1"` with
//! K = max + 1; otherwise the classes are the sorted unique names. Integer labels that leave
//! classes of `0..K` without a sample (1-based numbering: `1..=172` gives 173 classes, class 0
//! empty) are accepted with a warning naming the empty classes and the range found.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use super::lines::read_nonblank_lines;
use super::record::RawRecord;

/// Refuse integer labels that would create more classes than this (a typo such as `10000000`).
const MAX_CLASSES: i64 = 1_000_000;

/// Reads a class list: one name per non-blank line, trimmed.
///
/// # Errors
/// Unreadable file, or a duplicated name (naming both lines).
pub(crate) fn read_class_list(path: &Path) -> anyhow::Result<Vec<String>> {
    let lines = read_nonblank_lines(path)?;
    let mut names: Vec<String> = Vec::with_capacity(lines.len());
    for line in &lines {
        if let Some(prev) = names.iter().position(|n| *n == line.text) {
            anyhow::bail!(
                "{} line {}: class name {:?} repeats line {}",
                path.display(),
                line.number,
                line.text,
                lines[prev].number
            );
        }
        names.push(line.text.clone());
    }
    Ok(names)
}

/// Labels resolved to class indices.
pub(crate) struct Resolved {
    /// K class names, index = label.
    pub names: Vec<String>,
    /// One 0-based class index per record.
    pub labels: Vec<u32>,
    /// Set when integer labels leave classes empty ([`empty_classes_warning`]).
    pub warning: Option<String>,
}

/// Resolves every record's label; returns the class names, one index per record and, for
/// integer numbering without a class list, a warning about classes that have no sample.
///
/// # Errors
/// An empty label, an unknown class name, a negative index or an index `>= K`; the message
/// names the file and line of the offending record.
pub(crate) fn resolve_labels(records: &[RawRecord], classes: Option<Vec<String>>) -> anyhow::Result<Resolved> {
    for r in records {
        anyhow::ensure!(!r.label.trim().is_empty(), "{}: empty label", r.origin);
    }
    let (names, labels, warning) = match classes {
        Some(names) => {
            let (names, labels) = resolve_with_list(records, names)?;
            (names, labels, None)
        }
        None => {
            let ints: Option<Vec<i64>> = records.iter().map(|r| r.label.trim().parse::<i64>().ok()).collect();
            match ints {
                Some(ints) if !records.is_empty() => {
                    let (names, labels) = resolve_integers(records, &ints)?;
                    let warning = empty_classes_warning(&labels, names.len());
                    (names, labels, warning)
                }
                _ => {
                    let (names, labels) = resolve_names(records);
                    (names, labels, None)
                }
            }
        }
    };
    Ok(Resolved { names, labels, warning })
}

/// `Some("labels run 1..172: class 0 has no sample (...)")` when some class of `0..k` has no
/// label in `labels`; the range is the smallest and largest label found. At most 10 empty
/// classes are listed, then their count.
pub(crate) fn empty_classes_warning(labels: &[u32], k: usize) -> Option<String> {
    let mut used = vec![false; k];
    for &l in labels {
        if let Some(u) = used.get_mut(l as usize) {
            *u = true;
        }
    }
    let empty: Vec<usize> = (0..k).filter(|&c| !used[c]).collect();
    if empty.is_empty() || labels.is_empty() {
        return None;
    }
    let (lo, hi) = (labels.iter().min()?, labels.iter().max()?);
    const SHOWN: usize = 10;
    let mut listed: Vec<String> = empty.iter().take(SHOWN).map(usize::to_string).collect();
    if empty.len() > SHOWN {
        listed.push(format!("and {} more", empty.len() - SHOWN));
    }
    let what = if empty.len() == 1 {
        format!("class {} has no sample", listed[0])
    } else {
        format!("classes {} have no sample", listed.join(", "))
    };
    Some(format!(
        "labels run {lo}..{hi}: {what} (integer labels are 0-based class indices, so {k} classes; \
         renumber from 0 or give a classes.txt / ClassLabel names if this is not meant)"
    ))
}

fn resolve_with_list(records: &[RawRecord], names: Vec<String>) -> anyhow::Result<(Vec<String>, Vec<u32>)> {
    let k = names.len();
    let mut labels = Vec::with_capacity(records.len());
    for r in records {
        let raw = r.label.trim();
        let index = match names.iter().position(|n| n == raw) {
            Some(i) => i,
            None => {
                let i: i64 = raw.parse().with_context(|| {
                    format!("{}: label {raw:?} is neither one of the {k} class names nor an index", r.origin)
                })?;
                anyhow::ensure!(
                    (0..k as i64).contains(&i),
                    "{}: label {i} out of range: expected 0..={} ({k} classes)",
                    r.origin,
                    k as i64 - 1
                );
                i as usize
            }
        };
        labels.push(index as u32);
    }
    Ok((names, labels))
}

fn resolve_integers(records: &[RawRecord], ints: &[i64]) -> anyhow::Result<(Vec<String>, Vec<u32>)> {
    for (r, &i) in records.iter().zip(ints) {
        anyhow::ensure!(i >= 0, "{}: label {i} out of range: class indices start at 0", r.origin);
        anyhow::ensure!(
            i < MAX_CLASSES,
            "{}: label {i} out of range: more than {MAX_CLASSES} classes; give a classes.txt",
            r.origin
        );
    }
    let k = ints.iter().copied().max().map_or(0, |m| m + 1);
    let names = (0..k).map(|i| i.to_string()).collect();
    Ok((names, ints.iter().map(|&i| i as u32).collect()))
}

fn resolve_names(records: &[RawRecord]) -> (Vec<String>, Vec<u32>) {
    let mut index: BTreeMap<&str, u32> = records.iter().map(|r| (r.label.trim(), 0)).collect();
    for (i, v) in index.values_mut().enumerate() {
        *v = i as u32;
    }
    let labels = records.iter().map(|r| index[r.label.trim()]).collect();
    (index.keys().map(|k| k.to_string()).collect(), labels)
}
