//! Mode `probe`: the field's yardstick for frozen features, CLIP's linear-probe
//! protocol (Radford et al. 2021, §3.2 and appendix A.3): multinomial logistic regression on the
//! raw `x_v`, fitted to convergence by L-BFGS, its L2 strength chosen on val top-1.
//!
//! The solver is `linfa-logistic` (argmin's L-BFGS with a Moré-Thuente line search), minimising
//! `Σ_i CE(W x_i + b, y_i) + λ/2·‖W‖²` (the bias is not penalised; `λ = 1/C` of scikit-learn,
//! which CLIP used). Every `λ` of the config key `probe_l2` is fitted on the train rows; the one
//! with the best val top-1 is kept (ties: the stronger regularisation). The fits run from the
//! strongest to the weakest `λ`, each warm-started from the previous solution (a
//! regularisation path). The fit is deterministic: every seed gives the same probe. Computed in
//! f64 on the host (ndarray's matrixmultiply, multithreaded).

use super::features::Features;
use super::result::{finish, map_rows, top1_of, Mode, ModeExtras, ModeResult};
use super::rng_streams as streams;
use crate::model::config::HeadsConfig;
use crate::nn::params::ParamBuilder;
use crate::nn::rng::HostRng;
use anyhow::{bail, Context, Result};
use candle_core::{Tensor, D};
use candle_nn::VarMap;
use linfa::prelude::*;
use linfa::DatasetView;
use linfa_logistic::MultiLogisticRegression;
use ndarray16::{Array1, Array2};

/// Bias given to a class that has no train row: its logit stays far below the others.
const ABSENT_CLASS_BIAS: f32 = -1.0e4;

/// A fitted multinomial logistic regression: logits `x Wᵀ + b`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeWeights {
    /// (k, d) row-major f32.
    pub weight: Vec<f32>,
    /// (k,) f32.
    pub bias: Vec<f32>,
}

/// The train rows of a probe in the solver's form (f64), fitted for several `λ`.
pub struct ProbeProblem {
    /// (n, d) f64.
    records: Array2<f64>,
    /// (n,) class indices.
    targets: Array1<usize>,
    d: usize,
    k: usize,
    /// Classes with at least one row, ascending: the solver's columns.
    present: Vec<usize>,
}

impl ProbeProblem {
    /// `x` is (n, d) row-major, `labels` (n,) in `0..k`.
    ///
    /// # Errors
    /// Empty input, shapes that disagree or a label `>= k`.
    pub fn new(x: &[f32], d: usize, labels: &[u32], k: usize) -> Result<Self> {
        let n = labels.len();
        if n == 0 || d == 0 || x.len() != n * d {
            bail!("linear probe: expected (n, d) = ({n}, {d}) features, got {} values", x.len());
        }
        if let Some(bad) = labels.iter().find(|&&l| l as usize >= k) {
            bail!("linear probe: label {bad} out of range for {k} classes");
        }
        let records = Array2::from_shape_vec((n, d), x.iter().map(|&v| v as f64).collect())?;
        let targets: Array1<usize> = labels.iter().map(|&l| l as usize).collect();
        let present: Vec<usize> =
            targets.iter().copied().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        Ok(Self { records, targets, d, k, present })
    }

