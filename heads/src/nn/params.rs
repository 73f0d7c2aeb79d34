//! Trainable parameters: a candle `VarMap` filled from the seeded host RNG.
//!
//! Layers use PyTorch's `nn.Linear` default init (weights and bias uniform in
//! `±1/sqrt(in_features)`), drawn from [`HostRng`] so that a seed fixes the init exactly
//! (candle's own initialisers use an unseedable RNG on CPU).

use crate::nn::linear::Linear;
use crate::nn::rng::HostRng;
use anyhow::Result;
use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;

/// Creates named variables in a shared `VarMap` (the names become safetensors keys).
pub struct ParamBuilder<'a> {
    pub varmap: &'a VarMap,
    pub rng: &'a mut HostRng,
    pub device: Device,
    prefix: String,
}

impl<'a> ParamBuilder<'a> {
    /// A builder writing into `varmap`, drawing from `rng`.
    pub fn new(varmap: &'a VarMap, rng: &'a mut HostRng, device: &Device) -> Self {
        Self { varmap, rng, device: device.clone(), prefix: String::new() }
    }

    /// Full name of `name` under the current prefix.
    fn full(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Runs `f` with `prefix.` prepended to every name it creates.
    pub fn scoped<T>(&mut self, prefix: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        let old = self.prefix.clone();
        self.prefix = format!("{old}{prefix}.");
        let out = f(self);
        self.prefix = old;
        out
    }

    /// Registers `value` as a trainable variable `name`; returns the variable.
    pub fn var(&mut self, name: &str, value: Tensor) -> Result<Var> {
        let var = Var::from_tensor(&value)?;
        let key = self.full(name);
        let mut map = self.varmap.data().lock().map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?;
        anyhow::ensure!(!map.contains_key(&key), "parameter `{key}` defined twice");
        map.insert(key, var.clone());
        Ok(var)
    }

    /// A Linear layer `in_dim -> out_dim` (weight (out, in), bias (out)), PyTorch default init.
    pub fn linear(&mut self, name: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let w = self.rng.uniform(out_dim, in_dim, bound, &self.device)?;
        let b = self.rng.uniform(1, out_dim, bound, &self.device)?.reshape(out_dim)?;
        let w = self.var(&format!("{name}.weight"), w)?;
        let b = self.var(&format!("{name}.bias"), b)?;
        Ok(Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())))
    }

    /// A Linear layer without bias.
    pub fn linear_no_bias(&mut self, name: &str, in_dim: usize, out_dim: usize) -> Result<Linear> {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let w = self.rng.uniform(out_dim, in_dim, bound, &self.device)?;
        let w = self.var(&format!("{name}.weight"), w)?;
        Ok(Linear::new(w.as_tensor().clone(), None))
    }
}

/// Variables of `varmap` whose name starts with one of `prefixes`, sorted by name (stable order
/// for the optimiser).
pub fn vars_with_prefix(varmap: &VarMap, prefixes: &[&str]) -> Vec<Var> {
    let map = varmap.data().lock().expect("VarMap lock poisoned");
    let mut named: Vec<(&String, &Var)> =
        map.iter().filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p))).collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    named.into_iter().map(|(_, v)| v.clone()).collect()
}

/// `(name, variable)` pairs of `varmap` whose name starts with one of `prefixes`, sorted by
/// name (the optimiser's order; the names decide the weight-decay group, [`crate::optim::decays_by_default`]).
pub fn named_vars_with_prefix(varmap: &VarMap, prefixes: &[&str]) -> Vec<(String, Var)> {
    let map = varmap.data().lock().expect("VarMap lock poisoned");
    let mut named: Vec<(String, Var)> = map
        .iter()
        .filter(|(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Sorted `(name, variable)` pairs of a VarMap (stable optimiser order).
pub trait SortedVars {
    fn all_named_vars_sorted(&self) -> Vec<(String, Var)>;
}

impl SortedVars for VarMap {
    fn all_named_vars_sorted(&self) -> Vec<(String, Var)> {
        named_vars_with_prefix(self, &[""])
    }
}
