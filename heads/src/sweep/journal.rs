//! The study journal `OUT/journal.jsonl`: one JSON event per line, appended under an exclusive
//! file lock (std's `File::lock`, `flock(2)` on Linux), so that every worker process sharing the
//! folder (`--worker k/n`, a Slurm or Kubernetes array) sees one study. Each transaction locks,
//! reads every event, decides, appends and unlocks: proposing a trial and numbering it, or
//! recording a rung value and comparing it with the others, are atomic across processes.
//!
//! Events (field `event`):
//! - `trial`: `{"event":"trial","trial":3,"params":{"lr":0.0012,...},"worker":"0/2"}` — trial 3
//!   was proposed with these searched values (the `[fixed]` keys are not repeated).
//! - `report`: `{"event":"report","trial":3,"seed":0,"phase":1,"epoch":3,"val_top1":41.2}` — a
//!   run's val top-1 at a check epoch (only with `[prune]`). A rerun of an interrupted run
//!   appends again; the last report of `(trial, seed, phase, epoch)` counts.
//! - `done`: `{"event":"done","trial":3,"state":"pruned","objective":..,"epoch":3,"val_top1":41.2}`
//!   — the trial is finished (`complete` or `pruned`); its runs' records are in `OUT/trials/`.
//!
//! A last line cut short by a crash is ignored, and removed by the next append; any other
//! unreadable line is an error naming its line number.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::value::Value;

/// How a finished trial ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    Complete,
    Pruned,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Event {
    /// A trial was proposed.
    Trial { trial: usize, params: BTreeMap<String, Value>, worker: String },
    /// A run's val top-1 (percent) at a check epoch of the rung phase.
    Report { trial: usize, seed: u64, phase: u8, epoch: usize, val_top1: f64 },
    /// A trial finished; `objective` is what the sampler minimises ([`super::sampler`]),
    /// `epoch` and `val_top1` the last check of a pruned trial (0 and the mean val top-1 else).
    Done { trial: usize, state: TrialState, objective: f64, epoch: usize, val_top1: f64 },
}

/// The journal of a study folder.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// The journal of the sweep output folder `out` (created on first append).
    pub fn new(out: &Path) -> Self {
        Self { path: out.join("journal.jsonl") }
    }

    /// Path of the journal file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<File> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&self.path)
            .with_context(|| format!("opening the study journal {}", self.path.display()))
    }

    /// Every event, read under the lock.
    ///
    /// # Errors
    /// The file cannot be opened, locked or read, or a line (other than a cut-short last one)
    /// is not an event.
    pub fn read(&self) -> Result<Vec<Event>> {
        self.transact(|events| Ok((Vec::new(), events.to_vec())))
    }

    /// Locks the journal, calls `decide(events)`, appends the events it returns, and unlocks;
    /// returns `decide`'s second value.
    ///
    /// # Errors
    /// As [`Journal::read`], an error of `decide`, or a failed write.
    pub fn transact<T>(&self, decide: impl FnOnce(&[Event]) -> Result<(Vec<Event>, T)>) -> Result<T> {
        let mut file = self.open()?;
        file.lock().with_context(|| format!("locking {}", self.path.display()))?;
        let mut text = String::new();
        file.seek(SeekFrom::Start(0))?;
        file.read_to_string(&mut text).with_context(|| format!("reading {}", self.path.display()))?;
        let events = parse_events(&text, &self.path)?;
        let (new, out) = decide(&events)?;
        if !new.is_empty() {
            if !text.is_empty() && !text.ends_with('\n') {
                // Drop the line a crash cut short, so that it never sits between whole ones.
                let keep = text.rfind('\n').map_or(0, |i| i + 1);
                file.set_len(keep as u64).with_context(|| format!("truncating {}", self.path.display()))?;
            }
            let mut buf = String::new();
            for e in &new {
                buf.push_str(&serde_json::to_string(e).context("serialising a journal event")?);
                buf.push('\n');
            }
            file.write_all(buf.as_bytes()).with_context(|| format!("appending to {}", self.path.display()))?;
            file.flush()?;
        }
        file.unlock().with_context(|| format!("unlocking {}", self.path.display()))?;
        Ok(out)
    }
}

/// Parses journal text; `path` names the file in errors.
///
/// # Errors
/// A line that is not an event, unless it is the last line and has no newline (cut short).
pub fn parse_events(text: &str, path: &Path) -> Result<Vec<Event>> {
    let mut events = Vec::new();
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(e) => events.push(e),
            Err(_) if i + 1 == lines.len() && !complete => {}
            Err(e) => bail!("{}:{}: not a journal event: {e}", path.display(), i + 1),
        }
    }
    Ok(events)
}
