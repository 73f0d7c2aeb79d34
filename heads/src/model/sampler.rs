//! Reverse diffusion: DDPM ancestral sampling (paper eqs. 21-23) and deterministic DDIM (η = 0).
//!
//! DDPM, for t = T..1: `μ = coef1_t·x̂_s^0 + coef2_t·x_s^t`, `x_s^{t-1} = μ + sqrt(β̂_t)·z`, with no
//! noise at the last step (t = 1, where coef1 = 1, coef2 = 0, so the result is `x̂_s^0`).
//! DDIM (Song et al. 2021, η = 0) over `ddim_steps` evenly spaced steps:
//! `ε̂ = (x_t - sqrt(ᾱ_t)·x̂_0)/sqrt(1-ᾱ_t)`, `x_prev = sqrt(ᾱ_prev)·x̂_0 + sqrt(1-ᾱ_prev)·ε̂`.
//! Classifier-free guidance: `x̂_0 = (1+w)·X_θ(·, x_v) - w·X_θ(·, ∅)`. `samples = K` chains are
//! averaged. Rows are processed in chunks of [`CHUNK_ROWS`] (one large matmul per layer and step);
//! the `x_v` term of the first layer is computed once per chunk.
//!
//! On the CPU the denoiser runs on detached weights (no autograd graph is built) and each DDPM
//! step is one pass over the rows that also draws their noise, rows in parallel.
//!
//! Noise is drawn per row: row r's chains use an RNG seeded by one draw from the caller's seeded
//! RNG and the sha256 of r's `x_v` bits. A row's `x_CDR` therefore does not depend on which other
//! rows are sampled with it, so `marnet-heads predict` on one image reproduces the test-time
//! features of training (up to gemm rounding across batch shapes, ~1e-6).

use crate::model::config::{HeadsConfig, SamplerKind};
use crate::model::denoiser::Denoiser;
use crate::model::schedule::HostSchedule;
use crate::nn::activation::contiguous_f32;
use crate::nn::rng::HostRng;
use anyhow::Result;
use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Shape, Tensor};
use rand::Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::sync::Mutex;

/// Rows per sampling chunk (bounds the activation memory: CHUNK_ROWS × hidden × 4 bytes).
pub const CHUNK_ROWS: usize = 16384;

/// The 1-based steps a sampler visits, descending: T..1 for DDPM; for DDIM the S = `ddim_steps`
/// steps `round(i·T/S)`, i = S..1 (the last DDIM step jumps to ᾱ_0 = 1 and returns `x̂_s^0`).
pub fn sampler_steps(t_max: usize, kind: SamplerKind, ddim_steps: usize) -> Vec<usize> {
    match kind {
        SamplerKind::Ddpm => (1..=t_max).rev().collect(),
        SamplerKind::Ddim => {
            let s = ddim_steps.clamp(1, t_max);
            let mut v: Vec<usize> =
                (1..=s).map(|i| ((i as f64 * t_max as f64 / s as f64).round() as usize).max(1)).collect();
            v.dedup();
            v.reverse();
            v
        }
    }
}

/// Samples `x̂_s^0` (n, d_s) for each row of `x_v` (n, d_v), averaging `cfg.sampling.samples` chains.
/// Noise comes from `rng` (seeded, one draw) and each row's `x_v` bits, so the result is
/// reproducible and a row's sample does not depend on the other rows (module docs).
pub fn sample(
    den: &Denoiser,
    sched: &HostSchedule,
    x_v: &Tensor,
    d_s: usize,
    cfg: &HeadsConfig,
    rng: &mut HostRng,
) -> Result<Tensor> {
    let n = x_v.dim(0)?;
    // Nothing is differentiated here: without the variables no autograd graph is kept.
    let den = &den.detached();
    let base: u64 = rng.0.random();
    let mut row_rngs = row_rngs(x_v, base)?;
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < n {
        let len = CHUNK_ROWS.min(n - start);
        let xv = x_v.narrow(0, start, len)?;
        let mut acc: Option<Tensor> = None;
        for _ in 0..cfg.sampling.samples {
            let x0 = sample_chain(den, sched, &xv, d_s, cfg, &mut row_rngs[start..start + len])?;
            acc = Some(match acc {
                None => x0,
                Some(a) => (a + x0)?,
            });
        }
        let mut x0 = acc.expect("samples >= 1");
        if cfg.sampling.samples > 1 {
            x0 = (x0 / cfg.sampling.samples as f64)?;
        }
        chunks.push(x0);
        start += len;
    }
    if chunks.is_empty() {
        return Ok(Tensor::zeros((0, d_s), candle_core::DType::F32, x_v.device())?);
    }
    Ok(Tensor::cat(&chunks, 0)?)
}

