//! AdamW with decoupled weight decay and bias correction (Loshchilov & Hutter 2019; PyTorch
//! `torch.optim.AdamW`), whose state can be saved and restored for resuming a fine-tune.
//!
//! candle-nn's `AdamW` keeps its first and second moments private, so a resumed run could not
//! continue with the same optimiser state; this one exposes them. For step `t` (1-based), per
//! parameter `θ` with gradient `g`, in f32:
//!
//! ```text
//! θ ← θ·(1 − lr·λ)
//! m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
//! m̂ = m / (1 − β1^t)             v̂ = v / (1 − β2^t)
//! θ ← θ − lr·m̂ / (sqrt(v̂) + ε)
//! ```
//!
//! Parameters are grouped (backbone, heads) with their own learning rate and weight decay.
//! A variable stored in bf16/f16 keeps an f32 master copy (mixed-precision training): updates of
//! size `lr = 1e-5` are below bf16's resolution and would otherwise be rounded away.

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Tensor, Var};
use std::collections::HashMap;

use super::grad_accum::GradAccumulator;

/// Learning rate and weight decay of one parameter group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroupParams {
    /// Peak learning rate (multiplied by the schedule's factor at every step).
    pub lr: f64,
    /// Decoupled weight decay λ.
    pub weight_decay: f64,
}

/// One optimised variable.
struct Param {
    name: String,
    var: Var,
    group: usize,
    /// First moment, f32, the variable's shape.
    m: Tensor,
    /// Second moment, f32.
    v: Tensor,
    /// f32 master weights when the variable itself is not f32.
    master: Option<Tensor>,
}

/// AdamW over named variables in parameter groups; see the module docs for the update.
pub struct AdamW {
    params: Vec<Param>,
    groups: Vec<GroupParams>,
    /// β1 (0.9).
    pub beta1: f64,
    /// β2 (0.999).
    pub beta2: f64,
    /// ε (1e-8).
    pub eps: f64,
    step: u64,
}

impl AdamW {
    /// An optimiser for `(name, var, group index)` triples; names must be unique (they key the
    /// saved state). Moments start at zero, the step count at 0.
    pub fn new(vars: Vec<(String, Var, usize)>, groups: Vec<GroupParams>) -> Result<Self> {
        let mut seen = std::collections::HashSet::new();
        let mut params = Vec::with_capacity(vars.len());
        for (name, var, group) in vars {
            ensure!(group < groups.len(), "parameter {name}: group {group} does not exist");
            ensure!(seen.insert(name.clone()), "parameter {name} given twice to the optimiser");
            let zeros = Tensor::zeros(var.shape(), DType::F32, var.device())?;
            let master = if var.dtype() == DType::F32 { None } else { Some(var.as_tensor().to_dtype(DType::F32)?) };
            params.push(Param { name, var, group, m: zeros.clone(), v: zeros, master });
        }
        Ok(Self { params, groups, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0 })
    }

    /// Number of steps taken so far (the `t` of the last update).
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Number of optimised variables.
    pub fn len(&self) -> usize {
        self.params.len()
    }

