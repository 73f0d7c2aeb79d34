//! EMA: the embedding-alignment module of MARNet (paper eqs. 5-13, DESIGN §2).
//!
//! `x_v' = g(E_v x_v)`, `x_s' = g(E_s x_s)` with `g` = LeakyReLU(0.01); `S_ij = cos(x_v'_i, x_s'_j)`;
//! `L_ITA = CE(S·e^{logit_scale}, I) + CE(Sᵀ·e^{logit_scale}, I)` (InfoNCE in both directions,
//! CLIP-style), each averaged over the batch; `logit_scale = ln(1/τ)` is learnable, initialised
//! from `tau_init` and clamped to `≤ ln(max_inv_tau)`. A Linear classifier on `x_v'` gives `L_CE`;
//! `L_EMA = α1·L_CE + β·L_ITA`.

use crate::model::config::HeadsConfig;
use crate::nn::activation::Act;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use crate::nn::rng::{dropout, HostRng};
use anyhow::Result;
use candle_core::{Tensor, Var, D};
use candle_nn::Module;

/// Slope of `g` for negative inputs.
pub const LEAKY_SLOPE: f32 = crate::nn::activation::LEAKY_SLOPE;
/// Row norms are `sqrt(||x||² + COSINE_EPS²)`: a zero row gives cosine 0 and a finite gradient
/// (the derivative of `sqrt` at 0 would be infinite).
pub const COSINE_EPS: f64 = 1e-8;

/// `g(x)` = LeakyReLU(0.01), elementwise (one fused op on the CPU, see [`crate::nn::activation`]).
pub fn g(x: &Tensor) -> Result<Tensor> {
    Ok(crate::nn::activation::apply(x, Act::LeakyRelu(LEAKY_SLOPE))?)
}

/// Rows scaled to unit L2 norm, `x / sqrt(||x||² + eps²)`: (n, d) -> (n, d).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    let norm = (x.sqr()?.sum_keepdim(D::Minus1)? + COSINE_EPS * COSINE_EPS)?.sqrt()?;
    Ok(x.broadcast_div(&norm)?)
}

/// Cosine similarity matrix `S_ij = cos(a_i, b_j)`: (n, d), (m, d) -> (n, m).
pub fn cosine_matrix(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(l2_normalize(a)?.matmul(&l2_normalize(b)?.t()?)?)
}

/// Row-wise cosine `cos(a_i, b_i)`: (n, d), (n, d) -> (n,).
pub fn cosine_rows(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok((l2_normalize(a)? * l2_normalize(b)?)?.sum(D::Minus1)?)
}

/// Symmetric InfoNCE (L_ITA, eqs. 9-12) of paired rows `x_v'` (n, d) and `x_s'` (n, d).
///
/// `logit_scale` is a scalar tensor `ln(1/τ)`; it is clamped to `≤ ln(max_inv_tau)` before
/// `exp`, so a runaway scale keeps the loss finite. Returns a scalar: the sum of the two
/// cross-entropies, each averaged over the n rows (pair `i` is the target of row `i`).
pub fn ita_loss(x_v: &Tensor, x_s: &Tensor, logit_scale: &Tensor, max_inv_tau: f64) -> Result<Tensor> {
    let n = x_v.dim(0)?;
    let scale = logit_scale.clamp(f32::MIN, max_inv_tau.ln() as f32)?.exp()?;
    let s = cosine_matrix(x_v, x_s)?.broadcast_mul(&scale)?;
    let targets = Tensor::arange(0u32, n as u32, x_v.device())?;
    let l_vs = candle_nn::loss::cross_entropy(&s, &targets)?;
    let l_sv = candle_nn::loss::cross_entropy(&s.t()?.contiguous()?, &targets)?;
    Ok((l_vs + l_sv)?)
}

/// The EMA module: projections `E_v`, `E_s`, temperature and the classifier on `x_v'`.
pub struct Ema {
    /// `E_v`: Linear d_v -> d.
    pub e_v: Linear,
    /// `E_s`: Linear d_s -> d.
    pub e_s: Linear,
    /// `ln(1/τ)`, shape (1,).
    pub logit_scale: Var,
    /// Classifier d -> K on `x_v'`.
    pub classifier: Linear,
    max_inv_tau: f64,
}

