//! Aggregation of sweep records (pure functions): trials grouped over seeds with mean ± sample
//! standard deviation, the keys that actually vary, and the most influential key (the largest
//! spread between the mean val top-1 of its values).

use std::collections::{BTreeMap, BTreeSet};

use super::record::{PrunedAt, TrialRecord};
use super::value::Value;

/// Mean and sample standard deviation (n − 1 in the denominator; 0 for a single value).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    /// Of `values` (empty: NaN mean, 0 std).
    pub fn of(values: &[f64]) -> Self {
        let n = values.len() as f64;
        if values.is_empty() {
            return Self { mean: f64::NAN, std: 0.0 };
        }
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        Self { mean, std }
    }
}

/// One trial (mode + overrides) over all its recorded seeds. Accuracies in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialGroup {
    pub mode: String,
    pub trial: usize,
    pub overrides: BTreeMap<String, Value>,
    pub seeds: Vec<u64>,
    pub val_top1: MeanStd,
    pub val_top5: MeanStd,
    pub test_top1: MeanStd,
    pub test_top5: MeanStd,
    /// Mean wall-clock seconds per run.
    pub seconds: f64,
    /// `(seed, val top-1)` of every run (for paired comparisons).
    pub per_seed_val: Vec<(u64, f64)>,
    /// `(seed, test top-1)` of every run.
    pub per_seed_test: Vec<(u64, f64)>,
    /// Where a `[prune]` rule stopped the trial (its first pruned run), if it did.
    pub pruned: Option<PrunedAt>,
    /// The highest rung any of its runs was compared at.
    pub rung: Option<usize>,
    /// Rung-phase epochs its runs trained, summed (`None` outside `[search]` studies).
    pub epochs_used: Option<usize>,
    /// Rung-phase epochs of one unpruned run of the trial (the largest planned).
    pub epochs_planned: Option<usize>,
}

/// Groups records by (mode, overrides) and ranks the groups by mean val top-1, best first (ties:
/// lower trial index first).
pub fn group_trials(records: &[TrialRecord]) -> Vec<TrialGroup> {
    let mut groups: BTreeMap<(String, String), Vec<&TrialRecord>> = BTreeMap::new();
    for r in records {
        let key = serde_json::to_string(&r.overrides).unwrap_or_default();
        groups.entry((r.mode.clone(), key)).or_default().push(r);
    }
    let mut out: Vec<TrialGroup> = groups
        .into_values()
        .map(|rs| {
            let col = |f: fn(&TrialRecord) -> f64| MeanStd::of(&rs.iter().map(|r| f(r)).collect::<Vec<_>>());
            TrialGroup {
                mode: rs[0].mode.clone(),
                trial: rs.iter().map(|r| r.trial).min().unwrap_or(0),
                overrides: rs[0].overrides.clone(),
                seeds: rs.iter().map(|r| r.seed).collect(),
                val_top1: col(|r| r.metrics.val_top1),
                val_top5: col(|r| r.metrics.val_top5),
                test_top1: col(|r| r.metrics.test_top1),
                test_top5: col(|r| r.metrics.test_top5),
                seconds: col(|r| r.seconds).mean,
                per_seed_val: rs.iter().map(|r| (r.seed, r.metrics.val_top1)).collect(),
                per_seed_test: rs.iter().map(|r| (r.seed, r.metrics.test_top1)).collect(),
                pruned: rs.iter().find_map(|r| r.pruned),
                rung: rs.iter().filter_map(|r| r.rung).max(),
                epochs_used: rs.iter().map(|r| r.epochs_used).sum(),
                epochs_planned: rs.iter().filter_map(|r| r.epochs_planned).max(),
            }
        })
        .collect();
    // Complete trials first: a pruned trial never wins, whatever its value at its last rung.
    out.sort_by(|a, b| {
        a.pruned
            .is_some()
            .cmp(&b.pruned.is_some())
            .then(b.val_top1.mean.total_cmp(&a.val_top1.mean))
            .then(a.trial.cmp(&b.trial))
            .then(a.mode.cmp(&b.mode))
    });
    out
}

/// A study's cost in rung-phase trial-epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StudyCost {
    /// Epochs the runs trained.
    pub spent: usize,
    /// What the same trials would have cost run to their planned epochs with every seed.
    pub unpruned: usize,
}

