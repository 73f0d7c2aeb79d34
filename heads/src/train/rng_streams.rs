//! The RNG streams of stage two, in one place: every random draw takes a
//! [`HostRng::new(seed, stream)`](crate::nn::rng::HostRng::new) with one of these numbers, so two
//! uses never share a stream by accident and a seed reproduces a run draw for draw (DESIGN §2
//! "Training": one seed for init, shuffling, noise and sampling).
//!
//! The numbers are part of the saved results: changing one changes every `metrics.json` and
//! `predictions.parquet` of that seed. [`SAMPLE`] is also a contract between training, `predict`
//! and `finetune`: each draws the test-time `x̂_s^0` chains from a fresh `HostRng::new(seed,
//! SAMPLE)`, so `predict` reproduces the logits a run recorded.

/// Parameter initialisation of a mode's heads (`ParamBuilder`); fold `j` of cross-fitting uses
/// `INIT + fold_offset(j)`.
pub const INIT: u64 = 1;
/// Mini-batch order of phase 1 (and of the one-phase modes); `+ fold_offset(j)` per fold.
pub const SHUFFLE: u64 = 2;
/// Dropout masks and the condition dropout of training steps.
pub const DROPOUT: u64 = 3;
/// Diffusion noise and timesteps `q_sample` draws in phase-1 steps; `+ fold_offset(j)` per fold.
pub const NOISE: u64 = 4;
/// Fixed noise of the phase-1 val loss (`phase1_select = "val_loss"`), fresh every epoch so each
/// epoch is scored on the same draws.
pub const VAL_NOISE: u64 = 5;
/// Sampling chains of `x̂_s^0` at evaluation (train, val and test rows); shared with `predict`
/// and `finetune` (see the module docs).
pub const SAMPLE: u64 = 6;
/// The assignment of train rows to cross-fitting folds.
pub const FOLDS: u64 = 7;
/// Mini-batch order of phase 2.
pub const PHASE2_SHUFFLE: u64 = 8;
/// Evaluation passes that take an RNG but draw nothing from it (dropout off).
pub const EVAL: u64 = 0;
/// Random projection directions of SWD (mode `swd`).
pub const SWD_PROJECTIONS: u64 = 21;
/// Init, shuffle and dropout of the distillation teacher (mode `distill`); the student uses
/// [`INIT`], [`SHUFFLE`], [`DROPOUT`].
pub const TEACHER: [u64; 3] = [31, 32, 33];
/// The stratified val split carved from train when the cache has none.
pub const VAL_SPLIT: u64 = 0x5EED_511D;

/// Offset of the streams of cross-fitting fold `j` (0-based): `100·(j + 1)`, far above every
/// stream of the main model.
pub fn fold_offset(j: usize) -> u64 {
    100 * (j as u64 + 1)
}