    /// Fits with L2 strength `l2` by L-BFGS (at most `max_iter` iterations, gradient tolerance
    /// 1e-4), starting from `warm` (the solver parameters of a previous fit, (d + 1, classes)) or
    /// from zeros. Returns the weights and the solver parameters for the next warm start.
    /// Classes without a row get zero weights and a very negative bias.
    ///
    /// # Errors
    /// A solver error (non-finite values).
    pub fn fit(
        &self,
        l2: f64,
        max_iter: usize,
        warm: Option<&Array2<f64>>,
    ) -> Result<(ProbeWeights, Option<Array2<f64>>)> {
        let (d, k) = (self.d, self.k);
        let mut weight = vec![0f32; k * d];
        let mut bias = vec![ABSENT_CLASS_BIAS; k];
        if self.present.len() == 1 {
            // One class only: it is always predicted.
            bias[self.present[0]] = 0.0;
            return Ok((ProbeWeights { weight, bias }, None));
        }
        let mut solver =
            MultiLogisticRegression::default().alpha(l2).max_iterations(max_iter as u64).gradient_tolerance(1e-4);
        if let Some(w) = warm {
            solver = solver.initial_params(w.clone());
        }
        let fitted = solver
            .fit(&DatasetView::new(self.records.view(), self.targets.view()))
            .with_context(|| format!("linear probe: L-BFGS fit with L2 strength {l2}"))?;
        // params: (d, classes) in the order of `classes()`; intercept: (classes,).
        let (params, intercept) = (fitted.params(), fitted.intercept());
        for (col, &class) in fitted.classes().iter().enumerate() {
            for j in 0..d {
                weight[class * d + j] = params[[j, col]] as f32;
            }
            bias[class] = intercept[col] as f32;
        }
        let mut next = Array2::zeros((d + 1, params.ncols()));
        next.slice_mut(ndarray16::s![..d, ..]).assign(params);
        next.row_mut(d).assign(intercept);
        Ok((ProbeWeights { weight, bias }, Some(next)))
    }
}

/// Fits multinomial logistic regression with L2 strength `l2` by L-BFGS (at most `max_iter`
/// iterations, gradient tolerance 1e-4) from zeros; see [`ProbeProblem`].
///
/// # Errors
/// Empty input, shapes that disagree, a label `>= k`, or a solver error (non-finite values).
pub fn fit_multinomial(
    x: &[f32],
    d: usize,
    labels: &[u32],
    k: usize,
    l2: f64,
    max_iter: usize,
) -> Result<ProbeWeights> {
    Ok(ProbeProblem::new(x, d, labels, k)?.fit(l2, max_iter, None)?.0)
}

