//! marnet-heads: stage two of marnet (DESIGN §2). EMA, CDR diffusion, fusion and classifier heads
//! trained on the feature cache written by `marnet-extract`.
//!
//! Entry points: [`HeadsConfig`] (every hyperparameter), [`Features`] (the cache as tensors) and
//! [`train_mode`] (train and evaluate one ablation of paper table 2). The `marnet-heads` binary
//! ([`cli`]) writes run folders (DESIGN §7).
//!
//! The folders are the architecture of stage two; dependencies point one way, down this list:
//!
//! | folder | holds |
//! |---|---|
//! | [`cli`] | the `marnet-heads` subcommands: `train`, `sweep`, `sweep-report`, `predict`, `finetune` |
//! | [`train`], [`sweep`], [`finetune`], [`predict`] | training loops and the ablations, hyperparameter sweeps, end-to-end fine-tuning, inference on new images |
//! | [`report`] | run folders, `report.md`, plots, t-SNE: reads results, never trains |
//! | [`model`] | the paper's modules: EMA, the DDPM schedule, the CDR denoiser and sampler, fusion, the MLP ablation, the config |
//! | [`optim`] | the one AdamW of training and fine-tuning: parameter groups, decay groups, savable state, the fused CPU kernel, gradient accumulation |
//! | [`nn`] | CPU kernels: the fused Linear op, activations, the math pool, host RNG, parameters |

pub mod cli;
pub mod finetune;
pub mod model;
pub mod nn;
pub mod optim;
pub mod predict;
pub mod report;
pub mod sweep;
pub mod train;

pub use model::config::HeadsConfig;
pub use train::features::Features;
pub use train::{train_mode, train_mode_with, Mode, ModeResult, RunOptions};
