//! Gradient accumulation over micro-batches: the gradients of several backward passes are
//! summed per variable (in f32) before one optimiser step, so `--accum-steps N` micro-batches of
//! size B update the weights like one batch of N·B rows (each micro-batch loss is weighted by its
//! share of the rows, i.e. `1/N` for equal micro-batches). Exception: the InfoNCE loss `L_ITA`
//! only sees the negatives inside its micro-batch.

use anyhow::Result;
use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, TensorId, Var};
use std::collections::HashMap;

/// Summed gradients keyed by variable.
#[derive(Default)]
pub struct GradAccumulator {
    sums: HashMap<TensorId, Tensor>,
}

impl GradAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the gradients of `vars` found in `grads` (a variable absent from the graph is skipped).
    pub fn add(&mut self, grads: &GradStore, vars: &[Var]) -> Result<()> {
        for v in vars {
            let Some(g) = grads.get(v.as_tensor()) else { continue };
            let g = g.to_dtype(DType::F32)?;
            let id = v.as_tensor().id();
            let next = match self.sums.remove(&id) {
                Some(s) => (s + g)?,
                None => g,
            };
            self.sums.insert(id, next);
        }
        Ok(())
    }

    /// The summed gradient of `var` (f32), if any micro-batch produced one.
    pub fn get(&self, var: &Var) -> Option<&Tensor> {
        self.sums.get(&var.as_tensor().id())
    }

    /// Number of variables with a gradient.
    pub fn len(&self) -> usize {
        self.sums.len()
    }

    /// True when no gradient was added.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn sums_gradients_of_two_backward_passes() {
        let w = Var::from_tensor(&Tensor::new(&[1f32, 2.], &Device::Cpu).unwrap()).unwrap();
        let other = Var::from_tensor(&Tensor::new(&[5f32], &Device::Cpu).unwrap()).unwrap();
        let mut acc = GradAccumulator::new();
        // d/dw sum(w²)·0.5 = w = [1, 2]; d/dw sum(3w)·0.5 = [1.5, 1.5]; total [2.5, 3.5].
        let l1 = (w.as_tensor().sqr().unwrap().sum_all().unwrap() * 0.5).unwrap();
        let l2 = ((w.as_tensor() * 3.0).unwrap().sum_all().unwrap() * 0.5).unwrap();
        let vars = [w.clone(), other.clone()];
        acc.add(&l1.backward().unwrap(), &vars).unwrap();
        acc.add(&l2.backward().unwrap(), &vars).unwrap();
        assert_eq!(acc.get(&w).unwrap().to_vec1::<f32>().unwrap(), vec![2.5, 3.5]);
        assert!(acc.get(&other).is_none());
        assert_eq!(acc.len(), 1);
    }
}
