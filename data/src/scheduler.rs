//! Splitting work into `k/n` shares, and `auto`: taking `k/n` from a cluster scheduler's job
//! array. `marnet-extract run --shard` and `marnet-heads sweep --worker` both parse
//! their flag into a [`ShareSpec`] and resolve it here, so the two agree on every variable.
//!
//! - Slurm job arrays (`sbatch --array=0-3`, see `sbatch(1)`, "OUTPUT ENVIRONMENT VARIABLES"):
//!   `SLURM_ARRAY_TASK_ID` with `SLURM_ARRAY_TASK_COUNT`, or with `SLURM_ARRAY_TASK_MIN` /
//!   `SLURM_ARRAY_TASK_MAX` (and `SLURM_ARRAY_TASK_STEP` for `--array=0-6:2`). Share
//!   `k = (ID - MIN) / STEP` of `n = COUNT`; the array must be one evenly spaced range.
//! - Kubernetes Indexed Jobs (`completionMode: Indexed`): `JOB_COMPLETION_INDEX` is set by
//!   Kubernetes; the count is not, so the Job must set [`K8S_COUNT_VAR`] to its `completions`.
//!
//! The environment is passed in as a map, so tests never touch the process environment.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use anyhow::{bail, ensure, Context, Result};

/// The variable a Kubernetes Indexed Job sets to its `completions` (Kubernetes itself only sets
/// `JOB_COMPLETION_INDEX`).
pub const K8S_COUNT_VAR: &str = "MARNET_TASK_COUNT";

/// Share `index` of `count` (`k/n`): the items `i` with `i % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// 0-based share index k (< count).
    pub index: usize,
    /// Number of shares n (≥ 1).
    pub count: usize,
}

impl Share {
    /// The single share owning everything (`0/1`).
    pub const ALL: Share = Share { index: 0, count: 1 };

    /// Builds `index/count`.
    ///
    /// # Errors
    /// `count` is 0 or `index >= count`.
    pub fn new(index: usize, count: usize) -> Result<Share> {
        ensure!(count >= 1 && index < count, "share {index}/{count}: expected 0 <= k < n");
        Ok(Share { index, count })
    }

    /// Whether item `item` (a part index, a run number) belongs to this share.
    pub fn owns(self, item: usize) -> bool {
        item % self.count == self.index
    }
}

impl Default for Share {
    /// `0/1`: everything.
    fn default() -> Self {
        Share::ALL
    }
}

impl fmt::Display for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Share {
    type Err = anyhow::Error;
    /// Parses `k/n` with integers `0 <= k < n`.
    fn from_str(s: &str) -> Result<Share> {
        let (k, n) = s.split_once('/').with_context(|| format!("{s:?}: expected k/n, e.g. 0/2, or auto"))?;
        let index: usize = k.trim().parse().with_context(|| format!("{s:?}: k is not a non-negative integer"))?;
        let count: usize = n.trim().parse().with_context(|| format!("{s:?}: n is not a positive integer"))?;
        ensure!(count >= 1 && index < count, "{s:?}: expected 0 <= k < n");
        Ok(Share { index, count })
    }
}

/// A `--shard` / `--worker` value: a fixed `k/n`, or `auto` (from the scheduler environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareSpec {
    /// `k/n` as given.
    Fixed(Share),
    /// `auto`: resolved by [`share_from_env`].
    Auto,
}

impl FromStr for ShareSpec {
    type Err = anyhow::Error;
    /// `auto` (any ASCII case) or `k/n`.
    fn from_str(s: &str) -> Result<ShareSpec> {
        if s.trim().eq_ignore_ascii_case("auto") {
            Ok(ShareSpec::Auto)
        } else {
            s.parse().map(ShareSpec::Fixed)
        }
    }
}

/// A resolved share and where it came from (for the log of a cluster task).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedShare {
    /// The share.
    pub share: Share,
    /// `None` for a fixed `k/n`; else the variables it was read from, e.g.
    /// `SLURM_ARRAY_TASK_ID=3, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_COUNT=4`.
    pub source: Option<String>,
}

impl ShareSpec {
    /// The share, reading `env` for `auto`.
    ///
    /// # Errors
    /// As [`share_from_env`].
    pub fn resolve(self, env: &HashMap<String, String>) -> Result<ResolvedShare> {
        match self {
            ShareSpec::Fixed(share) => Ok(ResolvedShare { share, source: None }),
            ShareSpec::Auto => share_from_env(env),
        }
    }

