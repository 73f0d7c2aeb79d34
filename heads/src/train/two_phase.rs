//! Two-phase training of the `cdr`, `fusion` and `mlp` modes (DESIGN §2 "Training").
//!
//! Phase 1: `L_EMA + L_CDR` (or the MLP's `α2·CE + γ·MSE` for `mlp`) on train rows with text;
//! the epoch with the lowest val loss (val rows with text, fixed noise) is kept, or the last one
//! (config key `phase1_select`). Phase 2: EMA and the generator frozen; `x̂_s^0` is sampled once
//! (seeded) for every row, `x_CDR = g(E_s x̂_s^0)`, `x_EMA = g(E_v x_v)`, and the phase-2 head
//! (Linear on `x_CDR` for `cdr`, the fusion classifier for `fusion` and `mlp`) trains with CE on
//! all train rows, selected on val top-1.
//!
//! Cross-fitted phase 2 (`crossfit_folds` >= 2): [`super::crossfit`].

use super::features::Features;
use super::phase2::{generation_quality, test_embeddings, train_phase2, FusedRows};
use super::result::{finish, map_rows, top1_of, Mode, ModeExtras, ModeResult, RunOptions};
use super::rng_streams as streams;
use super::trainer::{run_phase, EpochRecord, EvalOutcome, Phase, Selection};
use crate::model::cdr::cdr_loss;
use crate::model::config::{FusionFeatures, HeadsConfig, Phase1Select};
use crate::model::denoiser::Denoiser;
use crate::model::ema::{Ema, EmaStep};
use crate::model::fusion::Fusion;
use crate::model::mlp_head::MlpHead;
use crate::model::sampler::sample;
use crate::model::schedule::Schedule;
use crate::nn::linear::Linear;
use crate::nn::params::{named_vars_with_prefix, ParamBuilder};
use crate::nn::rng::{dropout, HostRng};
use anyhow::Result;
use candle_core::Tensor;
use candle_nn::{Module, VarMap};

/// The generator of `x̂_s^0` trained in phase 1.
#[allow(clippy::large_enum_variant)]
pub enum Generator {
    /// CDR: denoiser and schedule.
    Diffusion(Denoiser, Schedule),
    /// The `mlp` ablation's regressor.
    Mlp(MlpHead),
}

/// The classifier trained in phase 2 (parameters under `head.`).
pub enum Phase2Head {
    /// `cdr`: Linear d -> K on `x_CDR` alone.
    CdrOnly(Linear),
    /// `fusion`, `mlp`: the fusion classifier on `(x_EMA, x_CDR)`.
    Fused(Fusion),
}

impl Phase2Head {
    /// Logits (n, K).
    pub fn forward(
        &self,
        x_ema: &Tensor,
        x_cdr: &Tensor,
        cfg: &HeadsConfig,
        train: bool,
        rng: &mut HostRng,
    ) -> Result<Tensor> {
        match self {
            Phase2Head::CdrOnly(l) => Ok(l.forward(&dropout(x_cdr, cfg.optim.dropout, train, rng)?)?),
            Phase2Head::Fused(fu) => fu.forward(x_ema, x_cdr, train, rng),
        }
    }
}

/// What one phase-1 batch gives.
struct Phase1Step {
    /// `L_EMA + L_CDR` (or the `mlp` generator's loss), a scalar.
    loss: Tensor,
    /// `x̂_s^0` (n, d_s): the one-step prediction of the denoiser (or the MLP's output).
    x0_hat: Tensor,
    /// `x_v'` (n, d).
    xv_p: Tensor,
}

/// The phase-1 features of some rows, each (rows, ·), detached.
pub(super) struct Phase1Features {
    /// Sampled `x̂_s^0` (n, d_s) (the MLP's prediction for `mlp`).
    pub x0_hat: Tensor,
    /// `x_CDR = g(E_s x̂_s^0)` (n, d).
    pub x_cdr: Tensor,
    /// `x_EMA = g(E_v x_v)` (n, d).
    pub x_ema: Tensor,
}

/// Phase-1 loss of a batch.
#[allow(clippy::too_many_arguments)]
fn phase1_loss(
    f: &Features,
    ema: &Ema,
    gen: &Generator,
    gen_cls: &Linear,
    idx: &Tensor,
    cfg: &HeadsConfig,
    train: bool,
    rng: &mut HostRng,
) -> Result<Phase1Step> {
    let x_v = f.x_v.index_select(idx, 0)?;
    let x_s = f.x_s.index_select(idx, 0)?;
    let labels = f.labels_t.index_select(idx, 0)?;
    let EmaStep { loss: l_ema, xv_p } = ema.loss(&x_v, &x_s, &labels, cfg, train, rng)?;
    let (l_gen, x0) = match gen {
        Generator::Diffusion(den, sched) => {
            let step = cdr_loss(den, ema, gen_cls, sched, &x_v, &x_s, &labels, cfg, rng)?;
            (step.loss, step.x0_hat)
        }
        Generator::Mlp(mlp) => {
            let x0 = mlp.forward(&x_v)?;
            let mse = candle_nn::loss::mse(&x0, &x_s)?;
            let ce = candle_nn::loss::cross_entropy(&gen_cls.forward(&ema.embed_s(&x0)?)?, &labels)?;
            (((ce * cfg.objective.alpha2)? + (mse * cfg.objective.gamma)?)?, x0)
        }
    };
    Ok(Phase1Step { loss: (l_ema + l_gen)?, x0_hat: x0, xv_p })
}

