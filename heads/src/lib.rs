//! marnet-heads: stage two of marnet (DESIGN §2). EMA, CDR diffusion, fusion and classifier heads
//! trained on the feature cache written by `marnet-extract`.
//!
//! Entry points: [`HeadsConfig`] (every hyperparameter), [`Features`] (the cache as tensors) and
//! [`train_mode`] (train and evaluate one ablation of paper table 2). The `marnet-heads` binary
//! ([`cli`]) writes run folders (DESIGN §7).

pub mod activation;
pub mod adamw;
pub mod cdr;
pub mod cli;
pub mod config;
pub mod denoiser;
pub mod ema;
pub mod features;
pub mod finetune;
pub mod fusion;
pub mod linear;
pub mod math_pool;
pub mod metrics;
pub mod mlp_head;
pub mod modes;
pub mod params;
pub mod plots;
pub mod predict;
pub mod report;
pub mod rng;
pub mod run_output;
pub mod sampler;
pub mod schedule;
pub mod sweep;
pub mod trainer;
pub mod tsne;
pub mod two_phase;

pub use config::HeadsConfig;
pub use features::Features;
pub use modes::{train_mode, train_mode_with, Mode, ModeResult, RunOptions};
