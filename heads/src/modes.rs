//! The ablations of paper table 2 (DESIGN §2 "Ablations", "Training") and [`train_mode`].
//!
//! - `baseline`: Linear on `x_v`, CE.
//! - `ema`: EMA (`L_EMA = α1·L_CE + β·L_ITA`), classifier on `x_v'`.
//! - `cdr`, `fusion`, `mlp`: two phases. Phase 1 trains EMA + the generator (CDR denoiser, or the
//!   4-layer MLP for `mlp`) with `L_EMA + L_CDR`, selecting the epoch with the lowest val loss
//!   (fixed noise). Phase 2 freezes them, computes `x_CDR = g(E_s x̂_s^0)` once (sampled, seeded)
//!   for every row and trains the phase-2 head with CE: a Linear on `x_CDR` (`cdr`) or the fusion
//!   classifier on `(x_EMA, x_CDR)` (`fusion`, `mlp`), selecting on val top-1. With
//!   `fusion_features = "onestep"` the phase-2 head trains jointly in phase 1 on the one-step
//!   prediction instead and there is no phase 2.

use crate::config::HeadsConfig;
use crate::ema::Ema;
use crate::features::Features;
use crate::metrics::{evaluate, SplitMetrics};
use crate::params::{vars_with_prefix, ParamBuilder};
use crate::rng::{dropout, HostRng};
use crate::trainer::{run_phase, EpochRecord, EvalOutcome, Phase};
use anyhow::{bail, Result};
use candle_core::{Tensor, D};
use candle_nn::{Module, VarMap};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One ablation row of paper table 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Baseline,
    Ema,
    Mlp,
    Cdr,
    Fusion,
}

impl Mode {
    /// Table order: baseline, ema, mlp, cdr, fusion.
    pub const ALL: [Mode; 5] = [Mode::Baseline, Mode::Ema, Mode::Mlp, Mode::Cdr, Mode::Fusion];

    /// `"baseline"`, `"ema"`, `"mlp"`, `"cdr"`, `"fusion"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Baseline => "baseline",
            Mode::Ema => "ema",
            Mode::Mlp => "mlp",
            Mode::Cdr => "cdr",
            Mode::Fusion => "fusion",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| anyhow::anyhow!("unknown mode `{s}`: expected baseline, ema, mlp, cdr or fusion"))
    }
}

/// How close the generated text features are to the true ones on val rows with text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenQuality {
    /// Mean over rows of `cos(x̂_s^0, x_s)` (standardised space).
    pub val_cosine: f64,
    /// Mean over elements of `(x̂_s^0 - x_s)²` (standardised space).
    pub val_mse: f64,
    /// Number of val rows with text.
    pub n: usize,
}

/// Test-row embeddings of the two-phase modes (for t-SNE plots), row-major f32.
#[derive(Debug, Clone)]
pub struct TestEmbeddings {
    /// Raw `x_v` of the test rows, (n_test × d_v).
    pub x_v: Vec<f32>,
    pub d_v: usize,
    /// `x_EMA = g(E_v x_v)`, (n_test × d).
    pub x_ema: Vec<f32>,
    /// `x_CDR = g(E_s x̂_s^0)` (sampled; the MLP prediction for `mlp`), (n_test × d).
    pub x_cdr: Vec<f32>,
    pub d: usize,
}

/// Everything one trained mode produces.
#[derive(Debug, Clone)]
pub struct ModeResult {
    pub mode: Mode,
    pub seed: u64,
    pub val: SplitMetrics,
    pub test: SplitMetrics,
    /// Per epoch, phase 1 then phase 2.
    pub history: Vec<EpochRecord>,
    /// Number of classes K (row length of the score matrices).
    pub num_classes: usize,
    /// Softmax probabilities of the val rows (`Features::val` order), (n_val × K).
    pub val_scores: Vec<f32>,
    /// Softmax probabilities of the test rows (`Features::test` order), (n_test × K).
    pub test_scores: Vec<f32>,
    /// Test embeddings (cdr, fusion, mlp).
    pub embeddings: Option<TestEmbeddings>,
    /// Sampled-vs-true `x_s` on val (cdr, fusion, mlp).
    pub generation: Option<GenQuality>,
    /// Learned temperature τ (modes with EMA).
    pub tau: Option<f64>,
    /// Trained weights by name (`baseline.*`, `ema.*`, `denoiser.*`, ...), sorted.
    pub weights: Vec<(String, Tensor)>,
    /// Wall-clock training time in seconds (not part of metrics.json).
    pub seconds: f64,
}

