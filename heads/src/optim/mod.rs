//! AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"; PyTorch
//! `torch.optim.AdamW`): the one optimiser of training and fine-tuning, with parameter groups,
//! weight-decay groups and savable state.
//!
//! For step `t` (1-based), per parameter `θ` with gradient `g`, in f32 and in `candle_nn::AdamW`'s
//! operation order (so every path gives candle_nn's results bit for bit):
//!
//! ```text
//! m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//! m̂ = m·(1/(1 − β1^t))           v̂ = v·(1/(1 − β2^t))
//! θ ← θ·(1 − lr·λ) − lr·m̂/(√v̂ + ε)
//! ```
//!
//! - [`fused`]: the fast path for f32 variables on the CPU, moments in host vectors and every
//!   element read and written once, in place.
//! - [`tensor`]: every other variable (an accelerator, or bf16/f16 with an f32 master copy),
//!   with candle tensor ops.
//! - [`groups`]: parameter groups and the rule that decides which parameters decay.
//! - [`state`]: the moments as named tensors, to save and resume.
//! - [`grad_accum`]: gradients summed over micro-batches before one step.

pub mod fused;
pub mod grad_accum;
pub mod groups;
pub mod state;
mod tensor;

use anyhow::{ensure, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use std::collections::HashSet;

pub use grad_accum::GradAccumulator;
pub use groups::{decays_by_default, ParamGroup};

/// The gradients one step reads: a backward pass's [`GradStore`] or a [`GradAccumulator`].
pub trait Gradients {
    /// The gradient of `var`, if the loss depends on it.
    fn grad(&self, var: &Var) -> Option<&Tensor>;
}

impl Gradients for GradStore {
    fn grad(&self, var: &Var) -> Option<&Tensor> {
        self.get(var.as_tensor())
    }
}

impl Gradients for GradAccumulator {
    fn grad(&self, var: &Var) -> Option<&Tensor> {
        self.get(var)
    }
}

/// One variable to optimise: its unique `name` (it keys the saved state) and its group index.
#[derive(Debug, Clone)]
pub struct NamedParam {
    pub name: String,
    pub var: Var,
    pub group: usize,
}

/// The moments of one variable, on the path that updates it.
enum Moments {
    /// f32 CPU variable: host moments, [`fused`] update.
    Host { m: Vec<f32>, v: Vec<f32> },
    /// Any other variable: f32 tensors on its device; `master` holds f32 weights when the
    /// variable is not f32 (updates of `lr = 1e-5` are below bf16's resolution).
    Device { m: Tensor, v: Tensor, master: Option<Tensor> },
}

/// One optimised variable.
struct Slot {
    name: String,
    var: Var,
    group: usize,
    moments: Moments,
}

/// AdamW over named variables in parameter groups; see the module docs for the update.
pub struct AdamW {
    slots: Vec<Slot>,
    groups: Vec<ParamGroup>,
    /// The learning rate of each group for the next step (its peak `lr` until
    /// [`AdamW::set_learning_rates`] is called).
    lrs: Vec<f64>,
    /// β1 (0.9).
    pub beta1: f64,
    /// β2 (0.999).
    pub beta2: f64,
    /// ε (1e-8).
    pub eps: f64,
    step: u64,
}

impl AdamW {
    /// Zero moments for every parameter, step count 0. f32 CPU variables take the fused path.
    ///
    /// # Errors
    /// A group index out of range or a name given twice (both naming the parameter); candle
    /// errors allocating the moments.
    pub fn new(params: Vec<NamedParam>, groups: Vec<ParamGroup>) -> Result<Self> {
        Self::build(params, groups, true)
    }

    /// [`AdamW::new`] with `fused` false: every variable takes the tensor path (to test that
    /// both paths agree).
    #[doc(hidden)]
    pub fn new_unfused(params: Vec<NamedParam>, groups: Vec<ParamGroup>) -> Result<Self> {
        Self::build(params, groups, false)
    }

    fn build(params: Vec<NamedParam>, groups: Vec<ParamGroup>, fused: bool) -> Result<Self> {
        let mut seen = HashSet::new();
        let mut slots = Vec::with_capacity(params.len());
        for NamedParam { name, var, group } in params {
            ensure!(group < groups.len(), "parameter {name}: group {group} does not exist");
            ensure!(seen.insert(name.clone()), "parameter {name} given twice to the optimiser");
            let t = var.as_tensor();
            let moments = if fused && t.dtype() == DType::F32 && t.device().is_cpu() && t.is_contiguous() {
                let n = t.elem_count();
                Moments::Host { m: vec![0.0; n], v: vec![0.0; n] }
            } else {
                let zeros = Tensor::zeros(t.shape(), DType::F32, t.device())?;
                let master = if t.dtype() == DType::F32 { None } else { Some(t.to_dtype(DType::F32)?) };
                Moments::Device { m: zeros.clone(), v: zeros, master }
            };
            slots.push(Slot { name, var, group, moments });
        }
        let lrs = groups.iter().map(|g| g.lr).collect();
        Ok(Self { slots, groups, lrs, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0 })
    }

    /// Sets each group's learning rate for the next steps to `at(peak)`, `peak` being the
    /// group's [`ParamGroup::lr`] (a schedule: `|peak| peak * factor`, or `lr_at(.., peak)`).
    pub fn set_learning_rates(&mut self, at: impl Fn(f64) -> f64) {
        self.lrs = self.groups.iter().map(|g| at(g.lr)).collect();
    }

    /// Backpropagates the scalar `loss` and applies one step.
    ///
    /// # Errors
    /// candle errors of the backward pass or of the update.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        let grads = loss.backward()?;
        self.step(&grads)
    }

    /// One update with `grads`; variables without a gradient are left untouched (as PyTorch
    /// does), though the step count advances for all.
    ///
    /// # Errors
    /// candle errors reading the gradients or writing the variables.
    pub fn step(&mut self, grads: &impl Gradients) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let hyper = Hyper {
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            scale_m: 1.0 / (1.0 - self.beta1.powi(t)),
            scale_v: 1.0 / (1.0 - self.beta2.powi(t)),
        };
        for slot in self.slots.iter_mut() {
            let Some(g) = grads.grad(&slot.var) else { continue };
            let lr = self.lrs[slot.group];
            let weight_decay = self.groups[slot.group].weight_decay;
            match &mut slot.moments {
                Moments::Host { m, v } => fused::update(&slot.var, g, m, v, &hyper, lr, weight_decay)?,
                Moments::Device { m, v, master } => {
                    tensor::update(&slot.var, g, m, v, master, &hyper, lr, weight_decay)?
                }
            }
        }
        Ok(())
    }

    /// Number of steps taken so far (the `t` of the last update).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Number of optimised variables.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// True when nothing is optimised.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Names of the optimised variables, in order.
    pub fn names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.name.as_str()).collect()
    }
}

/// The constants of one step shared by every variable, in f64 (each path rounds them to f32
/// as candle's `Tensor * f64` does).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hyper {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// `1/(1 − β1^t)`.
    pub scale_m: f64,
    /// `1/(1 − β2^t)`.
    pub scale_v: f64,
}

#[cfg(test)]
mod tests;
