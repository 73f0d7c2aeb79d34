//! Phase 2 of the two-phase modes (`cdr`, `fusion`, `mlp`; DESIGN §2 "Training"): the head on
//! the frozen phase-1 features `x_EMA`, `x_CDR` of every row, trained and evaluated, and the
//! generation quality and test embeddings the run reports.

use super::features::Features;
use super::result::{map_rows, top1_of, GenQuality, RunOptions, TestEmbeddings};
use super::rng_streams as streams;
use super::trainer::{run_phase, EpochRecord, EvalOutcome, Phase, Selection};
use super::two_phase::Phase2Head;
use crate::model::config::HeadsConfig;
use crate::model::ema::cosine_rows;
use crate::nn::params::named_vars_with_prefix;
use crate::nn::rng::HostRng;
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::VarMap;

/// The phase-2 head with the frozen features of every row it classifies.
pub(super) struct FusedRows<'a> {
    pub head: &'a Phase2Head,
    /// `x_EMA` of every row (n, d).
    pub x_ema: &'a Tensor,
    /// `x_CDR` of every row (n, d).
    pub x_cdr: &'a Tensor,
}

impl FusedRows<'_> {
    /// Head logits (rows, K) of `rows`, dropout off (a fresh [`streams::EVAL`] RNG it draws
    /// nothing from).
    pub fn logits(&self, f: &Features, cfg: &HeadsConfig, seed: u64, rows: &[u32]) -> Result<Tensor> {
        let mut r = HostRng::new(seed, streams::EVAL);
        map_rows(f, rows, |idx| {
            self.head.forward(&self.x_ema.index_select(idx, 0)?, &self.x_cdr.index_select(idx, 0)?, cfg, false, &mut r)
        })
    }
}

/// Phase 2: the head (variables `head.*` of `varmap`) trained on the frozen features of the
/// train rows, selected on val top-1.
pub(super) fn train_phase2(
    f: &Features,
    cfg: &HeadsConfig,
    seed: u64,
    opts: &RunOptions,
    label: &str,
    varmap: &VarMap,
    fused: &FusedRows,
) -> Result<Vec<EpochRecord>> {
    let mut drop_rng = HostRng::new(seed, streams::DROPOUT);
    let mut shuffle = HostRng::new(seed, streams::PHASE2_SHUFFLE);
    run_phase(
        cfg,
        Phase {
            phase: 2,
            epochs: cfg.budget.phase2_epochs,
            vars: named_vars_with_prefix(varmap, &["head."]),
            rows: &f.train,
            progress: opts.progress,
            label,
            select: Selection::Best,
            hook: opts.epoch_hook.as_ref(),
        },
        &f.device,
        &mut shuffle,
        |idx, _| {
            let logits = fused.head.forward(
                &fused.x_ema.index_select(idx, 0)?,
                &fused.x_cdr.index_select(idx, 0)?,
                cfg,
                true,
                &mut drop_rng,
            )?;
            Ok(candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?)
        },
        || {
            let t = top1_of(f, &fused.logits(f, cfg, seed, &f.val)?, &f.val)?;
            Ok(EvalOutcome { score: t, val_top1: t })
        },
    )
}

/// How close the sampled `x̂_s^0` (every row, (n, d_s)) is to `x_s` on the val rows with text;
/// `None` without any.
pub(super) fn generation_quality(f: &Features, x0_all: &Tensor) -> Result<Option<GenQuality>> {
    if f.val_text.is_empty() {
        return Ok(None);
    }
    let idx = Tensor::from_slice(&f.val_text, f.val_text.len(), &f.device)?;
    let (pred, truth) = (x0_all.index_select(&idx, 0)?, f.x_s.index_select(&idx, 0)?);
    Ok(Some(GenQuality {
        val_cosine: cosine_rows(&pred, &truth)?.mean_all()?.to_scalar::<f32>()? as f64,
        val_mse: candle_nn::loss::mse(&pred, &truth)?.to_scalar::<f32>()? as f64,
        n: f.val_text.len(),
    }))
}

/// `x_v`, `x_EMA` and `x_CDR` of the test rows, flattened, for the t-SNE figure.
pub(super) fn test_embeddings(
    f: &Features,
    cfg: &HeadsConfig,
    x_ema_all: &Tensor,
    x_cdr_all: &Tensor,
) -> Result<TestEmbeddings> {
    let test_idx = Tensor::from_slice(&f.test, f.test.len(), &f.device)?;
    let to_vec =
        |t: &Tensor| -> Result<Vec<f32>> { Ok(t.index_select(&test_idx, 0)?.flatten_all()?.to_vec1::<f32>()?) };
    Ok(TestEmbeddings {
        x_v: to_vec(&f.x_v)?,
        d_v: f.d_v,
        x_ema: to_vec(x_ema_all)?,
        x_cdr: to_vec(x_cdr_all)?,
        d: cfg.objective.d,
    })
}
