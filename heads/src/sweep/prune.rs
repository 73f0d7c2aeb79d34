//! The pruning rules of `[prune]` as pure functions of one run's report and the values other
//! runs recorded at the same epoch (read from the study journal, [`super::journal`]).
//!
//! - ASHA (asynchronous successive halving; Li et al. 2020, "A System for Massively Parallel
//!   Hyperparameter Tuning"): rungs at `r_k = min_epochs · η^k` epochs below the planned
//!   epochs. A run reaching a rung continues only if its val top-1 is among the top
//!   `max(1, ⌊n / η⌋)` of the `n` values recorded at that rung so far, its own included (the
//!   promotion rule of Optuna's `SuccessiveHalvingPruner`; the first run at a rung always goes
//!   on). Nothing waits for a rung to fill: that is what makes it asynchronous.
//! - Median (Optuna's `MedianPruner`, Golovin et al. 2017 "Google Vizier"): from
//!   `warmup_epochs` on, a run whose val top-1 is below the median of the values other runs
//!   recorded at the same epoch is stopped.
//!
//! Ties continue. The last planned epoch is never a check point (the run is then complete).

use super::search_spec::PruneSpec;

/// What a rule says about one epoch of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not a rung (ASHA) or before the warmup (median): nothing compared.
    NotARung,
    /// Compared at a rung and goes on.
    Continue,
    /// Compared at a rung and stopped.
    Prune,
}

/// ASHA rungs `min_epochs · η^k` (k = 0, 1, ...) strictly below `planned` epochs.
pub fn asha_rungs(min_epochs: usize, eta: usize, planned: usize) -> Vec<usize> {
    let mut rungs = Vec::new();
    let mut r = min_epochs.max(1);
    while r < planned {
        rungs.push(r);
        r = match r.checked_mul(eta.max(2)) {
            Some(next) => next,
            None => break,
        };
    }
    rungs
}

/// Whether `value` is among the top `max(1, ⌊n / η⌋)` of `others` plus itself (`n` values).
pub fn asha_promotes(value: f64, others: &[f64], eta: usize) -> bool {
    let mut all: Vec<f64> = others.iter().copied().filter(|v| v.is_finite()).collect();
    all.push(value);
    all.sort_by(|a, b| b.total_cmp(a));
    let keep = (all.len() / eta.max(2)).max(1);
    value >= all[keep - 1]
}

/// Median of `xs` (mean of the two middle values for an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) })
}

/// Applies `rule` to a run at 1-based `epoch` of `planned` with val top-1 `value`, given the
/// values `others` that other runs recorded at the same epoch.
pub fn check(rule: &PruneSpec, epoch: usize, planned: usize, value: f64, others: &[f64]) -> Check {
    if epoch >= planned {
        return Check::NotARung;
    }
    let keep = match *rule {
        PruneSpec::Asha { min_epochs, reduction_factor } => {
            if !asha_rungs(min_epochs, reduction_factor, planned).contains(&epoch) {
                return Check::NotARung;
            }
            asha_promotes(value, others, reduction_factor)
        }
        PruneSpec::Median { warmup_epochs } => {
            if epoch < warmup_epochs {
                return Check::NotARung;
            }
            median(others).is_none_or(|m| value >= m)
        }
    };
    if keep {
        Check::Continue
    } else {
        Check::Prune
    }
}
