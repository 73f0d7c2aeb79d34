//! marnet-data: what both marnet stages share.
//!
//! - Dataset readers (DESIGN.md §4): [`load_dataset`] turns a `KIND:PATH` spec into a [`Dataset`]
//!   of [`Sample`]s (image path, optional text, 0-based label, [`Split`]); [`inspect`] summarises
//!   it as the JSON of DESIGN.md §7 (`marnet-extract inspect`).
//! - The feature cache (DESIGN.md §3): [`cache`] writes and reads the Parquet parts holding the
//!   per-sample embeddings `x_v` (N, D_v) and `x_s` (N, D_s).
//!
//! - [`fast_math`]: the vectorisable `exp` of the CPU kernels of both stages.
//! - [`scheduler`]: `k/n` work shares (`--shard`, `--worker`) and `auto`, read from a Slurm job
//!   array or a Kubernetes Indexed Job.
//!
//! Readers never decode images; they only resolve paths, so a dataset with missing images still
//! loads ([`Dataset::missing_files`], [`Dataset::check_images_exist`]).

pub mod alloc;
pub mod cache;
mod dataset;
pub mod fast_math;
mod fsutil;
mod inspect;
mod kind;
pub mod readers;
mod sample;
pub mod scheduler;
mod split;

pub use dataset::{load_dataset, load_kind, parse_spec, Dataset};
pub use inspect::{inspect, InspectReport, SplitCounts};
pub use kind::DatasetKind;
pub use sample::Sample;
pub use split::Split;