/// The weights phase 1 ends with (config key `phase1_select`).
fn phase1_selection(cfg: &HeadsConfig) -> Selection {
    match cfg.phases.phase1_select {
        Phase1Select::ValLoss => Selection::Best,
        Phase1Select::Last => Selection::Last,
    }
}

/// A phase-1 model: EMA, the generator, its classifier and the phase-2 head, in one VarMap.
pub(super) struct Phase1Model {
    varmap: VarMap,
    pub(super) ema: Ema,
    gen: Generator,
    gen_cls: Linear,
    head: Phase2Head,
}

impl Phase1Model {
    /// Fresh parameters drawn from `init` (fixed creation order: EMA, generator, `cdr.`, `head.`).
    pub(super) fn new(f: &Features, cfg: &HeadsConfig, mode: Mode, init: &mut HostRng) -> Result<Self> {
        let k = f.num_classes();
        let dev = &f.device;
        let varmap = VarMap::new();
        let (ema, gen, gen_cls, head) = {
            let mut pb = ParamBuilder::new(&varmap, init, dev);
            let ema = Ema::new(&mut pb, f.d_v, f.d_s, k, cfg)?;
            let gen = match mode {
                Mode::Mlp => {
                    Generator::Mlp(MlpHead::new(&mut pb, f.d_v, f.d_s, cfg.denoiser.hidden, cfg.denoiser.activation)?)
                }
                _ => Generator::Diffusion(Denoiser::new(&mut pb, f.d_v, f.d_s, cfg)?, Schedule::new(cfg, dev)?),
            };
            let gen_cls = pb.scoped("cdr", |pb| pb.linear("classifier", cfg.objective.d, k))?;
            let head = pb.scoped("head", |pb| {
                Ok(match mode {
                    Mode::Cdr => Phase2Head::CdrOnly(pb.linear("classifier", cfg.objective.d, k)?),
                    _ => {
                        Phase2Head::Fused(Fusion::new(pb, cfg.sampling.fusion, cfg.objective.d, k, cfg.optim.dropout)?)
                    }
                })
            })?;
            (ema, gen, gen_cls, head)
        };
        Ok(Self { varmap, ema, gen, gen_cls, head })
    }

