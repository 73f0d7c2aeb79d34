//! CDR training loss (paper eqs. 17-20, DESIGN §2): forward diffusion of the standardised text
//! feature and `L_CDR = α2·L_CE + γ·L_MSE`.
//!
//! For a batch of rows with text: `t ~ U{1..T}`, `ε ~ N(0, I)`,
//! `x_s^t = sqrt(ᾱ_t)·x_s^0 + sqrt(1-ᾱ_t)·ε`, `x̂_s^0 = X_θ(x_s^t, t, x_v)` (with the null condition
//! in place of `x_v` for a `cond_dropout` fraction of rows), `L_MSE = mean((x̂_s^0 - x_s^0)²)`
//! (eq. 19, averaged over elements), and `L_CE` = cross-entropy of a Linear classifier on
//! `x_CDR = g(E_s x̂_s^0)`.

use crate::model::config::HeadsConfig;
use crate::model::denoiser::Denoiser;
use crate::model::ema::Ema;
use crate::model::schedule::Schedule;
use crate::nn::linear::Linear;
use crate::nn::rng::HostRng;
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::Module;

/// The parts of one CDR training step.
pub struct CdrStep {
    /// `L_CDR = α2·L_CE + γ·L_MSE` (scalar).
    pub loss: Tensor,
    /// `x̂_s^0` (n, d_s): the one-step prediction (used by `fusion_features = "onestep"`).
    pub x0_hat: Tensor,
}

/// Draws `x_s^t` for `x0` (n, d_s): returns `(x_t, t_idx)` with `t_idx = t - 1` (n,) u32.
pub fn q_sample(x0: &Tensor, sched: &Schedule, rng: &mut HostRng) -> Result<(Tensor, Tensor)> {
    let (n, d) = x0.dims2()?;
    let t_idx = Tensor::from_vec(rng.ints(n, 0, sched.timesteps() as u32 - 1), n, x0.device())?;
    let eps = rng.normal(n, d, x0.device())?;
    let a = sched.sqrt_alphas_cumprod.index_select(&t_idx, 0)?.unsqueeze(1)?;
    let b = sched.sqrt_one_minus_alphas_cumprod.index_select(&t_idx, 0)?.unsqueeze(1)?;
    let x_t = (x0.broadcast_mul(&a)? + eps.broadcast_mul(&b)?)?;
    Ok((x_t, t_idx))
}

/// First-layer condition term with classifier-free-guidance dropout: each row uses the null
/// condition with probability `cond_dropout` (n, hidden).
pub fn cond_with_dropout(den: &Denoiser, x_v: &Tensor, p: f64, rng: &mut HostRng) -> Result<Tensor> {
    let c = den.cond(Some(x_v))?;
    if p <= 0.0 {
        return Ok(c);
    }
    let drop = rng.bernoulli_rows(x_v.dim(0)?, p, x_v.device())?;
    let null = den.cond(None)?;
    let keep = (1.0 - &drop)?;
    Ok((c.broadcast_mul(&keep)? + null.broadcast_mul(&drop)?)?)
}

/// `L_CDR` for a batch: `x_v` (n, d_v), standardised `x_s` (n, d_s), `labels` (n,) u32;
/// `cdr_classifier` maps `x_CDR` (n, d) to logits (n, K).
#[allow(clippy::too_many_arguments)]
pub fn cdr_loss(
    den: &Denoiser,
    ema: &Ema,
    cdr_classifier: &Linear,
    sched: &Schedule,
    x_v: &Tensor,
    x_s: &Tensor,
    labels: &Tensor,
    cfg: &HeadsConfig,
    rng: &mut HostRng,
) -> Result<CdrStep> {
    let (x_t, t_idx) = q_sample(x_s, sched, rng)?;
    let cond = cond_with_dropout(den, x_v, cfg.denoiser.cond_dropout, rng)?;
    let x0_hat = den.forward(&x_t, &t_idx, &cond)?;
    let mse = candle_nn::loss::mse(&x0_hat, x_s)?;
    let logits = cdr_classifier.forward(&ema.embed_s(&x0_hat)?)?;
    let ce = candle_nn::loss::cross_entropy(&logits, labels)?;
    let loss = ((ce * cfg.objective.alpha2)? + (mse * cfg.objective.gamma)?)?;
    Ok(CdrStep { loss, x0_hat })
}
