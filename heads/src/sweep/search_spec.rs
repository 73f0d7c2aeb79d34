//! The `[search]` and `[prune]` sections of a sweep file: a sampler that learns from finished
//! trials, and early stopping of trials whose val top-1 falls behind.
//!
//! ```toml
//! [search]
//! sampler = "tpe"        # or "random"
//! trials = 48
//! seed = 0
//! startup_trials = 10    # TPE draws at random until this many trials have finished
//! lr = { min = 1e-4, max = 1e-2, scale = "log" }   # the space, written as in [random]
//! d = { choices = [128, 256, 512] }
//! [prune]
//! rule = "asha"          # rungs at min_epochs·ηᵏ epochs
//! min_epochs = 1
//! reduction_factor = 3   # η
//! # rule = "median"; warmup_epochs = 3
//! ```

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use super::engine::SweepConfig;
use super::spec::{parse_distribution, Distribution, SweepSpec};

/// Which sampler proposes the next trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SamplerKind {
    /// Tree-structured Parzen estimator (the `optimizer` crate's `TpeSampler`).
    Tpe,
    /// Independent uniform draws (the `optimizer` crate's `RandomSampler`).
    Random,
}

/// The `[search]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpec {
    pub sampler: SamplerKind,
    /// Trials of the whole study (all workers together).
    pub trials: usize,
    /// Seed of the sampler; trial `i` draws from a stream derived from `(seed, i)`.
    pub seed: u64,
    /// TPE samples at random until this many trials have finished (default 10, Optuna's).
    pub startup_trials: usize,
    /// The space: distribution per key, in key order.
    pub params: BTreeMap<String, Distribution>,
}

/// The pruning rule of `[prune]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PruneSpec {
    /// Asynchronous successive halving: rungs at `min_epochs · reduction_factor^k` epochs.
    Asha { min_epochs: usize, reduction_factor: usize },
    /// Stop below the median of the other trials at the same epoch, from `warmup_epochs` on.
    Median { warmup_epochs: usize },
}

/// Parses `[search]`; `origin` names the file in errors.
///
/// # Errors
/// Unknown sampler, `trials` < 1, a negative seed, an empty space, or a bad distribution.
pub fn parse_search(t: &toml::Table, origin: &str) -> Result<SearchSpec> {
    let mut spec =
        SearchSpec { sampler: SamplerKind::Tpe, trials: 0, seed: 0, startup_trials: 10, params: BTreeMap::new() };
    for (k, v) in t {
        let what = format!("{origin}: [search] {k}");
        match (k.as_str(), v) {
            ("sampler", toml::Value::String(s)) if s == "tpe" => spec.sampler = SamplerKind::Tpe,
            ("sampler", toml::Value::String(s)) if s == "random" => spec.sampler = SamplerKind::Random,
            ("sampler", _) => bail!("{what}: expected \"tpe\" or \"random\", found `{v}`"),
            ("trials", toml::Value::Integer(n)) if *n >= 1 => spec.trials = *n as usize,
            ("trials", _) => bail!("{what}: expected an integer ≥ 1, found `{v}`"),
            ("seed", toml::Value::Integer(n)) if *n >= 0 => spec.seed = *n as u64,
            ("seed", _) => bail!("{what}: expected an integer ≥ 0, found `{v}`"),
            ("startup_trials", toml::Value::Integer(n)) if *n >= 0 => spec.startup_trials = *n as usize,
            ("startup_trials", _) => bail!("{what}: expected an integer ≥ 0, found `{v}`"),
            (_, toml::Value::Table(d)) => {
                spec.params.insert(k.clone(), parse_distribution(d, &what)?);
            }
            _ => bail!(
                "{what}: expected sampler, trials, seed, startup_trials, or a key's space \
                 {{ min = .., max = .., scale = \"linear\"|\"log\" }} / {{ choices = [..] }}, found `{v}`"
            ),
        }
    }
    if spec.trials == 0 {
        bail!("{origin}: [search] needs `trials = N`");
    }
    if spec.params.is_empty() {
        bail!("{origin}: [search] names no key to search (e.g. lr = {{ min = 1e-4, max = 1e-2, scale = \"log\" }})");
    }
    Ok(spec)
}

/// Parses `[prune]`; `origin` names the file in errors.
///
/// # Errors
/// A missing or unknown `rule`, a key the rule does not take, `min_epochs` < 1,
/// `reduction_factor` < 2.
pub fn parse_prune(t: &toml::Table, origin: &str) -> Result<PruneSpec> {
    let int = |key: &str, default: Option<usize>, least: i64| -> Result<usize> {
        match t.get(key) {
            Some(toml::Value::Integer(n)) if *n >= least => Ok(*n as usize),
            Some(v) => bail!("{origin}: [prune] {key}: expected an integer ≥ {least}, found `{v}`"),
            None => default.with_context(|| format!("{origin}: [prune] needs `{key}`")),
        }
    };
    let rule = match t.get("rule") {
        Some(toml::Value::String(s)) => s.as_str(),
        Some(v) => bail!("{origin}: [prune] rule: expected \"asha\" or \"median\", found `{v}`"),
        None => bail!("{origin}: [prune] needs `rule = \"asha\"` or `rule = \"median\"`"),
    };
    let allowed: &[&str] = match rule {
        "asha" => &["rule", "min_epochs", "reduction_factor"],
        "median" => &["rule", "warmup_epochs"],
        other => bail!("{origin}: [prune] rule: expected \"asha\" or \"median\", found \"{other}\""),
    };
    if let Some(k) = t.keys().find(|k| !allowed.contains(&k.as_str())) {
        bail!("{origin}: [prune] {k}: not a key of rule \"{rule}\"; expected one of {}", allowed.join(", "));
    }
    Ok(match rule {
        "asha" => PruneSpec::Asha {
            min_epochs: int("min_epochs", Some(1), 1)?,
            reduction_factor: int("reduction_factor", Some(3), 2)?,
        },
        _ => PruneSpec::Median { warmup_epochs: int("warmup_epochs", Some(1), 1)? },
    })
}

/// Checks every value the space can give: each bound of a range and each choice, applied to
/// `base` with `[fixed]`, so that a bad key fails before anything trains.
///
/// # Errors
/// No `[search]`, or the first key value the config rejects.
pub fn validate_space<C: SweepConfig>(spec: &SweepSpec, base: &C) -> Result<()> {
    let search = spec.search.as_ref().context("the sweep file has no [search]")?;
    let fixed = with_overrides(base, &spec.fixed.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<Vec<_>>())
        .context("[fixed]")?;
    for (key, d) in &search.params {
        let values: Vec<String> = match d {
            Distribution::Choices(c) => c.iter().map(|v| v.to_string()).collect(),
            Distribution::Range { min, max, integer: true, .. } => vec![min.to_string(), max.to_string()],
            Distribution::Range { min, max, .. } => vec![format!("{min:?}"), format!("{max:?}")],
        };
        for v in values {
            with_overrides(&fixed, &[(key.clone(), v.clone())])
                .with_context(|| format!("[search] {key}: the value {v} is not valid"))?;
        }
    }
    Ok(())
}

/// `base` with `kv` applied (as `--set key=value`), validated.
///
/// # Errors
/// An unknown key, a value that does not parse, or an invalid config.
pub fn with_overrides<C: SweepConfig>(base: &C, kv: &[(String, String)]) -> Result<C> {
    let mut cfg = base.clone();
    for (k, v) in kv {
        cfg.apply_override(k, v).with_context(|| format!("key `{k}` = `{v}`"))?;
    }
    cfg.validate()?;
    Ok(cfg)
}