/// The study's [`StudyCost`] (`seeds`: the most seeds any trial has). `None` when no record
/// follows epochs.
pub fn study_cost(groups: &[TrialGroup]) -> Option<StudyCost> {
    let seeds = groups.iter().map(|g| g.seeds.len()).max().unwrap_or(1);
    let tracked: Vec<&TrialGroup> = groups.iter().filter(|g| g.epochs_used.is_some()).collect();
    if tracked.is_empty() {
        return None;
    }
    let spent = tracked.iter().filter_map(|g| g.epochs_used).sum();
    let unpruned = tracked
        .iter()
        .map(|g| match g.pruned {
            Some(_) => g.epochs_planned.unwrap_or(0) * seeds,
            None => g.epochs_used.unwrap_or(0),
        })
        .sum();
    Some(StudyCost { spent, unpruned })
}

/// Every override key seen in `records`, split into (swept: more than one distinct value or
/// missing from some records, fixed: one value everywhere).
pub fn classify_keys(records: &[TrialRecord]) -> (Vec<String>, BTreeMap<String, Value>) {
    let all: BTreeSet<&String> = records.iter().flat_map(|r| r.overrides.keys()).collect();
    let mut swept = Vec::new();
    let mut fixed = BTreeMap::new();
    for k in all {
        let values: BTreeSet<Option<String>> =
            records.iter().map(|r| r.overrides.get(k).map(|v| v.to_string())).collect();
        if values.len() > 1 {
            swept.push(k.clone());
        } else if let Some(v) = records.iter().find_map(|r| r.overrides.get(k)) {
            fixed.insert(k.clone(), v.clone());
        }
    }
    (swept, fixed)
}

/// The runs' val top-1 grouped by the value of `key`: `(value label, val top-1 of each run)`,
/// ordered numerically when every value is a number, else by label; runs without the key form
/// the group "(default)".
pub fn val_top1_by_value(records: &[TrialRecord], key: &str) -> Vec<(String, Vec<f64>)> {
    let mut groups: Vec<(Option<Value>, Vec<f64>)> = Vec::new();
    for r in records {
        let v = r.overrides.get(key).cloned();
        let label = v.as_ref().map(|v| v.to_string());
        match groups.iter_mut().find(|(g, _)| g.as_ref().map(|g| g.to_string()) == label) {
            Some((_, xs)) => xs.push(r.metrics.val_top1),
            None => groups.push((v, vec![r.metrics.val_top1])),
        }
    }
    let numeric = groups.iter().all(|(v, _)| v.as_ref().is_some_and(|v| v.as_f64().is_some()));
    if numeric {
        groups.sort_by(|a, b| {
            let f = |v: &Option<Value>| v.as_ref().and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
            f(&a.0).total_cmp(&f(&b.0))
        });
    } else {
        groups.sort_by_key(|(v, _)| v.as_ref().map(|v| v.to_string()));
    }
    groups.into_iter().map(|(v, xs)| (v.map(|v| v.to_string()).unwrap_or_else(|| "(default)".into()), xs)).collect()
}

/// A swept key and how far apart its values' mean val top-1 lie.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfluence {
    pub key: String,
    /// Max − min of the mean val top-1 per value (percent points).
    pub spread: f64,
}

/// Among `keys`, the one whose values' mean val top-1 differ the most. Ties go to the first key
/// in `keys`; `None` when `keys` is empty.
pub fn most_influential_key(records: &[TrialRecord], keys: &[String]) -> Option<KeyInfluence> {
    let mut best: Option<KeyInfluence> = None;
    for k in keys {
        let means: Vec<f64> = val_top1_by_value(records, k)
            .iter()
            .map(|(_, xs)| MeanStd::of(xs).mean)
            .filter(|m| m.is_finite())
            .collect();
        let spread = means.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - means.iter().cloned().fold(f64::INFINITY, f64::min);
        let spread = if spread.is_finite() { spread } else { 0.0 };
        if best.as_ref().is_none_or(|b| spread > b.spread) {
            best = Some(KeyInfluence { key: k.clone(), spread });
        }
    }
    best
}
