//! A `VarBuilder` backend that loads pretrained weights and turns the trainable ones into candle
//! `Var`s (collected in a `VarMap` under their HF tensor names), while frozen ones stay plain
//! tensors. Encoders of `marnet_extract` are built from any `VarBuilder`, so the same code gives
//! a frozen extractor or a fine-tunable backbone.
//!
//! Compared with building on `VarBuilder::from_varmap` and loading the safetensors afterwards,
//! this never allocates random initial values, and frozen blocks are not variables at all: the
//! backward pass stops at the first trainable block and frozen weights cannot change.
//! A name requested twice (CLIP's `post_layernorm` is read by the tower and by the pooling)
//! returns the same variable, so both uses train one tensor.

use candle_core::{DType, Device, Result, Shape, Tensor, Var};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};
use std::sync::Arc;

/// Decides from an HF tensor name whether it trains.
pub type TrainablePredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The backend: pretrained source + VarMap of the trainable tensors.
pub struct TrainableBackend {
    source: VarBuilder<'static>,
    varmap: VarMap,
    trainable: TrainablePredicate,
}

impl TrainableBackend {
    /// A `VarBuilder` reading from `source` (e.g. `ModelFiles::var_builder`), registering every
    /// tensor for which `trainable(name)` holds as a variable in `varmap`.
    pub fn var_builder(
        source: VarBuilder<'static>,
        varmap: VarMap,
        trainable: TrainablePredicate,
        dtype: DType,
        device: &Device,
    ) -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(TrainableBackend { source, varmap, trainable }), dtype, device.clone())
    }

    fn existing(&self, name: &str) -> Option<Tensor> {
        let map = self.varmap.data().lock().ok()?;
        map.get(name).map(|v| v.as_tensor().clone())
    }

    fn register(&self, name: &str, t: Tensor) -> Result<Tensor> {
        if !(self.trainable)(name) {
            return Ok(t);
        }
        let mut map = self.varmap.data().lock().map_err(|_| candle_core::Error::Msg("VarMap lock poisoned".into()))?;
        if let Some(v) = map.get(name) {
            return Ok(v.as_tensor().clone());
        }
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        map.insert(name.to_string(), var);
        Ok(out)
    }
}

impl SimpleBackend for TrainableBackend {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, _dev: &Device) -> Result<Tensor> {
        if let Some(t) = self.existing(name) {
            if t.shape() != &s {
                candle_core::bail!("shape mismatch for {name}: {:?} requested, variable has {:?}", s, t.shape());
            }
            return Ok(t);
        }
        let t = self.source.get_with_hints_dtype(s, name, h, dtype)?;
        self.register(name, t)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, _dev: &Device) -> Result<Tensor> {
        if let Some(t) = self.existing(name) {
            return Ok(t);
        }
        let t = self.source.get_unchecked_dtype(name, dtype)?;
        self.register(name, t)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.source.contains_tensor(name)
    }
}

/// `(name, var)` pairs of a VarMap sorted by name (a stable order for the optimiser and files).
pub fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let map = varmap.data().lock().expect("VarMap lock poisoned");
    let mut v: Vec<(String, Var)> = map.iter().map(|(k, var)| (k.clone(), var.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Module;
    use std::collections::HashMap;

    #[test]
    fn trainable_names_become_shared_vars_and_frozen_stay_plain() {
        let dev = Device::Cpu;
        let mut src = HashMap::new();
        src.insert("a.weight".to_string(), Tensor::new(&[[1f32, 2.]], &dev).unwrap());
        src.insert("b.weight".to_string(), Tensor::new(&[[3f32, 4.]], &dev).unwrap());
        let source = VarBuilder::from_tensors(src, DType::F32, &dev);
        let varmap = VarMap::new();
        let vb = TrainableBackend::var_builder(
            source,
            varmap.clone(),
            Arc::new(|n: &str| n.starts_with("a.")),
            DType::F32,
            &dev,
        );
        let a1 = candle_nn::linear_no_bias(2, 1, vb.pp("a")).unwrap();
        let a2 = candle_nn::linear_no_bias(2, 1, vb.pp("a")).unwrap();
        let b = candle_nn::linear_no_bias(2, 1, vb.pp("b")).unwrap();
        let vars = sorted_vars(&varmap);
        assert_eq!(vars.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["a.weight"]);
        // Values come from the source: x = [1, 1] gives 1 + 2 = 3 and 3 + 4 = 7.
        let x = Tensor::new(&[[1f32, 1.]], &dev).unwrap();
        assert_eq!(a1.forward(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![3.]]);
        assert_eq!(b.forward(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![7.]]);
        // Both uses of `a` read the one variable; `b` has no gradient (not a variable).
        let loss =
            (a1.forward(&x).unwrap() + a2.forward(&x).unwrap() + b.forward(&x).unwrap()).unwrap().sum_all().unwrap();
        let grads = loss.backward().unwrap();
        // d/da of (a·x + a·x) = 2x = [2, 2].
        assert_eq!(grads.get(vars[0].1.as_tensor()).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2., 2.]]);
        vars[0].1.set(&Tensor::new(&[[0f32, 0.]], &dev).unwrap()).unwrap();
        assert_eq!(a2.forward(&x).unwrap().to_vec2::<f32>().unwrap(), vec![vec![0.]]);
    }
}
