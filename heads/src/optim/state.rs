//! The optimiser state as named tensors, so that a fine-tune resumed from a checkpoint continues
//! with the same moments (candle_nn's `AdamW` keeps them private).
//!
//! Names: `optim.m.<param>` and `optim.v.<param>` (f32, the variable's shape); the step count is
//! stored by the caller (checkpoint metadata).

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;

use super::{AdamW, Moments};

impl AdamW {
    /// The moments of every variable as `optim.m.<name>`, `optim.v.<name>` (f32; host moments
    /// as CPU tensors). The step count is [`AdamW::step_count`].
    ///
    /// # Errors
    /// candle errors building the tensors.
    pub fn state_tensors(&self) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            let (m, v) = match &s.moments {
                Moments::Host { m, v } => (
                    Tensor::from_slice(m, s.var.shape(), &Device::Cpu)?,
                    Tensor::from_slice(v, s.var.shape(), &Device::Cpu)?,
                ),
                Moments::Device { m, v, .. } => (m.clone(), v.clone()),
            };
            out.push((format!("optim.m.{}", s.name), m));
            out.push((format!("optim.v.{}", s.name), v));
        }
        Ok(out)
    }

    /// Restores moments and step count from [`AdamW::state_tensors`] output.
    ///
    /// # Errors
    /// A missing moment or one of another shape, naming it.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for s in self.slots.iter_mut() {
            let shape = s.var.shape().clone();
            let get = |kind: &str| -> Result<Tensor> {
                let key = format!("optim.{kind}.{}", s.name);
                let t = tensors.get(&key).with_context(|| format!("optimiser state has no {key}"))?;
                if t.shape() != &shape {
                    bail!("optimiser state {key}: shape {:?}, expected {:?}", t.dims(), shape.dims());
                }
                Ok(t.to_dtype(DType::F32)?)
            };
            let (m_new, v_new) = (get("m")?, get("v")?);
            match &mut s.moments {
                Moments::Host { m, v } => {
                    *m = m_new.flatten_all()?.to_vec1::<f32>()?;
                    *v = v_new.flatten_all()?.to_vec1::<f32>()?;
                }
                Moments::Device { m, v, .. } => {
                    *m = m_new.to_device(s.var.device())?;
                    *v = v_new.to_device(s.var.device())?;
                }
            }
        }
        self.step = step;
        Ok(())
    }

    /// The f32 value of variable `name` (the master copy for bf16/f16 variables).
    pub fn master_value(&self, name: &str) -> Option<Tensor> {
        let s = self.slots.iter().find(|s| s.name == name)?;
        match &s.moments {
            Moments::Device { master: Some(w), .. } => Some(w.clone()),
            _ => Some(s.var.as_tensor().detach()),
        }
    }

    /// Sets variable `name` (and its master copy) to `value` (any dtype; cast as needed).
    ///
    /// # Errors
    /// An unknown name or a value of another shape.
    pub fn set_value(&mut self, name: &str, value: &Tensor) -> Result<()> {
        let s =
            self.slots.iter_mut().find(|s| s.name == name).with_context(|| format!("no optimised variable {name}"))?;
        let value = value.to_device(s.var.device())?;
        ensure!(value.shape() == s.var.shape(), "{name}: shape {:?}, expected {:?}", value.dims(), s.var.dims());
        s.var.set(&value.to_dtype(s.var.dtype())?)?;
        if let Moments::Device { master: Some(w), .. } = &mut s.moments {
            *w = value.to_dtype(DType::F32)?;
        }
        Ok(())
    }
}