/// Options that do not change results.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Print one line per epoch to stderr.
    pub progress: bool,
}

/// Trains and evaluates `mode` with `cfg` and `seed` (which overrides `cfg.seed`).
/// Deterministic: the same inputs give the same metrics. Errors: invalid config, NaN loss,
/// empty splits.
pub fn train_mode(features: &Features, cfg: &HeadsConfig, mode: Mode, seed: u64) -> Result<ModeResult> {
    train_mode_with(features, cfg, mode, seed, &RunOptions::default())
}

/// [`train_mode`] with progress options. Runs on [`crate::math_pool::on_math_pool`].
pub fn train_mode_with(
    features: &Features,
    cfg: &HeadsConfig,
    mode: Mode,
    seed: u64,
    opts: &RunOptions,
) -> Result<ModeResult> {
    cfg.validate()?;
    let start = std::time::Instant::now();
    let mut res = crate::math_pool::on_math_pool(|| match mode {
        Mode::Baseline => train_baseline(features, cfg, seed, opts),
        Mode::Ema => train_ema(features, cfg, seed, opts),
        Mode::Mlp | Mode::Cdr | Mode::Fusion => crate::two_phase::train_two_phase(features, cfg, mode, seed, opts),
    })?;
    res.seconds = start.elapsed().as_secs_f64();
    Ok(res)
}