    /// [`ShareSpec::resolve`] on this process's environment.
    ///
    /// # Errors
    /// As [`share_from_env`].
    pub fn resolve_from_process_env(self) -> Result<ResolvedShare> {
        self.resolve(&std::env::vars().collect())
    }
}

/// The share of this task of a Slurm job array (tried first) or a Kubernetes Indexed Job.
///
/// # Errors
/// Neither `SLURM_ARRAY_TASK_ID` nor `JOB_COMPLETION_INDEX` is set (not an array task); a
/// variable is not an integer (named with its value); a Slurm array that is not one evenly
/// spaced range (e.g. `--array=0,3,7`), or whose count is not given; `JOB_COMPLETION_INDEX`
/// without [`K8S_COUNT_VAR`], or an index outside `0..count`.
pub fn share_from_env(env: &HashMap<String, String>) -> Result<ResolvedShare> {
    if env.contains_key("SLURM_ARRAY_TASK_ID") {
        return slurm_share(env);
    }
    if env.contains_key("JOB_COMPLETION_INDEX") {
        let index = int(env, "JOB_COMPLETION_INDEX")?;
        let count = env.get(K8S_COUNT_VAR).with_context(|| {
            format!("JOB_COMPLETION_INDEX is set but {K8S_COUNT_VAR} is not: set it in the Job to spec.completions")
        })?;
        let count = parse_int(K8S_COUNT_VAR, count)?;
        let share = Share::new(index, count)
            .with_context(|| format!("JOB_COMPLETION_INDEX={index} is not below {K8S_COUNT_VAR}={count}"))?;
        return Ok(ResolvedShare {
            share,
            source: Some(format!("JOB_COMPLETION_INDEX={index}, {K8S_COUNT_VAR}={count}")),
        });
    }
    bail!(
        "`auto` needs a job array task: SLURM_ARRAY_TASK_ID (sbatch --array=0-N) or JOB_COMPLETION_INDEX \
         with {K8S_COUNT_VAR} (a Kubernetes Indexed Job), and neither is set; give k/n instead"
    )
}

/// Slurm: `k = (ID - MIN) / STEP`, `n = COUNT` (or `(MAX - MIN) / STEP + 1`), cross-checked.
fn slurm_share(env: &HashMap<String, String>) -> Result<ResolvedShare> {
    let id = int(env, "SLURM_ARRAY_TASK_ID")?;
    let opt = |name: &str| env.get(name).map(|v| parse_int(name, v)).transpose();
    let (min, max, count) =
        (opt("SLURM_ARRAY_TASK_MIN")?, opt("SLURM_ARRAY_TASK_MAX")?, opt("SLURM_ARRAY_TASK_COUNT")?);
    let step = opt("SLURM_ARRAY_TASK_STEP")?.unwrap_or(1);
    ensure!(step >= 1, "SLURM_ARRAY_TASK_STEP=0: expected at least 1");
    let min = min.unwrap_or(0);
    ensure!(id >= min, "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}");
    let offset = id - min;
    ensure!(offset % step == 0, "SLURM_ARRAY_TASK_ID={id} is not on the array's step {step} from {min}");
    let from_range = max.map(|max| if max >= min { (max - min) / step + 1 } else { 0 });
    let count = match (count, from_range) {
        (Some(c), Some(r)) => {
            ensure!(
                c == r,
                "the Slurm array is not one evenly spaced range (SLURM_ARRAY_TASK_COUNT={c}, but MIN..MAX \
                 by step {step} holds {r} tasks): submit --array=0-{} so that task k extracts share k",
                c.saturating_sub(1)
            );
            c
        }
        (Some(c), None) => c,
        (None, Some(r)) => r,
        (None, None) => bail!(
            "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is: cannot tell n"
        ),
    };
    let index = offset / step;
    let share = Share::new(index, count)
        .with_context(|| format!("SLURM_ARRAY_TASK_ID={id} gives share {index} of an array of {count} tasks"))?;
    let source = format!("SLURM_ARRAY_TASK_ID={id}, SLURM_ARRAY_TASK_MIN={min}, {count} tasks");
    Ok(ResolvedShare { share, source: Some(source) })
}

fn int(env: &HashMap<String, String>, name: &str) -> Result<usize> {
    parse_int(name, env.get(name).map_or("", String::as_str))
}

fn parse_int(name: &str, value: &str) -> Result<usize> {
    value.trim().parse().with_context(|| format!("{name}={value:?}: expected a non-negative integer"))
}
