//! Hyperparameter sweeps over `HeadsConfig` keys (DESIGN §2: every default is a key a sweep can
//! turn; DESIGN §7: `marnet-heads sweep`).
//!
//! - [`spec`]: the sweep file (`[fixed]`, `[grid]`, `[random]`, `seeds`).
//! - [`expand`]: deterministic trials and runs, and the sha256 that names each run.
//! - [`engine`]: validates every run's config up front, then runs this worker's unfinished runs
//!   in parallel and records each in `OUT/trials/<hash>.json`.
//! - [`summary`], [`output`]: `sweep-report`: results.parquet / results.csv, leaderboard.md, and
//!   a plot of val top-1 against the most influential key.
//!
//! The engine is generic over the config ([`SweepConfig`]) and the trial function
//! (`Fn(&config, seed) -> TrialMetrics`), so it is tested without training anything.

pub mod engine;
pub mod expand;
pub mod output;
pub mod record;
pub mod spec;
pub mod summary;
pub mod value;

pub use engine::{
    prepare_runs, run_sweep, size_elementwise_pool, threads_per_trial, EngineOptions, SweepConfig, SweepOutcome, Worker,
};
pub use expand::{expand_runs, expand_trials, run_hash, RunSpec, Trial};
pub use output::{write_sweep_report, SweepReport};
pub use record::{load_records, TrialMetrics, TrialRecord};
pub use spec::{load_sweep, parse_sweep, Distribution, RandomSpec, SweepSpec};
pub use value::Value;
