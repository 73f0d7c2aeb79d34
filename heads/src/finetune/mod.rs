//! End-to-end fine-tuning (DESIGN §1, "finetune: the same graph with the backbone trainable"):
//! the EMA / CDR / fusion heads of stage two trained jointly with the image encoder of stage
//! one, images going through the backbone at every step.
//!
//! - [`options`]: the flags and the resume fingerprint;
//! - [`trainable_vb`], [`freeze`], [`image_backbone`], [`text_backbone`]: the `marnet_extract`
//!   encoders built with trainable `Var`s under their HF tensor names, first N blocks frozen;
//! - [`rows`], [`augment`], [`pixels`]: dataset rows, splits, frozen `x_s`, augmented batches;
//! - [`heads_model`]: the heads and their loss (`L_EMA + L_CDR + CE(fusion)`), reusing
//!   `ema`, `cdr`, `denoiser`, `fusion`, `sampler`;
//! - [`step`]: one deterministic step, gradients accumulated over micro-batches, then one update
//!   of [`crate::optim::AdamW`] (two groups: backbone and heads learning rates; savable state);
//! - [`checkpoint`], [`run`], [`evaluate`], [`outputs`], [`export`]: resumable loop,
//!   best-by-val checkpoint, run folder, HF export of the backbone.

pub mod augment;
pub mod checkpoint;
pub mod evaluate;
pub mod export;
pub mod freeze;
pub mod heads_model;
pub mod image_backbone;
pub mod nets;
pub mod options;
pub mod outputs;
pub mod pixels;
pub mod rows;
pub mod run;
pub mod session;
pub mod step;
pub mod text_backbone;
pub mod trainable_vb;

pub use options::FinetuneOptions;
pub use outputs::FinetuneOutcome;
pub use run::{run_finetune, run_session};
pub use session::Session;
