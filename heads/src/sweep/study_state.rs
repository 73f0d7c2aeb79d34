//! The state of a `[search]` study as the journal ([`super::journal`]) tells it, and the claim
//! of the next trial to train.
//!
//! A worker thread claims a trial inside a journal transaction: first an unfinished trial whose
//! claim file `OUT/claims/<trial>.lock` nobody holds (its worker died or was interrupted: the
//! trial is resumed with the same values), else a new trial numbered after the last one, whose
//! values the sampler proposes from every finished trial, unlike those of every proposed trial
//! ([`propose_distinct`]). The claim file stays locked while the
//! trial trains; the operating system releases the lock when its process ends, however it ends.
//! So two workers never train the same trial, and no trial is lost to a crash.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::journal::{Event, Journal, TrialState};
use super::sampler::{propose_distinct, Finished};
use super::search_spec::SearchSpec;
use super::value::Value;

/// How a finished trial ended, from its `done` event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DoneTrial {
    pub state: TrialState,
    pub objective: f64,
}

/// Trials, finished trials and reported values of a study.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudyState {
    /// Searched values of every proposed trial (the first `trial` event of each number).
    pub trials: BTreeMap<usize, BTreeMap<String, Value>>,
    pub done: BTreeMap<usize, DoneTrial>,
    /// `(phase, epoch)` → `(trial, seed)` → val top-1; the last report of a run counts.
    reports: BTreeMap<(u8, usize), BTreeMap<(usize, u64), f64>>,
}

impl StudyState {
    /// Folds the events in journal order.
    pub fn from_events(events: &[Event]) -> Self {
        let mut st = Self::default();
        for e in events {
            match e {
                Event::Trial { trial, params, .. } => {
                    st.trials.entry(*trial).or_insert_with(|| params.clone());
                }
                Event::Report { trial, seed, phase, epoch, val_top1 } => {
                    st.reports.entry((*phase, *epoch)).or_default().insert((*trial, *seed), *val_top1);
                }
                Event::Done { trial, state, objective, .. } => {
                    st.done.insert(*trial, DoneTrial { state: *state, objective: *objective });
                }
            }
        }
        st
    }

    /// Finished trials in trial order, as the sampler sees them.
    pub fn finished(&self) -> Vec<Finished> {
        self.done
            .iter()
            .filter_map(|(t, d)| Some(Finished { params: self.trials.get(t)?.clone(), objective: d.objective }))
            .collect()
    }

    /// Values recorded at `(phase, epoch)` by the runs of `seed` of every trial but `trial`.
    pub fn values_at(&self, phase: u8, epoch: usize, trial: usize, seed: u64) -> Vec<f64> {
        self.reports
            .get(&(phase, epoch))
            .map(|m| m.iter().filter(|((t, s), _)| *t != trial && *s == seed).map(|(_, v)| *v).collect())
            .unwrap_or_default()
    }
}

/// A trial this thread trains; the claim file stays locked until it is dropped.
#[derive(Debug)]
pub struct Claim {
    pub trial: usize,
    /// Searched values (without `[fixed]`).
    pub params: BTreeMap<String, Value>,
    /// True when the trial was proposed earlier and is taken over (resume).
    pub resumed: bool,
    _lock: File,
}

fn claim_path(out: &Path, trial: usize) -> PathBuf {
    out.join("claims").join(format!("{trial}.lock"))
}

/// Locks the claim file of `trial` without waiting: `None` when another worker holds it.
///
/// # Errors
/// The file cannot be created or locking fails for another reason than contention.
pub fn try_claim(out: &Path, trial: usize) -> Result<Option<File>> {
    let path = claim_path(out, trial);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", path.display())),
    }
}

/// Claims the next trial (see the module docs); `None` when every trial is proposed and each
/// unfinished one is held by a worker (or in `skip`: failed in this process).
///
/// # Errors
/// Journal or claim-file errors, or a sampler error.
pub fn claim_next(
    journal: &Journal,
    search: &SearchSpec,
    out: &Path,
    worker: &str,
    skip: &BTreeSet<usize>,
) -> Result<Option<Claim>> {
    journal.transact(|events| {
        let st = StudyState::from_events(events);
        for (t, params) in &st.trials {
            if st.done.contains_key(t) || skip.contains(t) {
                continue;
            }
            if let Some(lock) = try_claim(out, *t)? {
                return Ok((Vec::new(), Some(Claim { trial: *t, params: params.clone(), resumed: true, _lock: lock })));
            }
        }
        let next = st.trials.keys().next_back().map_or(0, |t| t + 1);
        if next >= search.trials {
            return Ok((Vec::new(), None));
        }
        let lock = try_claim(out, next)?
            .with_context(|| format!("the claim file of new trial {next} is held by another process"))?;
        let taken: Vec<&BTreeMap<String, Value>> = st.trials.values().collect();
        let params = propose_distinct(search, next, &st.finished(), &taken)?;
        let event = Event::Trial { trial: next, params: params.clone(), worker: worker.to_string() };
        Ok((vec![event], Some(Claim { trial: next, params, resumed: false, _lock: lock })))
    })
}
