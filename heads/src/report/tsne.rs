//! 2-D t-SNE (van der Maaten & Hinton 2008, "Visualizing Data using t-SNE") of feature rows, for
//! the paper's fig. 3 (x_v next to x_CDR).
//!
//! The algorithm is the `bhtsne` crate's exact t-SNE: per-row binary search of the Gaussian
//! bandwidth so that each conditional distribution P_{·|i} has entropy ln(perplexity) (tolerance
//! 1e-5), symmetrised P, early exaggeration (12, for the first quarter of the epochs, at most
//! 250), Student-t Q, gradient descent with momentum (0.5 → 0.8) and per-coordinate gains.
//! This module adds what a plot needs on top: a seeded initial embedding (N(0, 1e-4²) from a
//! ChaCha `StdRng`), a perplexity clamped to the sample count instead of the crate's panic, and a
//! single-threaded run so the result is bit-identical for a given seed (the crate sums Q with a
//! rayon reduction whose split order depends on thread timing).

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Options of [`tsne_2d`].
#[derive(Debug, Clone, PartialEq)]
pub struct TsneOptions {
    /// Target perplexity (effective number of neighbours); lowered to `(n - 1) / 3` for small n.
    pub perplexity: f32,
    /// Gradient-descent iterations.
    pub epochs: usize,
    /// Factor on P during the first `min(250, epochs / 4)` iterations.
    pub early_exaggeration: f32,
    /// Seed of the initial embedding.
    pub seed: u64,
}

impl Default for TsneOptions {
    /// Perplexity 30, 1000 epochs, exaggeration 12, seed 0 (the paper's and scikit-learn's
    /// usual settings).
    fn default() -> Self {
        Self { perplexity: 30.0, epochs: 1000, early_exaggeration: 12.0, seed: 0 }
    }
}

/// Fewest points [`tsne_2d`] accepts (perplexity ≥ 1 needs three neighbours per point).
pub const MIN_POINTS: usize = 4;

/// The perplexity actually used for `n` points: `requested` capped at `(n - 1) / 3`, since a
/// point cannot have more effective neighbours than a third of the others (the crate's limit).
pub fn effective_perplexity(n: usize, requested: f32) -> f32 {
    requested.min(n.saturating_sub(1) as f32 / 3.0)
}

/// Embeds `n = data.len() / dim` rows of `data` (row-major `(n, dim)`, f32) in 2-D.
///
/// Returns `n` points `[x, y]` in the input order. Euclidean distances between rows.
///
/// # Errors
/// `dim == 0`, `data.len()` not a multiple of `dim`, fewer than [`MIN_POINTS`] rows, a
/// non-finite input value, a perplexity below 1 after capping, `epochs == 0`, or a non-finite
/// result.
pub fn tsne_2d(data: &[f32], dim: usize, opts: &TsneOptions) -> Result<Vec<[f32; 2]>> {
    if dim == 0 || !data.len().is_multiple_of(dim) {
        bail!("t-SNE input of {} values is not a whole number of rows of width {dim}", data.len());
    }
    let n = data.len() / dim;
    if n < MIN_POINTS {
        bail!("t-SNE needs at least {MIN_POINTS} points, got {n}");
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        bail!("t-SNE input row {} has a non-finite value", i / dim);
    }
    if opts.epochs == 0 {
        bail!("t-SNE needs at least one epoch");
    }
    let perplexity = effective_perplexity(n, opts.perplexity);
    if perplexity.is_nan() || perplexity < 1.0 {
        bail!("t-SNE perplexity {} (capped to {perplexity} for {n} points) must be at least 1", opts.perplexity);
    }
    if opts.early_exaggeration.is_nan() || opts.early_exaggeration < 1.0 {
        bail!("t-SNE early exaggeration {} must be at least 1", opts.early_exaggeration);
    }

    let init = initial_embedding(n, opts.seed);
    let rows: Vec<&[f32]> = data.chunks(dim).collect();
    let stop_lying = (opts.epochs / 4).min(250);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().context("creating the t-SNE thread pool")?;
    let flat: Vec<f32> = pool.install(|| {
        let mut tsne: bhtsne::tSNE<f32, &[f32]> = bhtsne::tSNE::new(&rows);
        tsne.perplexity(perplexity)
            .epochs(opts.epochs)
            .early_exaggeration(opts.early_exaggeration)
            .stop_lying_epoch(stop_lying)
            .momentum_switch_epoch(stop_lying)
            .initial_embedding(init)
            .exact(|a, b| euclidean(a, b));
        tsne.embedding()
    });
    if flat.len() != 2 * n || flat.iter().any(|v| !v.is_finite()) {
        bail!("t-SNE diverged (non-finite coordinates); try a lower perplexity");
    }
    Ok(flat.chunks(2).map(|p| [p[0], p[1]]).collect())
}

/// Euclidean distance of two rows (the crate squares it for the Gaussian kernel).
fn euclidean(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt()
}

/// `2n` values from N(0, (1e-4)²) (Box–Muller on a seeded `StdRng`), the usual t-SNE start.
fn initial_embedding(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..2 * n)
        .map(|_| {
            let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
            let u2: f64 = rng.random::<f64>();
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            (1e-4 * z) as f32
        })
        .collect()
}

/// Picks the rows to embed for the fig. 3 plot: the `max_classes` classes with the most rows
/// (ties: lower class index first), then the first `per_class` rows of each in input order.
///
/// Returns row indices in increasing order.
pub fn select_subset(labels: &[u32], max_classes: usize, per_class: usize) -> Vec<usize> {
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let mut by_size: Vec<(u32, usize)> = counts.into_iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let chosen: Vec<u32> = by_size.into_iter().take(max_classes).map(|(c, _)| c).collect();
    let mut taken = std::collections::BTreeMap::<u32, usize>::new();
    labels
        .iter()
        .enumerate()
        .filter(|(_, l)| chosen.contains(l))
        .filter(|(_, &l)| {
            let t = taken.entry(l).or_default();
            *t += 1;
            *t <= per_class
        })
        .map(|(i, _)| i)
        .collect()
}
