//! Seeded host randomness (DESIGN §2 "seed 0"; determinism).
//!
//! candle's CPU backend cannot be seeded (`Device::set_seed` errors on CPU), so every random
//! number (weight init, shuffling, diffusion noise, time steps, dropout masks) is drawn here from a
//! ChaCha-based `StdRng` and copied to the device. The same seed gives the same tensors.

use anyhow::Result;
use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// A seeded host RNG.
pub struct HostRng(pub StdRng);

impl HostRng {
    /// RNG for `seed`, decorrelated per purpose by `stream` (e.g. 1 = init, 2 = shuffling).
    pub fn new(seed: u64, stream: u64) -> Self {
        Self(StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream))
    }

    /// Standard normal f32 tensor of `shape` (rows, cols).
    pub fn normal(&mut self, rows: usize, cols: usize, device: &Device) -> Result<Tensor> {
        let v: Vec<f32> = (0..rows * cols).map(|_| self.0.sample(StandardNormal)).collect();
        Ok(Tensor::from_vec(v, (rows, cols), device)?)
    }

    /// Uniform f32 tensor in `[-bound, bound)` of shape (rows, cols).
    pub fn uniform(&mut self, rows: usize, cols: usize, bound: f64, device: &Device) -> Result<Tensor> {
        let b = bound as f32;
        let v: Vec<f32> = (0..rows * cols).map(|_| self.0.random_range(-b..b)).collect();
        Ok(Tensor::from_vec(v, (rows, cols), device)?)
    }

    /// Shuffles `v` in place.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        v.shuffle(&mut self.0);
    }

    /// `n` integers uniform in `[lo, hi]` (inclusive), as u32.
    pub fn ints(&mut self, n: usize, lo: u32, hi: u32) -> Vec<u32> {
        (0..n).map(|_| self.0.random_range(lo..=hi)).collect()
    }

    /// Keep-mask for dropout with drop probability `p`, scaled by `1/(1-p)`: (rows, cols) f32.
    pub fn dropout_mask(&mut self, rows: usize, cols: usize, p: f64, device: &Device) -> Result<Tensor> {
        let scale = (1.0 / (1.0 - p)) as f32;
        let v: Vec<f32> = (0..rows * cols).map(|_| if self.0.random::<f64>() < p { 0.0 } else { scale }).collect();
        Ok(Tensor::from_vec(v, (rows, cols), device)?)
    }

    /// Bernoulli(p) row mask (rows, 1) f32: 1.0 where the event happened.
    pub fn bernoulli_rows(&mut self, rows: usize, p: f64, device: &Device) -> Result<Tensor> {
        let v: Vec<f32> = (0..rows).map(|_| if self.0.random::<f64>() < p { 1.0 } else { 0.0 }).collect();
        Ok(Tensor::from_vec(v, (rows, 1), device)?)
    }
}

/// Applies dropout with probability `p` (no-op when `p == 0` or not training).
pub fn dropout(x: &Tensor, p: f64, train: bool, rng: &mut HostRng) -> Result<Tensor> {
    if !train || p <= 0.0 {
        return Ok(x.clone());
    }
    let (r, c) = x.dims2()?;
    let mask = rng.dropout_mask(r, c, p, x.device())?;
    Ok(x.mul(&mask)?)
}
