//! The AdamW update of an f32 CPU variable fused into one pass over its elements.
//!
//! The update is `candle_nn::AdamW`'s, operation for operation in f32 (so results are bit for
//! bit the same; tested against it). candle's version runs it as about 14 whole-tensor ops per
//! parameter, each allocating and writing a new tensor; on the heads' 5.4 M parameters that was
//! 30 ms of a 150 ms `fusion` step (`bench_heads --quick`, 2026-11). Here the moments live in
//! host vectors and each element is read and written once, in place in the variable's storage
//! (a candle in-place op; rayon over chunks).

use anyhow::Result;
use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;
use std::sync::Mutex;

use super::Hyper;

/// Elements per rayon task.
const CHUNK: usize = 1 << 15;

/// The f32 constants of one step, rounded from f64 as candle's `Tensor * f64` rounds them.
#[derive(Clone, Copy)]
struct Consts {
    b1: f32,
    one_minus_b1: f32,
    b2: f32,
    one_minus_b2: f32,
    scale_m: f32,
    scale_v: f32,
    decay: f32,
    eps: f32,
    lr: f32,
}

/// Updates `var` (f32, CPU, contiguous) and its moments `m`, `v` (same length) in place with
/// the gradient `g` at learning rate `lr` and decoupled weight decay `weight_decay`.
///
/// # Errors
/// A variable or gradient that is not contiguous f32 of the moments' length.
pub(crate) fn update(
    var: &Var,
    g: &Tensor,
    m: &mut Vec<f32>,
    v: &mut Vec<f32>,
    h: &Hyper,
    lr: f64,
    weight_decay: f64,
) -> Result<()> {
    let c = Consts {
        b1: h.beta1 as f32,
        one_minus_b1: (1.0 - h.beta1) as f32,
        b2: h.beta2 as f32,
        one_minus_b2: (1.0 - h.beta2) as f32,
        scale_m: h.scale_m as f32,
        scale_v: h.scale_v as f32,
        // With weight_decay = 0 this is exactly 1.0, and θ·1.0 is exact.
        decay: (1.0 - lr * weight_decay) as f32,
        eps: h.eps as f32,
        lr: lr as f32,
    };
    let g = g.contiguous()?;
    let op = InPlaceUpdate { moments: Mutex::new((m, v)), c };
    var.as_tensor().inplace_op2(&g, &op)?;
    Ok(())
}

/// One AdamW update of a variable's storage in place (`dst` = θ), reading the gradient
/// and updating the host moments.
struct InPlaceUpdate<'a> {
    moments: Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
    c: Consts,
}

impl InplaceOp2 for InPlaceUpdate<'_> {
    fn name(&self) -> &'static str {
        "adamw-update"
    }

    fn cpu_fwd(&self, dst: &mut CpuStorage, dst_l: &Layout, g: &CpuStorage, g_l: &Layout) -> candle_core::Result<()> {
        let (Some((t0, t1)), Some((g0, g1))) = (dst_l.contiguous_offsets(), g_l.contiguous_offsets()) else {
            candle_core::bail!("adamw: expected a contiguous variable and gradient");
        };
        let CpuStorage::F32(dst) = dst else { candle_core::bail!("adamw: expected an f32 variable") };
        let theta = &mut dst[t0..t1];
        let g = &g.as_slice::<f32>()?[g0..g1];
        let mut guard = self.moments.lock().map_err(|_| candle_core::Error::Msg("adamw: poisoned lock".into()))?;
        let (m, v) = &mut *guard;
        if theta.len() != g.len() || m.len() != g.len() || v.len() != g.len() {
            candle_core::bail!("adamw: variable of {} values, gradient of {}", theta.len(), g.len());
        }
        let c = self.c;
        theta
            .par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((th, m), v), g)| update_chunk(th, m, v, g, c));
        Ok(())
    }
}

/// The element-wise update, in candle's operation order (`x * c` is candle's `affine(c, 0)`,
/// i.e. `x * c + 0`; Rust does not contract these into FMAs).
#[inline]
fn update_chunk(theta: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Consts) {
    for i in 0..theta.len() {
        let gi = g[i];
        let mi = (m[i] * c.b1 + 0.0) + (gi * c.one_minus_b1 + 0.0);
        let vi = (v[i] * c.b2 + 0.0) + ((gi * gi) * c.one_minus_b2 + 0.0);
        m[i] = mi;
        v[i] = vi;
        let m_hat = mi * c.scale_m + 0.0;
        let v_hat = vi * c.scale_v + 0.0;
        let decayed = theta[i] * c.decay + 0.0;
        let adjusted = m_hat / (v_hat.sqrt() * 1.0 + c.eps);
        theta[i] = decayed - (adjusted * c.lr + 0.0);
    }
}