/// Softmax probabilities (host, row-major) of logits (n, K).
pub fn probabilities(logits: &Tensor) -> Result<Vec<f32>> {
    Ok(candle_nn::ops::softmax(logits, D::Minus1)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Applies `f` to row chunks of `rows` (global indices) and concatenates: bounded memory.
pub fn map_rows(f: &Features, rows: &[u32], mut g: impl FnMut(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    let mut out = Vec::new();
    for chunk in rows.chunks(16384) {
        let idx = Tensor::from_slice(chunk, chunk.len(), &f.device)?;
        out.push(g(&idx)?.detach());
    }
    if out.is_empty() {
        bail!("no rows to evaluate");
    }
    Ok(Tensor::cat(&out, 0)?)
}

/// Val top-1 (percent) of logits over `rows`.
pub fn top1_of(f: &Features, logits: &Tensor, rows: &[u32]) -> Result<f64> {
    let p = logits.flatten_all()?.to_vec1::<f32>()?;
    Ok(crate::metrics::topk(&p, f.num_classes(), &f.labels_of(rows), 1))
}

/// Sorted (name, tensor) pairs of a VarMap.
pub fn named_weights(varmap: &VarMap) -> Vec<(String, Tensor)> {
    let map = varmap.data().lock().expect("VarMap lock poisoned");
    let mut v: Vec<(String, Tensor)> = map.iter().map(|(k, var)| (k.clone(), var.as_tensor().detach())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Builds a [`ModeResult`] from val/test logits.
#[allow(clippy::too_many_arguments)]
pub fn finish(
    f: &Features,
    mode: Mode,
    seed: u64,
    val_logits: &Tensor,
    test_logits: &Tensor,
    history: Vec<EpochRecord>,
    varmap: &VarMap,
    extra: (Option<TestEmbeddings>, Option<GenQuality>, Option<f64>),
) -> Result<ModeResult> {
    let k = f.num_classes();
    let val_scores = probabilities(val_logits)?;
    let test_scores = probabilities(test_logits)?;
    Ok(ModeResult {
        mode,
        seed,
        val: evaluate(&val_scores, k, &f.labels_of(&f.val)),
        test: evaluate(&test_scores, k, &f.labels_of(&f.test)),
        history,
        num_classes: k,
        val_scores,
        test_scores,
        embeddings: extra.0,
        generation: extra.1,
        tau: extra.2,
        weights: named_weights(varmap),
        seconds: 0.0,
    })
}

fn train_baseline(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, 1);
    let cls = ParamBuilder::new(&varmap, &mut init, &f.device)
        .scoped("baseline", |pb| pb.linear("classifier", f.d_v, f.num_classes()))?;
    let mut rng = HostRng::new(seed, 2);
    let mut drop_rng = HostRng::new(seed, 3);
    let history = run_phase(
        cfg,
        Phase { phase: 1, epochs: cfg.epochs, vars: varmap.all_vars_sorted(), rows: &f.train, progress: opts.progress, label: "baseline" },
        &f.device,
        &mut rng,
        |idx, _| {
            let x = dropout(&f.x_v.index_select(idx, 0)?, cfg.dropout, true, &mut drop_rng)?;
            Ok(candle_nn::loss::cross_entropy(&cls.forward(&x)?, &f.labels_t.index_select(idx, 0)?)?)
        },
        || {
            let logits = map_rows(f, &f.val, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
            let t = top1_of(f, &logits, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = map_rows(f, &f.val, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
    let test = map_rows(f, &f.test, |idx| Ok(cls.forward(&f.x_v.index_select(idx, 0)?)?))?;
    finish(f, Mode::Baseline, seed, &val, &test, history, &varmap, (None, None, None))
}

/// `L_EMA = α1·CE(classifier(x_v')) + β·L_ITA(x_v', x_s')` for a batch of rows with text.
/// Returns `(L_EMA, x_v')`; dropout before the classifier only when `train`.
pub fn ema_loss(
    ema: &Ema,
    f: &Features,
    idx: &Tensor,
    cfg: &HeadsConfig,
    train: bool,
    drop_rng: &mut HostRng,
) -> Result<(Tensor, Tensor)> {
    let xv_p = ema.embed_v(&f.x_v.index_select(idx, 0)?)?;
    let xs_p = ema.embed_s(&f.x_s.index_select(idx, 0)?)?;
    let logits = ema.classifier.forward(&dropout(&xv_p, cfg.dropout, train, drop_rng)?)?;
    let ce = candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?;
    let loss = ((ce * cfg.alpha1)? + (ema.ita(&xv_p, &xs_p)? * cfg.beta)?)?;
    Ok((loss, xv_p))
}

/// EMA classifier logits for `rows`.
pub fn ema_logits(ema: &Ema, f: &Features, rows: &[u32]) -> Result<Tensor> {
    map_rows(f, rows, |idx| Ok(ema.classifier.forward(&ema.embed_v(&f.x_v.index_select(idx, 0)?)?)?))
}

fn train_ema(f: &Features, cfg: &HeadsConfig, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, 1);
    let ema = Ema::new(&mut ParamBuilder::new(&varmap, &mut init, &f.device), f.d_v, f.d_s, f.num_classes(), cfg)?;
    let mut rng = HostRng::new(seed, 2);
    let mut drop_rng = HostRng::new(seed, 3);
    let history = run_phase(
        cfg,
        Phase { phase: 1, epochs: cfg.epochs, vars: varmap.all_vars_sorted(), rows: &f.train_text, progress: opts.progress, label: "ema" },
        &f.device,
        &mut rng,
        |idx, _| Ok(ema_loss(&ema, f, idx, cfg, true, &mut drop_rng)?.0),
        || {
            let t = top1_of(f, &ema_logits(&ema, f, &f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )?;
    let val = ema_logits(&ema, f, &f.val)?;
    let test = ema_logits(&ema, f, &f.test)?;
    let tau = ema.tau()?;
    finish(f, Mode::Ema, seed, &val, &test, history, &varmap, (None, None, Some(tau)))
}

/// Sorted variables of a VarMap (stable optimiser order).
pub trait SortedVars {
    fn all_vars_sorted(&self) -> Vec<candle_core::Var>;
}

impl SortedVars for VarMap {
    fn all_vars_sorted(&self) -> Vec<candle_core::Var> {
        vars_with_prefix(self, &[""])
    }
}
