//! CDR denoiser `X_θ(x_s^t, t, x_v)` predicting `x̂_s^0` (paper eqs. 17-19, DESIGN §2).
//!
//! Four Linear layers with activations over `concat(x_s^t, temb(t), x_v)`, where
//! `temb = sinusoidal(t, temb_dim) -> Linear -> SiLU -> Linear` (DDPM's time embedding).
//! The first Linear is stored as three blocks (`l1_x`, `l1_t`, `l1_v`) whose sum equals one Linear
//! on the concatenation; this lets the sampler compute the `x_v` term once for all steps.
//! A learned null condition (`null_v`, shape (d_v,)) replaces `x_v` for classifier-free guidance
//! (Ho & Salimans 2021).

use crate::model::config::{Activation, HeadsConfig};
use crate::nn::activation::Act;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use candle_nn::Module;

/// Sinusoidal embedding table of the steps `1..=t_max`: (t_max, dim) f32 (row `i` = step `i+1`).
///
/// `emb[t] = [sin(t·f_0..f_{h-1}), cos(t·f_0..f_{h-1})]`, `f_j = 10000^{-j/h}`, `h = dim/2`.
pub fn sinusoidal_table(t_max: usize, dim: usize, device: &Device) -> Result<Tensor> {
    let h = dim / 2;
    let mut v = Vec::with_capacity(t_max * dim);
    for t in 1..=t_max {
        let freqs = (0..h).map(|j| (-(10000f64.ln()) * j as f64 / h as f64).exp() * t as f64);
        let angles: Vec<f64> = freqs.collect();
        v.extend(angles.iter().map(|a| a.sin() as f32));
        v.extend(angles.iter().map(|a| a.cos() as f32));
    }
    Ok(Tensor::from_vec(v, (t_max, dim), device)?)
}

/// The x0-predicting MLP denoiser.
pub struct Denoiser {
    l1_x: Linear,
    l1_t: Linear,
    l1_v: Linear,
    l2: Linear,
    l3: Linear,
    l4: Linear,
    t_in: Linear,
    t_out: Linear,
    /// Learned null condition, (1, d_v).
    pub null_v: Var,
    /// Sinusoidal table (T, temb_dim).
    table: Tensor,
    act: Activation,
}

impl Denoiser {
    /// Parameters under `denoiser.`.
    pub fn new(pb: &mut ParamBuilder, d_v: usize, d_s: usize, cfg: &HeadsConfig) -> Result<Self> {
        let h = cfg.denoiser.hidden;
        let e = cfg.denoiser.temb_dim;
        let table = sinusoidal_table(cfg.diffusion.timesteps, e, &pb.device)?;
        pb.scoped("denoiser", |pb| {
            // Init bound of the fused first layer is 1/sqrt(d_s + e + d_v); draw each block with
            // that bound so the three blocks match one Linear on the concatenation.
            let fan_in = (d_s + e + d_v) as f64;
            let block = |pb: &mut ParamBuilder, name: &str, i: usize, bias: bool| -> Result<Linear> {
                let bound = 1.0 / fan_in.sqrt();
                let w = pb.rng.uniform(h, i, bound, &pb.device)?;
                let w = pb.var(&format!("{name}.weight"), w)?.as_tensor().clone();
                let b = if bias {
                    let b = pb.rng.uniform(1, h, bound, &pb.device)?.reshape(h)?;
                    Some(pb.var(&format!("{name}.bias"), b)?.as_tensor().clone())
                } else {
                    None
                };
                Ok(Linear::new(w, b))
            };
            let l1_x = block(pb, "l1_x", d_s, false)?;
            let l1_t = block(pb, "l1_t", e, false)?;
            let l1_v = block(pb, "l1_v", d_v, true)?;
            let l2 = pb.linear("l2", h, h)?;
            let l3 = pb.linear("l3", h, h)?;
            let l4 = pb.linear("l4", h, d_s)?;
            let t_in = pb.linear("t_in", e, e)?;
            let t_out = pb.linear("t_out", e, e)?;
            let null_v = pb.var("null_v", Tensor::zeros((1, d_v), candle_core::DType::F32, &pb.device)?)?;
            Ok(Self { l1_x, l1_t, l1_v, l2, l3, l4, t_in, t_out, null_v, table, act: cfg.denoiser.activation })
        })
    }

    /// The same denoiser on detached weights (no autograd graph through it; for sampling).
    pub fn detached(&self) -> Self {
        Self {
            l1_x: self.l1_x.detached(),
            l1_t: self.l1_t.detached(),
            l1_v: self.l1_v.detached(),
            l2: self.l2.detached(),
            l3: self.l3.detached(),
            l4: self.l4.detached(),
            t_in: self.t_in.detached(),
            t_out: self.t_out.detached(),
            null_v: self.null_v.clone(),
            table: self.table.clone(),
            act: self.act,
        }
    }

    /// `temb(t)` for 0-based step indices `t_idx = t - 1`, (n,) u32 -> (n, temb_dim).
    pub fn temb(&self, t_idx: &Tensor) -> Result<Tensor> {
        let s = self.table.index_select(t_idx, 0)?;
        Ok(self.t_out.forward(&self.t_in.forward_act(&s, Act::Silu)?)?)
    }

    /// First-layer contribution of the condition: `W_v x_v + b` (n, hidden). `x_v = None` uses
    /// the null condition (1, hidden), which broadcasts over rows.
    pub fn cond(&self, x_v: Option<&Tensor>) -> Result<Tensor> {
        Ok(match x_v {
            Some(x) => self.l1_v.forward(x)?,
            None => self.l1_v.forward(self.null_v.as_tensor())?,
        })
    }

    /// First-layer contribution of step `t` (1-based scalar): (1, hidden).
    pub fn time_term(&self, t: usize) -> Result<Tensor> {
        let idx = Tensor::new(&[(t - 1) as u32], self.table.device())?;
        Ok(self.l1_t.forward(&self.temb(&idx)?)?)
    }

    /// `X_θ` from precomputed first-layer terms: `x_t` (n, d_s), `cond` (n or 1, hidden),
    /// `time` (n or 1, hidden) -> `x̂_s^0` (n, d_s).
    pub fn forward_terms(&self, x_t: &Tensor, cond: &Tensor, time: &Tensor) -> Result<Tensor> {
        let h = self.l1_x.forward_shift_act(x_t, &cond.broadcast_add(time)?, Act::from(self.act))?;
        let h = self.l2.forward_act(&h, Act::from(self.act))?;
        let h = self.l3.forward_act(&h, Act::from(self.act))?;
        Ok(self.l4.forward(&h)?)
    }

    /// `X_θ(x_s^t, t, x_v)`: `x_t` (n, d_s), `t_idx` (n,) u32 0-based steps (t - 1), `cond` from
    /// [`cond`](Self::cond) -> `x̂_s^0` (n, d_s).
    pub fn forward(&self, x_t: &Tensor, t_idx: &Tensor, cond: &Tensor) -> Result<Tensor> {
        let time = self.l1_t.forward(&self.temb(t_idx)?)?;
        self.forward_terms(x_t, cond, &time)
    }
}
