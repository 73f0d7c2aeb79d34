//! Part layout and sharding of one extraction (DESIGN.md sections 3 and 7).
//!
//! The dataset's samples (in reader order, after `--limit`) are cut into parts of a fixed
//! number of rows (`--rows-per-part`), independent of the batch size, so part boundaries are
//! the same in every run; `--shard k/n` owns the parts `i` with `i % n == k`. The layout is
//! recorded in `DIR/.extract_plan.json` so that a rerun with another layout is refused instead
//! of mixing rows of two layouts under the same part names.

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::Path;

/// File holding the [`Plan`] of a cache folder (hidden, so dataframe readers skip it).
pub use marnet_data::cache::sidecars::PLAN_FILE;

/// `--shard k/n`: this process extracts the parts `i` with `i % n == k` (`--shard auto` takes
/// `k/n` from a Slurm job array or a Kubernetes Indexed Job: [`marnet_data::scheduler`]).
pub use marnet_data::scheduler::Share as Shard;

/// How the rows of a cache are laid out in parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Samples extracted (the dataset's, or `--limit`'s, count), bad images included.
    pub n_samples: usize,
    /// Rows per part (the last part may hold fewer).
    pub rows_per_part: usize,
    /// Number of parts: `ceil(n_samples / rows_per_part)`, at least 1.
    pub total_parts: usize,
}

impl Plan {
    /// Lays out `n_samples` rows in parts of `rows_per_part`. An empty dataset is an error.
    pub fn new(n_samples: usize, rows_per_part: usize) -> Result<Plan> {
        ensure!(rows_per_part >= 1, "--rows-per-part must be at least 1");
        ensure!(n_samples >= 1, "the dataset has no samples to extract");
        Ok(Plan { n_samples, rows_per_part, total_parts: n_samples.div_ceil(rows_per_part) })
    }

    /// Sample index range of part `part` (< `total_parts`).
    pub fn part_range(&self, part: usize) -> Range<usize> {
        let start = part * self.rows_per_part;
        start..(start + self.rows_per_part).min(self.n_samples)
    }

    /// Writes `dir/.extract_plan.json`, or checks that the one there equals `self`.
    ///
    /// # Errors
    /// The folder already holds a cache laid out otherwise (other sample count or rows per
    /// part); the file cannot be read, parsed or written.
    pub fn record_or_check(&self, dir: &Path) -> Result<()> {
        let path = dir.join(PLAN_FILE);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let theirs: Plan = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            if &theirs != self {
                bail!(
                    "{} was laid out for {} samples in parts of {} rows, this run has {} samples in parts of {}; \
                     rerun with the same --limit and --rows-per-part, or use another --out",
                    path.display(),
                    theirs.n_samples,
                    theirs.rows_per_part,
                    self.n_samples,
                    self.rows_per_part
                );
            }
            return Ok(());
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(".{PLAN_FILE}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_samples_in_order() {
        // 10 samples in parts of 4: [0,4) [4,8) [8,10).
        let p = Plan::new(10, 4).unwrap();
        assert_eq!(p.total_parts, 3);
        assert_eq!((p.part_range(0), p.part_range(1), p.part_range(2)), (0..4, 4..8, 8..10));
        assert_eq!(Plan::new(8, 4).unwrap().total_parts, 2);
        assert!(Plan::new(0, 4).is_err());
        assert!(Plan::new(3, 0).is_err());
    }

    #[test]
    fn plan_file_refuses_other_layout() {
        let dir = tempfile::tempdir().unwrap();
        Plan::new(10, 4).unwrap().record_or_check(dir.path()).unwrap();
        Plan::new(10, 4).unwrap().record_or_check(dir.path()).unwrap();
        let err = Plan::new(10, 5).unwrap().record_or_check(dir.path()).unwrap_err();
        assert!(err.to_string().contains("parts of 4 rows"), "{err}");
    }
}