    /// Trains phase 1 on `rows` (train rows with text); `fold_streams` offsets the noise and shuffle
    /// RNG streams (0 for the main model, distinct per cross-fitting fold).
    #[allow(clippy::too_many_arguments)] // the run's identity (seed, rows, streams, label) is what differs per fold
    pub(super) fn train(
        &self,
        f: &Features,
        cfg: &HeadsConfig,
        seed: u64,
        rows: &[u32],
        fold_streams: u64,
        opts: &RunOptions,
        label: &str,
    ) -> Result<Vec<EpochRecord>> {
        let onestep = cfg.sampling.fusion_features == FusionFeatures::Onestep;
        let mut prefixes = vec!["ema.", "denoiser.", "mlp.", "cdr."];
        if onestep {
            prefixes.push("head.");
        }
        let mut eval_cfg = cfg.clone();
        eval_cfg.optim.dropout = 0.0;
        eval_cfg.denoiser.cond_dropout = 0.0;
        let (ema, gen, gen_cls, head) = (&self.ema, &self.gen, &self.gen_cls, &self.head);
        let dev = &f.device;
        let mut noise = HostRng::new(seed, streams::NOISE + fold_streams);
        let mut shuffle = HostRng::new(seed, streams::SHUFFLE + fold_streams);
        run_phase(
            cfg,
            Phase {
                phase: 1,
                epochs: cfg.budget.epochs,
                vars: named_vars_with_prefix(&self.varmap, &prefixes),
                rows,
                progress: opts.progress,
                label,
                select: phase1_selection(cfg),
                hook: opts.epoch_hook.as_ref(),
            },
            dev,
            &mut shuffle,
            |idx, _| {
                let Phase1Step { mut loss, x0_hat: x0, xv_p } =
                    phase1_loss(f, ema, gen, gen_cls, idx, cfg, true, &mut noise)?;
                if onestep {
                    let logits = head.forward(&xv_p, &ema.embed_s(&x0)?, cfg, true, &mut noise)?;
                    loss = (loss + candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?)?;
                }
                Ok(loss)
            },
            || {
                let val_top1 =
                    top1_of(f, &map_rows(f, &f.val, |idx| ema.logits(&f.x_v.index_select(idx, 0)?))?, &f.val)?;
                if f.val_text.is_empty() {
                    return Ok(EvalOutcome { score: val_top1, val_top1 });
                }
                // Val loss with fixed noise (same draws every epoch), weighted by chunk size.
                let mut rng = HostRng::new(seed, streams::VAL_NOISE);
                let (mut total, mut count) = (0f64, 0usize);
                for chunk in f.val_text.chunks(4096) {
                    let idx = Tensor::from_slice(chunk, chunk.len(), dev)?;
                    let Phase1Step { loss: mut l, x0_hat: x0, xv_p } =
                        phase1_loss(f, ema, gen, gen_cls, &idx, &eval_cfg, false, &mut rng)?;
                    if onestep {
                        let logits = head.forward(&xv_p, &ema.embed_s(&x0)?, &eval_cfg, false, &mut rng)?;
                        l = (l + candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(&idx, 0)?)?)?;
                    }
                    total += l.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                    count += chunk.len();
                }
                Ok(EvalOutcome { score: -(total / count as f64), val_top1 })
            },
        )
    }

    /// The phase-1 features of the rows `rows` (global indices, or every row when `None`).
    pub(super) fn features(
        &self,
        f: &Features,
        cfg: &HeadsConfig,
        seed: u64,
        rows: Option<&[u32]>,
    ) -> Result<Phase1Features> {
        let x_v = match rows {
            Some(r) => f.x_v.index_select(&Tensor::from_slice(r, r.len(), &f.device)?, 0)?,
            None => f.x_v.clone(),
        };
        let x0 = generate(&x_v, f, &self.gen, cfg, seed)?;
        let x_cdr = self.ema.embed_s(&x0)?.detach();
        let x_ema = self.ema.embed_v(&x_v)?.detach();
        Ok(Phase1Features { x0_hat: x0, x_cdr, x_ema })
    }
}

/// `x̂_s^0` for the image features `x_v` (n, d_v): sampled (seeded by `seed` and each row's
/// `x_v`, so a row gets the same sample in any subset) for CDR, the MLP prediction for `mlp`.
fn generate(x_v: &Tensor, f: &Features, gen: &Generator, cfg: &HeadsConfig, seed: u64) -> Result<Tensor> {
    Ok(match gen {
        Generator::Diffusion(den, sched) => {
            let mut rng = HostRng::new(seed, streams::SAMPLE);
            sample(den, &sched.host, x_v, f.d_s, cfg, &mut rng)?.detach()
        }
        Generator::Mlp(mlp) => {
            let mut out = Vec::new();
            for start in (0..x_v.dim(0)?).step_by(16384) {
                let len = 16384.min(x_v.dim(0)? - start);
                out.push(mlp.forward(&x_v.narrow(0, start, len)?)?.detach());
            }
            Tensor::cat(&out, 0)?
        }
    })
}

/// Trains `mode` (cdr, fusion or mlp) in two phases.
pub fn train_two_phase(
    f: &Features,
    cfg: &HeadsConfig,
    mode: Mode,
    seed: u64,
    opts: &RunOptions,
) -> Result<ModeResult> {
    let label = mode.as_str();
    let onestep = cfg.sampling.fusion_features == FusionFeatures::Onestep;
    let model = Phase1Model::new(f, cfg, mode, &mut HostRng::new(seed, streams::INIT))?;
    let mut history = model.train(f, cfg, seed, &f.train_text, 0, opts, label)?;

    // Frozen features for every row.
    let Phase1Features { x0_hat: x0_all, x_cdr: mut x_cdr_all, x_ema: x_ema_all } =
        model.features(f, cfg, seed, None)?;
    if cfg.phases.crossfit_folds >= 2 && !onestep {
        x_cdr_all = super::crossfit::out_of_fold_x_cdr(&model, f, cfg, mode, seed, x_cdr_all)?;
    }
    let generation = generation_quality(f, &x0_all)?;
    let fused = FusedRows { head: &model.head, x_ema: &x_ema_all, x_cdr: &x_cdr_all };
    if !onestep {
        history.extend(train_phase2(f, cfg, seed, opts, label, &model.varmap, &fused)?);
    }
    let val = fused.logits(f, cfg, seed, &f.val)?;
    let test = fused.logits(f, cfg, seed, &f.test)?;
    let embeddings = test_embeddings(f, cfg, &x_ema_all, &x_cdr_all)?;
    let tau = model.ema.tau()?;
    finish(
        f,
        mode,
        seed,
        &val,
        &test,
        history,
        &model.varmap,
        ModeExtras { embeddings: Some(embeddings), generation, tau: Some(tau) },
    )
}
