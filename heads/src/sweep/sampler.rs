//! Proposes the overrides of a `[search]` trial from the finished trials, with the samplers of
//! the `optimizer` crate (an Optuna-like library): `TpeSampler` (tree-structured Parzen
//! estimator, Bergstra et al. 2011; random for the first `startup_trials`) or `RandomSampler`.
//!
//! Both samplers are stateless: a draw is a function of `(seed, trial id, distribution,
//! history)`, so the proposal for trial `i` is the same in every process that sees the same
//! finished trials, which is what makes a `--jobs 1` study deterministic and a resumed one
//! identical. The crate finds a parameter in a past trial by its distribution, so two keys with
//! equal ranges (or two choice lists of equal length) would be mixed up; each key is therefore
//! sampled on a history that holds only that key (univariate TPE, as the crate's own).

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Result};
use optimizer::distribution::{CategoricalDistribution, Distribution as OptDist, FloatDistribution, IntDistribution};
use optimizer::param::ParamValue;
use optimizer::parameter::ParamId;
use optimizer::sampler::random::RandomSampler;
use optimizer::sampler::tpe::TpeSampler;
use optimizer::sampler::{CompletedTrial, Sampler};

use super::search_spec::{SamplerKind, SearchSpec};
use super::spec::Distribution;
use super::value::Value;

/// A finished trial as the sampler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// The trial's values of the searched keys.
    pub params: BTreeMap<String, Value>,
    /// Lower is better: minus the mean val top-1 of a complete trial; pruned trials rank after
    /// every complete one ([`pruned_objective`]).
    pub objective: f64,
}

/// Objective of a complete trial with mean val top-1 `val_top1` (percent): `-val_top1`.
pub fn complete_objective(val_top1: f64) -> f64 {
    -val_top1
}

/// Objective of a trial pruned after `epoch` epochs at val top-1 `val_top1`: above every
/// complete trial's (those lie in [-100, 0]), and lower the later and the better it was
/// stopped, as Optuna ranks pruned trials for TPE.
pub fn pruned_objective(epoch: usize, val_top1: f64) -> f64 {
    1e6 - 1e3 * epoch as f64 - val_top1
}

/// The crate's distribution of one key.
fn opt_distribution(d: &Distribution) -> OptDist {
    match d {
        Distribution::Choices(c) => OptDist::Categorical(CategoricalDistribution { n_choices: c.len() }),
        Distribution::Range { min, max, log, integer: true } => {
            OptDist::Int(IntDistribution { low: *min as i64, high: *max as i64, log_scale: *log, step: None })
        }
        Distribution::Range { min, max, log, integer: false } => {
            OptDist::Float(FloatDistribution { low: *min, high: *max, log_scale: *log, step: None })
        }
    }
}

/// A recorded value as the crate's parameter value (`None`: not in the space, e.g. a choice
/// that the file no longer lists).
fn to_param(d: &Distribution, v: &Value) -> Option<ParamValue> {
    match d {
        Distribution::Choices(c) => c.iter().position(|x| x.to_string() == v.to_string()).map(ParamValue::Categorical),
        Distribution::Range { integer: true, .. } => v.as_f64().map(|x| ParamValue::Int(x.round() as i64)),
        Distribution::Range { .. } => v.as_f64().map(ParamValue::Float),
    }
}

fn from_param(d: &Distribution, p: ParamValue, key: &str) -> Result<Value> {
    Ok(match (d, p) {
        (Distribution::Choices(c), ParamValue::Categorical(i)) => {
            c.get(i).cloned().ok_or_else(|| anyhow!("sampler returned choice {i} of {} for `{key}`", c.len()))?
        }
        (Distribution::Range { min, max, .. }, ParamValue::Int(i)) => Value::Int(i.clamp(*min as i64, *max as i64)),
        (Distribution::Range { min, max, .. }, ParamValue::Float(x)) => Value::Float(x.clamp(*min, *max)),
        (_, other) => return Err(anyhow!("sampler returned {other:?} for `{key}`, which does not fit its space")),
    })
}

/// The history of one key: every finished trial that has a value of `key` inside its space.
fn key_history(key: &str, d: &Distribution, dist: &OptDist, history: &[Finished]) -> Vec<CompletedTrial> {
    let id = ParamId::new();
    history
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let p = to_param(d, f.params.get(key)?)?;
            let params = HashMap::from([(id, p)]);
            let dists = HashMap::from([(id, dist.clone())]);
            Some(CompletedTrial::new(i as u64, params, dists, HashMap::new(), f.objective))
        })
        .collect()
}

/// The searched keys' values of trial `trial` (0-based), given the finished trials in trial
/// order. Each key has its own sampler seed (`seed + key index · 2³²`), so keys with equal
/// distributions do not draw equal values.
///
/// # Errors
/// An invalid sampler setting or a draw outside the space (a bug of the crate).
pub fn propose(search: &SearchSpec, trial: usize, history: &[Finished]) -> Result<BTreeMap<String, Value>> {
    propose_attempt(search, trial, 0, history)
}

/// Draws [`propose`] makes for one trial before it accepts a repeat of an earlier trial.
pub const DISTINCT_ATTEMPTS: u64 = 64;

/// [`propose`], drawn again (up to [`DISTINCT_ATTEMPTS`] times, each a different stream of the
/// same seed) while the values equal those of a trial in `taken`. The crate clamps TPE's
/// candidates into a range, so values at a bound (`dropout = 0`, `lr` at its `max`) recur, and
/// the choice keys can then repeat a whole earlier trial, whose records would be reused: the
/// study would train fewer trials than `trials`. The first draw is [`propose`]'s, so a study
/// without repeats proposes what it always did; a space with no unseen point left (only choice
/// keys, all combinations taken) gets the last draw, a repeat.
///
/// # Errors
/// As [`propose`].
pub fn propose_distinct(
    search: &SearchSpec,
    trial: usize,
    history: &[Finished],
    taken: &[&BTreeMap<String, Value>],
) -> Result<BTreeMap<String, Value>> {
    let mut params = propose(search, trial, history)?;
    for attempt in 1..DISTINCT_ATTEMPTS {
        if !taken.contains(&&params) {
            break;
        }
        params = propose_attempt(search, trial, attempt, history)?;
    }
    Ok(params)
}

/// One draw: the sampler's trial id is `trial + attempt · 2³²`, so attempt 0 is [`propose`].
fn propose_attempt(
    search: &SearchSpec,
    trial: usize,
    attempt: u64,
    history: &[Finished],
) -> Result<BTreeMap<String, Value>> {
    let draw_id = trial as u64 + (attempt << 32);
    let mut out = BTreeMap::new();
    for (i, (key, d)) in search.params.iter().enumerate() {
        let seed = search.seed.wrapping_add((i as u64) << 32);
        let dist = opt_distribution(d);
        let hist = key_history(key, d, &dist, history);
        let p = match search.sampler {
            SamplerKind::Random => RandomSampler::with_seed(seed).sample(&dist, draw_id, &hist),
            SamplerKind::Tpe => TpeSampler::builder()
                .n_startup_trials(search.startup_trials)
                .seed(seed)
                .build()
                .map_err(|e| anyhow!("TPE sampler: {e}"))?
                .sample(&dist, draw_id, &hist),
        };
        out.insert(key.clone(), from_param(d, p, key)?);
    }
    Ok(out)
}