    /// True when nothing is optimised.
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }

    /// Names of the optimised variables, in order.
    pub fn names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }

    /// One update with the accumulated gradients; every group's lr is multiplied by `lr_factor`
    /// (the schedule). Variables without a gradient are left untouched (as PyTorch does).
    pub fn step(&mut self, grads: &GradAccumulator, lr_factor: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(t);
        let c2 = 1.0 - b2.powi(t);
        for p in self.params.iter_mut() {
            let Some(g) = grads.get(&p.var) else { continue };
            let gp = self.groups[p.group];
            let lr = gp.lr * lr_factor;
            let g = g.to_dtype(DType::F32)?;
            p.m = ((&p.m * b1)? + (&g * (1.0 - b1))?)?;
            p.v = ((&p.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let m_hat = (&p.m / c1)?;
            let v_hat = (&p.v / c2)?;
            let update = (m_hat / (v_hat.sqrt()? + self.eps)?)?;
            let theta = match &p.master {
                Some(m) => m.clone(),
                None => p.var.as_tensor().detach(),
            };
            let next = ((theta * (1.0 - lr * gp.weight_decay))? - (update * lr)?)?;
            match &mut p.master {
                Some(m) => {
                    p.var.set(&next.to_dtype(p.var.dtype())?)?;
                    *m = next;
                }
                None => p.var.set(&next)?,
            }
        }
        Ok(())
    }

    /// The state as named f32 tensors: `optim.m.<name>` and `optim.v.<name>` for every variable.
    /// The step count is [`AdamW::step_count`] (stored by the caller in the checkpoint metadata).
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.params.len());
        for p in &self.params {
            out.push((format!("optim.m.{}", p.name), p.m.clone()));
            out.push((format!("optim.v.{}", p.name), p.v.clone()));
        }
        Ok(out)
    }

    /// The f32 value of variable `name` (the master copy for bf16/f16 variables).
    pub fn master_value(&self, name: &str) -> Option<Tensor> {
        let p = self.params.iter().find(|p| p.name == name)?;
        Some(p.master.clone().unwrap_or_else(|| p.var.as_tensor().detach()))
    }

    /// Restores moments and step count from [`AdamW::state_tensors`] output. Errors name the
    /// variable whose moment is missing or has another shape.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for p in self.params.iter_mut() {
            for (kind, slot) in [("m", &mut p.m), ("v", &mut p.v)] {
                let key = format!("optim.{kind}.{}", p.name);
                let t = tensors.get(&key).with_context(|| format!("optimiser state has no {key}"))?;
                if t.shape() != slot.shape() {
                    bail!("optimiser state {key}: shape {:?}, expected {:?}", t.dims(), slot.dims());
                }
                *slot = t.to_dtype(DType::F32)?.to_device(slot.device())?;
            }
        }
        self.step = step;
        Ok(())
    }

    /// Sets variable `name` (and its master copy) to `value` (any dtype; cast as needed).
    pub fn set_value(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let p =
            self.params.iter_mut().find(|p| p.name == name).with_context(|| format!("no optimised variable {name}"))?;
        let value = value.to_device(p.var.device())?;
        ensure!(value.shape() == p.var.shape(), "{name}: shape {:?}, expected {:?}", value.dims(), p.var.dims());
        p.var.set(&value.to_dtype(p.var.dtype())?)?;
        if let Some(m) = &mut p.master {
            *m = value.to_dtype(DType::F32)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn one_var(value: f32, dtype: DType) -> (Var, AdamW) {
        let var = Var::from_tensor(&Tensor::new(&[value], &Device::Cpu).unwrap().to_dtype(dtype).unwrap()).unwrap();
        let opt =
            AdamW::new(vec![("w".into(), var.clone(), 0)], vec![GroupParams { lr: 0.1, weight_decay: 0.01 }]).unwrap();
        (var, opt)
    }

    fn grad_of(var: &Var, g: f32) -> GradAccumulator {
        // loss = g·w has gradient g.
        let loss = (var.as_tensor() * g as f64).unwrap().sum_all().unwrap();
        let mut acc = GradAccumulator::new();
        acc.add(&loss.backward().unwrap(), std::slice::from_ref(var)).unwrap();
        acc
    }

    #[test]
    fn two_steps_match_hand_computation() {
        let (var, mut opt) = one_var(1.0, DType::F32);
        // Step 1, g = 2: decay 1·(1 − 0.1·0.01) = 0.999; m = 0.2, v = 0.004, m̂ = 2, v̂ = 4,
        // update = 0.1·2/(2 + 1e-8) ≈ 0.1 → 0.899.
        opt.step(&grad_of(&var, 2.0), 1.0).unwrap();
        let w1 = var.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((w1 - 0.899).abs() < 1e-6, "{w1}");
        // Step 2, g = −1: decay 0.899·0.999 = 0.898101; m = 0.9·0.2 − 0.1 = 0.08,
        // v = 0.999·0.004 + 0.001 = 0.004996; m̂ = 0.08/0.19 = 0.4210526,
        // v̂ = 0.004996/0.001999 = 2.4992496, sqrt = 1.5808984; update = 0.1·0.2663375 = 0.02663375
        // → 0.898101 − 0.02663375 = 0.87146725.
        opt.step(&grad_of(&var, -1.0), 1.0).unwrap();
        let w2 = var.as_tensor().to_vec1::<f32>().unwrap()[0];
        assert!((w2 - 0.871_467_25).abs() < 1e-6, "{w2}");
        assert_eq!(opt.step_count(), 2);
    }

    #[test]
    fn bf16_variable_keeps_small_updates_in_master() {
        // lr·sign(g) = 1e-4 per step on w = 1: bf16 spacing at 1 is 2^-7 = 0.0078, so a plain bf16
        // update would be lost; the f32 master accumulates 3 steps to 1 − 3e-4 (decay 0 here).
        let var =
            Var::from_tensor(&Tensor::new(&[1f32], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap()).unwrap();
        let mut opt =
            AdamW::new(vec![("w".into(), var.clone(), 0)], vec![GroupParams { lr: 1e-4, weight_decay: 0.0 }]).unwrap();
        for _ in 0..3 {
            opt.step(&grad_of(&var, 1.0), 1.0).unwrap();
        }
        let m = opt.master_value("w").unwrap().to_vec1::<f32>().unwrap()[0];
        assert!((m - 0.9997).abs() < 1e-6, "{m}");
    }

    #[test]
    fn state_round_trip_restores_moments() {
        let (var, mut opt) = one_var(1.0, DType::F32);
        opt.step(&grad_of(&var, 2.0), 1.0).unwrap();
        let state: HashMap<String, Tensor> = opt.state_tensors().unwrap().into_iter().collect();
        // m after one step with g = 2 is (1 − 0.9)·2 = 0.2; v = (1 − 0.999)·4 = 0.004.
        assert!((state["optim.m.w"].to_vec1::<f32>().unwrap()[0] - 0.2).abs() < 1e-7);
        assert!((state["optim.v.w"].to_vec1::<f32>().unwrap()[0] - 0.004).abs() < 1e-9);
        let (var2, mut opt2) = one_var(0.899, DType::F32);
        opt2.load_state(&state, 1).unwrap();
        opt.step(&grad_of(&var, -1.0), 1.0).unwrap();
        opt2.step(&grad_of(&var2, -1.0), 1.0).unwrap();
        let (a, b) = (var.as_tensor().to_vec1::<f32>().unwrap()[0], var2.as_tensor().to_vec1::<f32>().unwrap()[0]);
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        let mut missing = state.clone();
        missing.remove("optim.v.w");
        assert!(opt2.load_state(&missing, 1).unwrap_err().to_string().contains("optim.v.w"));
    }
}