/// The starting noise `x_s^T` (n, d_s) that [`sample`] draws for `x_v` (n, d_v) with a fresh
/// `rng` in the same state: one draw from `rng`, then each row's first `d_s` normals.
pub fn initial_noise(x_v: &Tensor, d_s: usize, rng: &mut HostRng) -> Result<Tensor> {
    let base: u64 = rng.0.random();
    normal_rows(&mut row_rngs(x_v, base)?, d_s, x_v.device())
}

/// One RNG per row of `x_v` (n, d_v): seeded by `base` and the sha256 of the row's f32 bits.
fn row_rngs(x_v: &Tensor, base: u64) -> Result<Vec<HostRng>> {
    let rows = x_v.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(rows
        .iter()
        .map(|row| {
            let mut h = Sha256::new();
            for v in row {
                h.update(v.to_le_bytes());
            }
            let digest = h.finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            HostRng::new(base, u64::from_le_bytes(first))
        })
        .collect())
}

/// Standard normal (rows, d_s): row r drawn from `rngs[r]` (rows in parallel).
fn normal_rows(rngs: &mut [HostRng], d_s: usize, dev: &Device) -> Result<Tensor> {
    let mut v = vec![0f32; rngs.len() * d_s];
    if d_s > 0 {
        v.par_chunks_mut(d_s).zip(rngs.par_iter_mut()).for_each(|(row, r)| {
            row.iter_mut().for_each(|x| *x = r.0.sample::<f32, _>(StandardNormal));
        });
    }
    Ok(Tensor::from_vec(v, (rngs.len(), d_s), dev)?)
}

/// One DDPM step in one pass over the rows (eqs. 22-23):
/// `x_{t-1} = (coef1·x̂_0 + coef2·x_t) + sigma·z`, row r's `z` (d_s normals) drawn from `rngs[r]`,
/// no noise when `sigma` is `None` (the last step). Same f32 operations in the same order as the
/// candle expression `x0 * c1 + x * c2 + z * sigma` (each `· c` is candle's `affine(c, 0)`).
struct DdpmStep<'a> {
    coef1: f32,
    coef2: f32,
    sigma: Option<f32>,
    rngs: Mutex<&'a mut [HostRng]>,
}

impl CustomOp2 for DdpmStep<'_> {
    fn name(&self) -> &'static str {
        "ddpm-step"
    }

    /// `x̂_0` and `x_t`, both (rows, d_s) contiguous f32 → `x_{t-1}` (rows, d_s).
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, d_s) = l1.shape().dims2()?;
        if l2.shape() != l1.shape() {
            candle_core::bail!("ddpm-step: x0 {:?} and x_t {:?} differ in shape", l1.shape(), l2.shape());
        }
        let x0 = contiguous_f32(s1, l1, "ddpm-step")?;
        let xt = contiguous_f32(s2, l2, "ddpm-step")?;
        let mut rngs = self.rngs.lock().map_err(|_| candle_core::Error::Msg("ddpm-step: poisoned lock".into()))?;
        if rngs.len() != rows {
            candle_core::bail!("ddpm-step: {} row RNGs for {rows} rows", rngs.len());
        }
        let mut out = vec![0f32; rows * d_s];
        let (c1, c2, sigma) = (self.coef1, self.coef2, self.sigma);
        if d_s > 0 {
            out.par_chunks_mut(d_s).zip(x0.par_chunks(d_s).zip(xt.par_chunks(d_s))).zip(rngs.par_iter_mut()).for_each(
                |((o, (a, b)), r)| {
                    for ((o, a), b) in o.iter_mut().zip(a).zip(b) {
                        let mu = (a * c1 + 0.0) + (b * c2 + 0.0);
                        *o = match sigma {
                            Some(sd) => mu + (r.0.sample::<f32, _>(StandardNormal) * sd + 0.0),
                            None => mu,
                        };
                    }
                },
            );
        }
        Ok((CpuStorage::F32(out), Shape::from((rows, d_s))))
    }
}

