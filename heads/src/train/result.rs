//! What a trained mode produces ([`ModeResult`]) and the helpers every mode uses to build it:
//! the [`Mode`] names of paper tables 1 and 2, chunked evaluation over rows ([`map_rows`]), softmax
//! scores and metrics ([`finish`]).

use super::features::Features;
use super::metrics::{evaluate, SplitMetrics};
use super::trainer::EpochRecord;
use anyhow::{bail, Result};
use candle_core::{Tensor, D};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One row of paper table 2 (ablations) or table 1 (alignment methods, distillation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The linear probe on `x_v` (CLIP's protocol; [`super::probe`]).
    Probe,
    Baseline,
    Ema,
    Mlp,
    Cdr,
    Fusion,
    /// Table 1: sliced Wasserstein discrepancy of the two modalities' classifier outputs.
    Swd,
    /// Table 1: class-centroid alignment of `x_v'` and `x_s'`.
    Ssan,
    /// Table 1: contrastive domain discrepancy (class-conditional MMD).
    Cdd,
    /// Table 1: similarity distribution matching.
    Sdm,
    /// Generalized distillation from a text teacher to an image-only student.
    Distill,
}

impl Mode {
    /// Table order: probe, baseline, ema, mlp, cdr, fusion (what `--mode all` trains).
    pub const ALL: [Mode; 6] = [Mode::Probe, Mode::Baseline, Mode::Ema, Mode::Mlp, Mode::Cdr, Mode::Fusion];

    /// Every mode: table 2's, then the Table 1 rows (what `--mode` accepts by name).
    pub const EVERY: [Mode; 11] = [
        Mode::Probe,
        Mode::Baseline,
        Mode::Ema,
        Mode::Mlp,
        Mode::Cdr,
        Mode::Fusion,
        Mode::Swd,
        Mode::Ssan,
        Mode::Cdd,
        Mode::Sdm,
        Mode::Distill,
    ];

    /// What `--mode table1` trains, in the paper's Table 1 order (TEAM, which cannot run on
    /// pooled features, sits between `sdm` and `ema`; see [`crate::report::table1`]).
    pub const TABLE1: [Mode; 9] = [
        Mode::Baseline,
        Mode::Probe,
        Mode::Swd,
        Mode::Ssan,
        Mode::Cdd,
        Mode::Sdm,
        Mode::Ema,
        Mode::Fusion,
        Mode::Distill,
    ];

    /// `"probe"`, `"baseline"`, `"ema"`, `"mlp"`, `"cdr"`, `"fusion"`, `"swd"`, `"ssan"`, `"cdd"`,
    /// `"sdm"`, `"distill"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Probe => "probe",
            Mode::Baseline => "baseline",
            Mode::Ema => "ema",
            Mode::Mlp => "mlp",
            Mode::Cdr => "cdr",
            Mode::Fusion => "fusion",
            Mode::Swd => "swd",
            Mode::Ssan => "ssan",
            Mode::Cdd => "cdd",
            Mode::Sdm => "sdm",
            Mode::Distill => "distill",
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
        Mode::EVERY.into_iter().find(|m| m.as_str() == s.trim().to_ascii_lowercase()).ok_or_else(|| {
            let names: Vec<&str> = Mode::EVERY.iter().map(|m| m.as_str()).collect();
            anyhow::anyhow!("unknown mode `{s}`: expected one of {}", names.join(", "))
        })
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
    /// The L2 strength the linear probe chose on val (mode `probe`).
    pub probe_l2: Option<f64>,
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
    /// Told every epoch's val top-1 (every phase); may stop the run with
    /// [`super::hook::Stopped`]. Not passed to the cross-fitting fold models.
    pub epoch_hook: Option<super::hook::EpochHook>,
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
    Ok(super::metrics::topk(&p, f.num_classes(), &f.labels_of(rows), 1))
}

/// Sorted (name, tensor) pairs of a VarMap.
pub fn named_weights(varmap: &VarMap) -> Vec<(String, Tensor)> {
    let map = varmap.data().lock().expect("VarMap lock poisoned");
    let mut v: Vec<(String, Tensor)> = map.iter().map(|(k, var)| (k.clone(), var.as_tensor().detach())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// What some modes report beyond their logits (the same fields of [`ModeResult`]); `Default`:
/// none of them (the one-phase modes without EMA).
#[derive(Debug, Default)]
pub struct ModeExtras {
    /// Test-set embeddings for the t-SNE figure (the two-phase modes).
    pub embeddings: Option<TestEmbeddings>,
    /// How close the generated `x̂_s^0` is to `x_s` (the two-phase modes).
    pub generation: Option<GenQuality>,
    /// The learned InfoNCE temperature τ (modes with EMA).
    pub tau: Option<f64>,
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
    extra: ModeExtras,
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
        embeddings: extra.embeddings,
        generation: extra.generation,
        tau: extra.tau,
        probe_l2: None,
        weights: named_weights(varmap),
        seconds: 0.0,
    })
}