impl Ema {
    /// Parameters under `ema.` (`ema.e_v`, `ema.e_s`, `ema.logit_scale`, `ema.classifier`).
    pub fn new(pb: &mut ParamBuilder, d_v: usize, d_s: usize, k: usize, cfg: &HeadsConfig) -> Result<Self> {
        pb.scoped("ema", |pb| {
            let e_v = pb.linear("e_v", d_v, cfg.objective.d)?;
            let e_s = pb.linear("e_s", d_s, cfg.objective.d)?;
            let init = Tensor::new(&[(1.0 / cfg.objective.tau_init).ln() as f32], &pb.device)?;
            let logit_scale = pb.var("logit_scale", init)?;
            let classifier = pb.linear("classifier", cfg.objective.d, k)?;
            Ok(Self { e_v, e_s, logit_scale, classifier, max_inv_tau: cfg.objective.max_inv_tau })
        })
    }

    /// `x_v' = g(E_v x_v)`: (n, d_v) -> (n, d). This is `x_EMA`.
    pub fn embed_v(&self, x_v: &Tensor) -> Result<Tensor> {
        Ok(self.e_v.forward_act(x_v, Act::LeakyRelu(LEAKY_SLOPE))?)
    }

    /// `x_s' = g(E_s x_s)`: (n, d_s) -> (n, d). Also gives `x_CDR = g(E_s x̂_s^0)`.
    pub fn embed_s(&self, x_s: &Tensor) -> Result<Tensor> {
        Ok(self.e_s.forward_act(x_s, Act::LeakyRelu(LEAKY_SLOPE))?)
    }

    /// `L_ITA` of the pair (x_v', x_s').
    pub fn ita(&self, xv_p: &Tensor, xs_p: &Tensor) -> Result<Tensor> {
        ita_loss(xv_p, xs_p, self.logit_scale.as_tensor(), self.max_inv_tau)
    }

    /// Current temperature τ after the clamp (host round trip; for reports only).
    pub fn tau(&self) -> Result<f64> {
        let ls = self.logit_scale.as_tensor().to_vec1::<f32>()?[0] as f64;
        Ok(1.0 / ls.min(self.max_inv_tau.ln()).exp())
    }

    /// `L_EMA = α1·CE(classifier(x_v')) + β·L_ITA(x_v', x_s')` (eq. 13) of one batch: `x_v`
    /// (n, d_v), `x_s` (n, d_s) f32, `labels` (n,) u32; dropout (config key `dropout`) before the
    /// classifier only when `train`, its mask drawn from `drop_rng`.
    pub fn loss(
        &self,
        x_v: &Tensor,
        x_s: &Tensor,
        labels: &Tensor,
        cfg: &HeadsConfig,
        train: bool,
        drop_rng: &mut HostRng,
    ) -> Result<EmaStep> {
        let xv_p = self.embed_v(x_v)?;
        let xs_p = self.embed_s(x_s)?;
        let logits = self.classifier.forward(&dropout(&xv_p, cfg.optim.dropout, train, drop_rng)?)?;
        let ce = candle_nn::loss::cross_entropy(&logits, labels)?;
        let loss = ((ce * cfg.objective.alpha1)? + (self.ita(&xv_p, &xs_p)? * cfg.objective.beta)?)?;
        Ok(EmaStep { loss, xv_p })
    }

    /// The EMA classifier's logits (n, K) for image features `x_v` (n, d_v): `classifier(x_v')`.
    pub fn logits(&self, x_v: &Tensor) -> Result<Tensor> {
        Ok(self.classifier.forward(&self.embed_v(x_v)?)?)
    }
}

/// What [`Ema::loss`] gives for a batch.
pub struct EmaStep {
    /// `L_EMA`, a scalar.
    pub loss: Tensor,
    /// `x_v'` (n, d) before dropout: `x_EMA` of the batch.
    pub xv_p: Tensor,
}
