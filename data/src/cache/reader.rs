//! Reading a whole cache folder (DESIGN.md §3): the union of all parts in part order, checked
//! to come from one extraction (same metadata, widths, schema version and part count).

use std::path::Path;

use anyhow::Context;
use ndarray::Array2;

use super::manifest::list_part_files;
use super::part_read::read_part;
use super::{CacheMetadata, FeatureRows};

/// A cache read into memory.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    /// Metadata of the first part (all parts agree on it except `tool_version`).
    pub metadata: CacheMetadata,
    /// All rows, part 0 first; `x_v` (N, D_v), `x_s` (N, D_s) contiguous row-major f32.
    pub rows: FeatureRows,
}

/// Reads every part of the cache in `dir`.
///
/// # Errors
/// No part files; parts of different part counts; missing parts (listed); parts disagreeing on
/// metadata (the differing keys are named); a schema version other than
/// [`super::SCHEMA_VERSION`]; a column of the wrong type or width; NaN/inf features (naming
/// the part, the row id and the column).
pub fn read_cache(dir: &Path) -> anyhow::Result<FeatureCache> {
    let files = list_part_files(dir)?;
    anyhow::ensure!(!files.is_empty(), "no part-NNNNN-of-MMMMM.parquet files in {}", dir.display());
    let total = files[0].2;
    if let Some((path, _, other)) = files.iter().find(|(_, _, t)| *t != total) {
        anyhow::bail!(
            "{} mixes caches of {total} and {other} parts (e.g. {}); refusing to read",
            dir.display(),
            path.display()
        );
    }
    let missing: Vec<String> = (0..total)
        .filter(|i| !files.iter().any(|(_, index, _)| index == i))
        .map(|i| super::schema::part_file_name(i, total))
        .collect();
    anyhow::ensure!(
        missing.is_empty(),
        "cache {} is incomplete: {} of {total} parts missing: {}",
        dir.display(),
        missing.len(),
        missing.join(", ")
    );

    let mut metadata: Option<CacheMetadata> = None;
    let (mut ids, mut splits, mut labels, mut has_text) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut x_v, mut x_s) = (Vec::new(), Vec::new());
    for (path, _, _) in &files {
        let part = read_part(path)?;
        match &metadata {
            None => metadata = Some(part.metadata.clone()),
            Some(first) => {
                if let Some(diff) = first.describe_differences(&part.metadata) {
                    anyhow::bail!(
                        "{} was written with other settings than {} (first vs this: {diff}); refusing to mix caches",
                        path.display(),
                        files[0].0.display()
                    );
                }
            }
        }
        ids.extend(part.ids);
        splits.extend(part.splits);
        labels.extend(part.labels);
        has_text.extend(part.has_text);
        if x_v.is_empty() {
            x_v = part.x_v;
            x_s = part.x_s;
        } else {
            x_v.extend_from_slice(&part.x_v);
            x_s.extend_from_slice(&part.x_s);
        }
    }
    let metadata = metadata.context("no parts read")?;
    let n = ids.len();
    let rows = FeatureRows {
        x_v: Array2::from_shape_vec((n, metadata.d_v), x_v).context("x_v has an inconsistent length")?,
        x_s: Array2::from_shape_vec((n, metadata.d_s), x_s).context("x_s has an inconsistent length")?,
        ids,
        splits,
        labels,
        has_text,
    };
    let k = metadata.class_names.len();
    if let Some(i) = rows.labels.iter().position(|&l| l as usize >= k) {
        anyhow::bail!(
            "cache {}: row {:?} has label {} but only {k} class names",
            dir.display(),
            rows.ids[i],
            rows.labels[i]
        );
    }
    Ok(FeatureCache { metadata, rows })
}
