//! The MARNet modules of the paper (Zheng et al., ICANN 2024; DESIGN §2), built from [`crate::nn`]:
//!
//! | module | what | paper |
//! |---|---|---|
//! | [`config`], [`choices`] | every hyperparameter ([`config::HeadsConfig`]), model and training keys | DESIGN §2 defaults |
//! | [`ema`] | EMA: the two Linear+LeakyReLU encoders, bidirectional InfoNCE (`L_ITA`) | eqs. 5-13 |
//! | [`schedule`] | DDPM noise schedule: `betas`, `alphas_cumprod`, `posterior_mean_coef1/2` | eqs. 14-16, 21-23 |
//! | [`denoiser`] | the 4-layer MLP `X_θ(x_s^t, t, x_v)` that predicts `x_s^0` | eqs. 17-19 |
//! | [`cdr`] | the CDR training loss (MSE on `x_s^0`) | eq. 20 |
//! | [`sampler`] | reverse process from noise: DDPM, DDIM, K-sample averaging, guidance | eqs. 21-23 |
//! | [`fusion`] | concat, add, mul and the logit fusions `sum`, `hm` | eq. 24, Counterfactual VQA |
//! | [`mlp_head`] | the `mlp` ablation: a 4-layer MLP regressing `x_s` from `x_v` | table 2 |
//! | [`align`] | the alignment losses of table 1: SWD, SSAN, CDD, SDM | table 1 |
//! | [`distill`] | generalized distillation from a text teacher | Lopez-Paz et al. 2016 |
//!
//! Training loops live in [`crate::train`]; this layer holds the forward passes and losses.

pub mod align;
pub mod cdr;
pub mod choices;
pub mod config;
pub mod denoiser;
pub mod distill;
pub mod ema;
pub mod fusion;
pub mod mlp_head;
pub mod sampler;
pub mod schedule;