/// One chain for a chunk of rows: (n, d_v) -> (n, d_s), row r's noise from `rngs[r]`.
fn sample_chain(
    den: &Denoiser,
    sched: &HostSchedule,
    x_v: &Tensor,
    d_s: usize,
    cfg: &HeadsConfig,
    rngs: &mut [HostRng],
) -> Result<Tensor> {
    let dev = x_v.device();
    let cond = den.cond(Some(x_v))?;
    let null = if cfg.sampling.guidance != 0.0 { Some(den.cond(None)?) } else { None };
    let predict = |x_t: &Tensor, t: usize| -> Result<Tensor> {
        let time = den.time_term(t)?;
        let c = den.forward_terms(x_t, &cond, &time)?;
        Ok(match &null {
            Some(nc) => {
                let u = den.forward_terms(x_t, nc, &time)?;
                ((c * (1.0 + cfg.sampling.guidance))? - (u * cfg.sampling.guidance)?)?
            }
            None => c,
        })
    };
    let mut x = normal_rows(rngs, d_s, dev)?;
    let steps = sampler_steps(sched.len(), cfg.sampling.sampler, cfg.sampling.ddim_steps);
    for (k, &t) in steps.iter().enumerate() {
        let i = t - 1;
        let x0 = predict(&x, t)?;
        // Detach every step: the weights are variables, so without it each x_t would keep the
        // whole chain's activations alive (T × rows × hidden floats).
        x = match cfg.sampling.sampler {
            SamplerKind::Ddpm if dev.is_cpu() && x0.dtype() == DType::F32 => {
                let op = DdpmStep {
                    coef1: sched.posterior_mean_coef1[i] as f32,
                    coef2: sched.posterior_mean_coef2[i] as f32,
                    sigma: (t > 1).then(|| sched.posterior_variance[i].sqrt() as f32),
                    rngs: Mutex::new(&mut *rngs),
                };
                x0.contiguous()?.apply_op2_no_bwd(&x.contiguous()?, &op)?
            }
            SamplerKind::Ddpm => {
                let mu = ((&x0 * sched.posterior_mean_coef1[i])? + (&x * sched.posterior_mean_coef2[i])?)?;
                if t > 1 {
                    let z = normal_rows(rngs, d_s, dev)?;
                    (mu + (z * sched.posterior_variance[i].sqrt())?)?
                } else {
                    mu
                }
            }
            SamplerKind::Ddim => {
                let ac = sched.alphas_cumprod[i];
                let prev = match steps.get(k + 1) {
                    Some(&tp) => sched.alphas_cumprod[tp - 1],
                    None => 1.0,
                };
                let eps = ((&x - (&x0 * ac.sqrt())?)? / (1.0 - ac).sqrt())?;
                ((&x0 * prev.sqrt())? + (eps * (1.0 - prev).sqrt())?)?
            }
        }
        .detach();
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fused DDPM step equals the candle expression `x0·c1 + x·c2 + z·σ` with the same
    /// per-row noise, bit for bit, with and without noise (an independent formulation of eqs.
    /// 22-23 through candle's own ops).
    #[test]
    fn fused_ddpm_step_equals_the_candle_expression() -> Result<()> {
        let dev = Device::Cpu;
        let (rows, d_s) = (5, 7);
        let x0 = HostRng::new(1, 1).normal(rows, d_s, &dev)?;
        let x = HostRng::new(2, 2).normal(rows, d_s, &dev)?;
        let (c1, c2, sigma) = (0.37f64, 0.91f64, 0.23f64);
        for noisy in [true, false] {
            let mut rngs_a: Vec<HostRng> = (0..rows as u64).map(|r| HostRng::new(9, r)).collect();
            let mut rngs_b: Vec<HostRng> = (0..rows as u64).map(|r| HostRng::new(9, r)).collect();
            let op = DdpmStep {
                coef1: c1 as f32,
                coef2: c2 as f32,
                sigma: noisy.then_some(sigma as f32),
                rngs: Mutex::new(&mut rngs_a[..]),
            };
            let fused = x0.apply_op2_no_bwd(&x, &op)?;
            let mu = ((&x0 * c1)? + (&x * c2)?)?;
            let reference = if noisy { (mu + (normal_rows(&mut rngs_b, d_s, &dev)? * sigma)?)? } else { mu };
            assert_eq!(fused.to_vec2::<f32>()?, reference.to_vec2::<f32>()?, "noisy = {noisy}");
        }
        Ok(())
    }
}
