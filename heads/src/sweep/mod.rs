//! Hyperparameter sweeps over `HeadsConfig` keys (DESIGN §2: every default is a key a sweep can
//! turn; DESIGN §7: `marnet-heads sweep`).
//!
//! - [`spec`], [`search_spec`]: the sweep file (`[fixed]`, `[grid]`, `[random]`, `seeds`; or
//!   `[search]` with `[prune]`).
//! - [`expand`]: deterministic trials and runs of `[grid]`/`[random]`, and the sha256 that names
//!   each run.
//! - [`engine`]: validates every run's config up front, then runs this worker's unfinished runs
//!   in parallel and records each in `OUT/trials/<hash>.json`.
//! - [`study`]: a `[search]` study shared by every worker on one folder: [`journal`] (append-only,
//!   file-locked), [`study_state`] (claims), [`sampler`] (TPE / random from the `optimizer`
//!   crate), [`prune`] (ASHA and median rules, fed by the trainer's epoch hook).
//! - [`summary`], [`output`], [`plot`]: `sweep-report`: results.parquet / results.csv,
//!   leaderboard.md, a plot of val top-1 against the most influential key and, for studies, every
//!   trial's val curve against the epochs it used.
//!
//! The engines are generic over the config ([`SweepConfig`]) and the trial function, so they
//! are tested without training anything.

pub mod engine;
pub mod expand;
pub mod journal;
pub mod output;
pub mod plot;
pub mod prune;
pub mod record;
pub mod sampler;
pub mod search_spec;
pub mod spec;
pub mod study;
pub mod study_state;
pub mod summary;
pub mod table;
pub mod value;
mod workers;

pub use engine::{
    prepare_runs, run_sweep, size_elementwise_pool, threads_per_trial, EngineOptions, SweepConfig, SweepOutcome, Worker,
};
pub use expand::{expand_runs, expand_trials, run_hash, RunSpec, Trial};
pub use journal::{Event, Journal, TrialState};
pub use output::{write_sweep_report, SweepReport};
pub use record::{load_records, CurvePoint, PrunedAt, TrialMetrics, TrialRecord};
pub use search_spec::{validate_space, PruneSpec, SamplerKind, SearchSpec};
pub use spec::{load_sweep, parse_sweep, Distribution, RandomSpec, SweepSpec};
pub use study::run_study;
pub use value::Value;
