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
//! Readers never decode images; they only resolve paths (or, for Parquet and tar sources, the
//! row or member holding the bytes, [`ImageSource`]), so a dataset with missing images still
//! loads ([`Dataset::missing_files`], [`Dataset::check_images_exist`]). [`image_bytes`] reads
//! the encoded bytes of samples in order, streaming through shards and row groups.

pub mod alloc;
pub mod cache;
mod dataset;
pub mod fast_math;
mod fsutil;
pub mod image_bytes;
mod inspect;
mod kind;
mod options;
pub mod readers;
mod sample;
pub mod scheduler;
mod source;
mod split;

pub use dataset::{load_dataset, load_dataset_with, load_kind, load_kind_with, parse_spec, Dataset};
pub use inspect::{inspect, inspect_with, InspectReport, SplitCounts};
pub use kind::DatasetKind;
pub use options::DatasetOptions;
pub use sample::Sample;
pub use source::{ImageSource, Location};
pub use split::Split;
