//! AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization") for f32 variables
//! on the CPU, fused into one pass over each parameter.
//!
//! The update is `candle_nn::AdamW`'s, operation for operation in f32 (so results are bit-for-bit
//! the same; tested against it):
//! `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `m̂ = m/(1−β1^t)`, `v̂ = v/(1−β2^t)`,
//! `θ ← θ·(1 − lr·λ) − lr·m̂/(√v̂ + ε)`.
//! candle's version runs that as about 14 whole-tensor ops per parameter, each allocating and
//! writing a new tensor; on the heads' 5.4 M parameters that was 30 ms of a 150 ms `fusion` step
//! (`bench_heads --quick`). Here the moments live in host vectors and each element is read and
//! written once, in place in the variable's storage (a candle in-place op; rayon over chunks).

use anyhow::{bail, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, DType, InplaceOp2, Layout, Tensor, Var};
use candle_nn::ParamsAdamW;
use rayon::prelude::*;
use std::sync::Mutex;

/// Elements per rayon task.
const CHUNK: usize = 1 << 15;

/// One variable with its moments (`m`, `v`: same length as the variable, f32).
struct Slot {
    var: Var,
    m: Vec<f32>,
    v: Vec<f32>,
    /// Whether the decoupled weight decay applies (false: biases, gains, `logit_scale`).
    decay: bool,
}

/// Fused AdamW over f32 CPU variables; see the module docs.
pub struct FusedAdamW {
    slots: Vec<Slot>,
    params: ParamsAdamW,
    step_t: u64,
}

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

impl FusedAdamW {
    /// Zero moments for every variable.
    ///
    /// # Errors
    /// A variable that is not f32 or not on the CPU.
    pub fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        Self::with_decay_groups(vars.into_iter().map(|v| (v, true)).collect(), params)
    }

    /// Zero moments for every variable; `(var, decay)`: the weight decay applies only to the
    /// variables with `decay` true (parameter groups, as in PyTorch's `AdamW(param_groups)`).
    ///
    /// # Errors
    /// A variable that is not f32 or not on the CPU.
    pub fn with_decay_groups(vars: Vec<(Var, bool)>, params: ParamsAdamW) -> Result<Self> {
        let mut slots = Vec::with_capacity(vars.len());
        for (var, decay) in vars {
            if var.dtype() != DType::F32 || !var.device().is_cpu() {
                bail!("FusedAdamW needs f32 CPU variables, got {:?} on {:?}", var.dtype(), var.device());
            }
            let n = var.elem_count();
            slots.push(Slot { var, m: vec![0.0; n], v: vec![0.0; n], decay });
        }
        Ok(Self { slots, params, step_t: 0 })
    }

    /// Sets the learning rate of the next steps.
    pub fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr;
    }

    /// Backpropagates `loss` (a scalar) and applies one step.
    ///
    /// # Errors
    /// candle errors of the backward pass or of reading/writing the variables.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update with `grads`; variables without a gradient are left untouched.
    ///
    /// # Errors
    /// candle errors reading the gradients or writing the variables.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step_t += 1;
        let p = &self.params;
        let t = self.step_t as i32;
        let c = Consts {
            b1: p.beta1 as f32,
            one_minus_b1: (1.0 - p.beta1) as f32,
            b2: p.beta2 as f32,
            one_minus_b2: (1.0 - p.beta2) as f32,
            scale_m: (1.0 / (1.0 - p.beta1.powi(t))) as f32,
            scale_v: (1.0 / (1.0 - p.beta2.powi(t))) as f32,
            decay: (1.0 - p.lr * p.weight_decay) as f32,
            eps: p.eps as f32,
            lr: p.lr as f32,
        };
        for slot in self.slots.iter_mut() {
            let Some(g) = grads.get(slot.var.as_tensor()) else { continue };
            let g = g.contiguous()?;
            // θ·1.0 is exact, so a slot without decay is updated as with weight_decay = 0.
            let c = if slot.decay { c } else { Consts { decay: 1.0, ..c } };
            let op = InPlaceUpdate { moments: Mutex::new((&mut slot.m, &mut slot.v)), c };
            slot.var.as_tensor().inplace_op2(&g, &op)?;
        }
        Ok(())
    }
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
            .for_each(|(((th, m), v), g)| update(th, m, v, g, c));
        Ok(())
    }
}

/// The element-wise update, in candle's operation order (`x * c` is candle's `affine(c, 0)`,
/// i.e. `x * c + 0`; Rust does not contract these into FMAs).
#[inline]
fn update(theta: &mut [f32], m: &mut [f32], v: &mut [f32], g: &[f32], c: Consts) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use candle_nn::{AdamW, Optimizer};

    /// Reference: candle_nn's own AdamW, run on identical variables with identical gradients
    /// (a quadratic loss whose gradient changes every step), including weight decay, a learning
    /// rate that changes between steps, and a variable without gradient.
    #[test]
    fn matches_candle_nn_adamw_bit_for_bit() -> Result<()> {
        let dev = Device::Cpu;
        let init_a: Vec<f32> = (0..70_000).map(|i| ((i * 7919 % 1000) as f32 - 500.0) / 300.0).collect();
        let init_b: Vec<f32> = vec![0.5, -1.5, 2.0];
        let make = || -> Result<(Var, Var, Var)> {
            Ok((
                Var::from_tensor(&Tensor::from_vec(init_a.clone(), (350, 200), &dev)?)?,
                Var::from_tensor(&Tensor::new(init_b.as_slice(), &dev)?)?,
                Var::from_tensor(&Tensor::new(&[3f32, 4.], &dev)?)?, // never in the loss
            ))
        };
        let params = ParamsAdamW { lr: 0.01, weight_decay: 0.05, ..ParamsAdamW::default() };
        let (a1, b1, c1) = make()?;
        let (a2, b2, c2) = make()?;
        let mut reference = AdamW::new(vec![a1.clone(), b1.clone(), c1.clone()], params.clone())?;
        let mut fused = FusedAdamW::new(vec![a2.clone(), b2.clone(), c2.clone()], params)?;
        let loss = |a: &Var, b: &Var| -> Result<Tensor> {
            Ok(((a.as_tensor().sqr()?.sum_all()? * 0.5)? + (b.as_tensor() - 1.0)?.powf(3.0)?.sum_all()?)?)
        };
        for step in 0..5 {
            let lr = 0.01 / (step + 1) as f64;
            reference.set_learning_rate(lr);
            fused.set_learning_rate(lr);
            reference.backward_step(&loss(&a1, &b1)?)?;
            fused.backward_step(&loss(&a2, &b2)?)?;
            assert_eq!(
                a1.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                a2.as_tensor().flatten_all()?.to_vec1::<f32>()?,
                "step {step}"
            );
            assert_eq!(b1.as_tensor().to_vec1::<f32>()?, b2.as_tensor().to_vec1::<f32>()?, "step {step}");
        }
        assert_eq!(c2.as_tensor().to_vec1::<f32>()?, vec![3., 4.], "no gradient: untouched");
        // The update moved the weights (a wrong no-op would pass the equality above).
        assert_ne!(a2.as_tensor().flatten_all()?.to_vec1::<f32>()?, init_a);
        Ok(())
    }

    #[test]
    fn refuses_non_f32_variables() {
        let v = Var::zeros(3, DType::F64, &Device::Cpu).unwrap();
        assert!(FusedAdamW::new(vec![v], ParamsAdamW::default()).is_err());
    }
}