/// Trains mode `probe` on `x_v` (see the module docs). `seed` only labels the result.
///
/// # Errors
/// See [`fit_multinomial`]; also empty splits.
pub fn train_probe(f: &Features, cfg: &HeadsConfig, seed: u64) -> Result<ModeResult> {
    let (d, k) = (f.d_v, f.num_classes());
    let rows_of = |rows: &[u32]| -> Result<Vec<f32>> {
        let idx = Tensor::from_slice(rows, rows.len(), &f.device)?;
        Ok(f.x_v.index_select(&idx, 0)?.flatten_all()?.to_vec1::<f32>()?)
    };
    let x_train = rows_of(&f.train)?;
    let y_train = f.labels_of(&f.train);
    let logits = |w: &ProbeWeights, rows: &[u32]| -> Result<Tensor> {
        let wt = Tensor::from_slice(&w.weight, (k, d), &f.device)?.t()?;
        let b = Tensor::from_slice(&w.bias, k, &f.device)?;
        map_rows(f, rows, |idx| Ok(f.x_v.index_select(idx, 0)?.matmul(&wt)?.broadcast_add(&b)?))
    };
    let problem = ProbeProblem::new(&x_train, d, &y_train, k)?;
    let mut best: Option<(f64, f64, ProbeWeights)> = None;
    let mut lambdas = cfg.probe.probe_l2.clone();
    // Strongest regularisation first, so that ties keep it; each fit starts from the previous
    // solution (a regularisation path), which cuts the L-BFGS iterations on large splits.
    lambdas.sort_by(|a, b| b.total_cmp(a));
    let mut warm = None;
    for l2 in lambdas {
        let (w, next) = problem.fit(l2, cfg.probe.probe_max_iter, warm.as_ref())?;
        warm = next;
        let top1 = top1_of(f, &logits(&w, &f.val)?, &f.val)?;
        if best.as_ref().is_none_or(|(b, _, _)| top1 > *b) {
            best = Some((top1, l2, w));
        }
    }
    let Some((_, l2, w)) = best else { bail!("config key `probe_l2` is empty") };
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, streams::INIT);
    ParamBuilder::new(&varmap, &mut init, &f.device).scoped("probe", |pb| {
        pb.var("classifier.weight", Tensor::from_slice(&w.weight, (k, d), &f.device)?)?;
        pb.var("classifier.bias", Tensor::from_slice(&w.bias, k, &f.device)?)?;
        Ok(())
    })?;
    let (val, test) = (logits(&w, &f.val)?, logits(&w, &f.test)?);
    debug_assert_eq!(val.dim(D::Minus1)?, k);
    let mut res = finish(f, Mode::Probe, seed, &val, &test, Vec::new(), &varmap, ModeExtras::default())?;
    res.probe_l2 = Some(l2);
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probability of class 1 for input `x` under the fitted weights.
    fn p1(w: &ProbeWeights, d: usize, x: &[f32]) -> f64 {
        let z: Vec<f64> = (0..2)
            .map(|c| (0..d).map(|j| (w.weight[c * d + j] * x[j]) as f64).sum::<f64>() + w.bias[c] as f64)
            .collect();
        1.0 / (1.0 + (z[0] - z[1]).exp())
    }

    #[test]
    fn separates_two_separable_classes() {
        // Class 0 around (-2, 0), class 1 around (+2, 0): linearly separable.
        let x = [-2.0, 0.1, -2.5, -0.3, -1.5, 0.4, 2.0, -0.2, 2.4, 0.3, 1.6, 0.0f32];
        let y = [0, 0, 0, 1, 1, 1];
        let w = fit_multinomial(&x, 2, &y, 2, 1e-3, 1000).unwrap();
        for (i, &label) in y.iter().enumerate() {
            let p = p1(&w, 2, &x[2 * i..2 * i + 2]);
            assert_eq!(p > 0.5, label == 1, "row {i}: p1 = {p}");
        }
    }

    #[test]
    fn three_points_match_the_optimum_solved_by_hand() {
        // 3 samples x 1 feature, 2 classes: x = (-1, 0, 1), y = (0, 1, 1), λ = 1.
        // With softmax over 2 classes only u = w1 - w0 and c = b1 - b0 matter; the L2 term
        // λ/2 (w0² + w1²) is smallest at w0 = -w1 for a given u, i.e. λ u²/4. So the optimum
        // minimises L(u, c) = Σ_i softplus(-s_i (u x_i + c)) + u²/4 with s = (-1, +1, +1).
        // Solved here by Newton's method on (u, c) (2x2, independent of the solver under test).
        let xs = [-1.0f64, 0.0, 1.0];
        let s = [-1.0f64, 1.0, 1.0];
        let (mut u, mut c) = (0.0f64, 0.0f64);
        for _ in 0..50 {
            let (mut gu, mut gc, mut huu, mut huc, mut hcc) = (u / 2.0, 0.0, 0.5, 0.0, 0.0);
            for i in 0..3 {
                let m = s[i] * (u * xs[i] + c);
                let sig = 1.0 / (1.0 + m.exp()); // σ(-m) = d/dm softplus(-m) · (-1)
                gu -= sig * s[i] * xs[i];
                gc -= sig * s[i];
                let h = sig * (1.0 - sig);
                huu += h * xs[i] * xs[i];
                huc += h * xs[i];
                hcc += h;
            }
            let det = huu * hcc - huc * huc;
            u -= (hcc * gu - huc * gc) / det;
            c -= (huu * gc - huc * gu) / det;
        }
        let x = [-1.0f32, 0.0, 1.0];
        let w = fit_multinomial(&x, 1, &[0, 1, 1], 2, 1.0, 1000).unwrap();
        for &xi in &xs {
            let want = 1.0 / (1.0 + (-(u * xi + c)).exp());
            let got = p1(&w, 1, &[xi as f32]);
            assert!((got - want).abs() < 1e-4, "x = {xi}: p1 {got} vs optimum {want} (u {u}, c {c})");
        }
        // The penalty splits u evenly: w1 = -w0 = u/2.
        assert!((w.weight[1] as f64 - u / 2.0).abs() < 1e-3 && (w.weight[0] as f64 + u / 2.0).abs() < 1e-3);
    }

    #[test]
    fn absent_classes_are_never_predicted_and_bad_labels_fail() {
        let w = fit_multinomial(&[0.0, 1.0, 2.0], 1, &[0, 2, 2], 3, 1.0, 100).unwrap();
        assert_eq!(w.bias[1], ABSENT_CLASS_BIAS);
        assert_eq!(&w.weight[1..2], &[0.0]);
        assert!(fit_multinomial(&[0.0, 1.0], 1, &[0, 3], 3, 1.0, 100).is_err());
    }
}
