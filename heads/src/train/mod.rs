//! Training and evaluation on the feature cache (DESIGN §2 "Training", "Ablations", "Metrics"):
//!
//! - [`features`]: the cache as device tensors, the split rows and `x_s` standardisation.
//! - [`hook`]: the per-epoch callback that lets a sweep stop (prune) a run.
//! - [`trainer`]: one training phase (AdamW, cosine decay with warmup, early stopping).
//! - [`one_phase`]: `baseline` and `ema`; [`two_phase`]: `mlp`, `cdr`, `fusion` (phase 1
//!   `L_EMA + L_CDR`, phase 2 (`phase2.rs`) the fusion classifier on sampled `x_CDR`);
//!   [`crossfit`]: the out-of-fold phase-2 features of `crossfit_folds`.
//! - [`rng_streams`]: every RNG stream of a run, named (`SAMPLE` shared with predict, finetune).
//! - [`modes`]: [`train_mode`], the entry point for one ablation row of paper table 2.
//! - [`align`]: the table-1 alignment rows `swd`, `ssan`, `cdd`, `sdm`; [`distill`]: `distill`.
//! - [`probe`]: the linear probe on `x_v` (CLIP's protocol, L-BFGS), the yardstick row.
//! - [`result`]: what a mode produces ([`ModeResult`]); [`metrics`]: top-1/top-5, per-class recall.
//!
//! Depends on [`crate::model`] and [`crate::nn`]; reports ([`crate::report`]) read its results.

pub mod align;
pub mod crossfit;
pub mod distill;
pub mod features;
pub mod hook;
pub mod metrics;
pub mod modes;
pub mod one_phase;
mod phase2;
pub mod probe;
pub mod result;
pub mod rng_streams;
pub mod trainer;
pub mod two_phase;

pub use modes::{train_mode, train_mode_with};
pub use result::{
    finish, map_rows, named_weights, probabilities, top1_of, GenQuality, Mode, ModeExtras, ModeResult, RunOptions,
    TestEmbeddings,
};
