//! The enumerated values of the config keys (`activation`, `fusion`, `fusion_features`,
//! `phase1_select`, `sampler`; DESIGN §2), as they are written in TOML and `--set` (lower case).
//! Re-exported by [`super::config`]; `schedule` is [`super::schedule::ScheduleKind`].

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::nn::activation::Act;

/// Activation between the denoiser's Linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Silu,
    Relu,
    Gelu,
}

/// How `x_EMA` and `x_CDR` are fused (DESIGN §2, eq. 24 and Counterfactual VQA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionKind {
    /// `Linear(concat(x_EMA, x_CDR))` (2d inputs).
    Concat,
    /// `Linear(x_EMA + x_CDR)`.
    Add,
    /// `Linear(x_EMA ⊙ x_CDR)`.
    Mul,
    /// Logit fusion `log σ(z_a + z_b)`.
    Sum,
    /// Logit fusion `p = σ(z_a)·σ(z_b)`, `log(p / (1 + p))`.
    Hm,
}

/// Which CDR features the phase-2 fusion classifier trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FusionFeatures {
    /// Sampled once from pure noise after phase 1 (what the classifier meets at test time).
    Sampled,
    /// The denoiser's one-step prediction from `x_s^t`, trained jointly in phase 1.
    Onestep,
}

/// Which phase-1 epoch the two-phase modes keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase1Select {
    /// The epoch with the lowest val loss `L_EMA + L_CDR` (fixed noise).
    ValLoss,
    /// The last epoch run, as the independent PyTorch implementation does.
    Last,
}

impl fmt::Display for Phase1Select {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase1Select::ValLoss => "val_loss",
            Phase1Select::Last => "last",
        })
    }
}

/// Reverse-process sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SamplerKind {
    /// Ancestral DDPM, eqs. 21-23, T steps.
    Ddpm,
    /// Deterministic DDIM (η = 0) over `ddim_steps` evenly spaced steps.
    Ddim,
}

macro_rules! display_lowercase {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", format!("{:?}", self).to_lowercase())
            }
        }
    )*};
}
display_lowercase!(Activation, FusionKind, FusionFeatures, SamplerKind);

impl From<Activation> for Act {
    /// The fused kernel of each config activation (GELU = the exact erf form).
    fn from(a: Activation) -> Self {
        match a {
            Activation::Silu => Act::Silu,
            Activation::Relu => Act::Relu,
            Activation::Gelu => Act::GeluErf,
        }
    }
}
