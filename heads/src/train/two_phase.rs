//! Two-phase training of the `cdr`, `fusion` and `mlp` modes (DESIGN §2 "Training").
//!
//! Phase 1: `L_EMA + L_CDR` (or the MLP's `α2·CE + γ·MSE` for `mlp`) on train rows with text;
//! the epoch with the lowest val loss (val rows with text, fixed noise) is kept. Phase 2: EMA and
//! the generator frozen; `x̂_s^0` is sampled once (seeded) for every row, `x_CDR = g(E_s x̂_s^0)`,
//! `x_EMA = g(E_v x_v)`, and the phase-2 head (Linear on `x_CDR` for `cdr`, the fusion classifier
//! for `fusion` and `mlp`) trains with CE on all train rows, selected on val top-1.

use crate::model::cdr::cdr_loss;
use crate::model::config::{FusionFeatures, HeadsConfig};
use crate::model::denoiser::Denoiser;
use crate::model::ema::{cosine_rows, Ema};
use super::features::Features;
use crate::model::fusion::Fusion;
use crate::model::mlp_head::MlpHead;
use super::one_phase::{ema_logits, ema_loss};
use super::result::{finish, map_rows, top1_of, GenQuality, Mode, ModeResult, RunOptions, TestEmbeddings};
use crate::nn::params::{vars_with_prefix, ParamBuilder};
use crate::nn::rng::{dropout, HostRng};
use crate::model::sampler::sample;
use crate::model::schedule::Schedule;
use super::trainer::{run_phase, EvalOutcome, Phase};
use anyhow::Result;
use candle_core::Tensor;
use crate::nn::linear::Linear;
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
    pub fn forward(&self, x_ema: &Tensor, x_cdr: &Tensor, cfg: &HeadsConfig, train: bool, rng: &mut HostRng) -> Result<Tensor> {
        match self {
            Phase2Head::CdrOnly(l) => Ok(l.forward(&dropout(x_cdr, cfg.dropout, train, rng)?)?),
            Phase2Head::Fused(fu) => fu.forward(x_ema, x_cdr, train, rng),
        }
    }
}

/// Phase-1 loss of a batch: `(loss, x̂_s^0, x_v')`.
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
) -> Result<(Tensor, Tensor, Tensor)> {
    let (l_ema, xv_p) = ema_loss(ema, f, idx, cfg, train, rng)?;
    let x_v = f.x_v.index_select(idx, 0)?;
    let x_s = f.x_s.index_select(idx, 0)?;
    let labels = f.labels_t.index_select(idx, 0)?;
    let (l_gen, x0) = match gen {
        Generator::Diffusion(den, sched) => {
            let step = cdr_loss(den, ema, gen_cls, sched, &x_v, &x_s, &labels, cfg, rng)?;
            (step.loss, step.x0_hat)
        }
        Generator::Mlp(mlp) => {
            let x0 = mlp.forward(&x_v)?;
            let mse = candle_nn::loss::mse(&x0, &x_s)?;
            let ce = candle_nn::loss::cross_entropy(&gen_cls.forward(&ema.embed_s(&x0)?)?, &labels)?;
            (((ce * cfg.alpha2)? + (mse * cfg.gamma)?)?, x0)
        }
    };
    Ok(((l_ema + l_gen)?, x0, xv_p))
}

/// `x̂_s^0` for every row of the features: sampled (seeded) for CDR, the MLP prediction for `mlp`.
fn generate_all(f: &Features, gen: &Generator, cfg: &HeadsConfig, seed: u64) -> Result<Tensor> {
    Ok(match gen {
        Generator::Diffusion(den, sched) => {
            let mut rng = HostRng::new(seed, 6);
            sample(den, &sched.host, &f.x_v, f.d_s, cfg, &mut rng)?.detach()
        }
        Generator::Mlp(mlp) => {
            let all: Vec<u32> = (0..f.len() as u32).collect();
            map_rows(f, &all, |idx| mlp.forward(&f.x_v.index_select(idx, 0)?))?
        }
    })
}

/// Trains `mode` (cdr, fusion or mlp) in two phases.
pub fn train_two_phase(f: &Features, cfg: &HeadsConfig, mode: Mode, seed: u64, opts: &RunOptions) -> Result<ModeResult> {
    let k = f.num_classes();
    let dev = &f.device;
    let varmap = VarMap::new();
    let mut init = HostRng::new(seed, 1);
    let (ema, gen, gen_cls, head) = {
        let mut pb = ParamBuilder::new(&varmap, &mut init, dev);
        let ema = Ema::new(&mut pb, f.d_v, f.d_s, k, cfg)?;
        let gen = match mode {
            Mode::Mlp => Generator::Mlp(MlpHead::new(&mut pb, f.d_v, f.d_s, cfg.hidden, cfg.activation)?),
            _ => Generator::Diffusion(Denoiser::new(&mut pb, f.d_v, f.d_s, cfg)?, Schedule::new(cfg, dev)?),
        };
        let gen_cls = pb.scoped("cdr", |pb| pb.linear("classifier", cfg.d, k))?;
        let head = pb.scoped("head", |pb| {
            Ok(match mode {
                Mode::Cdr => Phase2Head::CdrOnly(pb.linear("classifier", cfg.d, k)?),
                _ => Phase2Head::Fused(Fusion::new(pb, cfg.fusion, cfg.d, k, cfg.dropout)?),
            })
        })?;
        (ema, gen, gen_cls, head)
    };
    let onestep = cfg.fusion_features == FusionFeatures::Onestep;
    let label = mode.as_str();
    let mut prefixes = vec!["ema.", "denoiser.", "mlp.", "cdr."];
    if onestep {
        prefixes.push("head.");
    }
    let eval_cfg = HeadsConfig { dropout: 0.0, cond_dropout: 0.0, ..cfg.clone() };

    // Phase 1.
    let mut noise = HostRng::new(seed, 4);
    let mut shuffle = HostRng::new(seed, 2);
    let mut history = run_phase(
        cfg,
        Phase { phase: 1, epochs: cfg.epochs, vars: vars_with_prefix(&varmap, &prefixes), rows: &f.train_text, progress: opts.progress, label },
        dev,
        &mut shuffle,
        |idx, _| {
            let (mut loss, x0, xv_p) = phase1_loss(f, &ema, &gen, &gen_cls, idx, cfg, true, &mut noise)?;
            if onestep {
                let logits = head.forward(&xv_p, &ema.embed_s(&x0)?, cfg, true, &mut noise)?;
                loss = (loss + candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?)?;
            }
            Ok(loss)
        },
        || {
            let val_top1 = top1_of(f, &ema_logits(&ema, f, &f.val)?, &f.val)?;
            if f.val_text.is_empty() {
                return Ok(EvalOutcome { score: val_top1, val_top1 });
            }
            // Val loss with fixed noise (same draws every epoch), weighted by chunk size.
            let mut rng = HostRng::new(seed, 5);
            let (mut total, mut count) = (0f64, 0usize);
            for chunk in f.val_text.chunks(4096) {
                let idx = Tensor::from_slice(chunk, chunk.len(), dev)?;
                let (mut l, x0, xv_p) = phase1_loss(f, &ema, &gen, &gen_cls, &idx, &eval_cfg, false, &mut rng)?;
                if onestep {
                    let logits = head.forward(&xv_p, &ema.embed_s(&x0)?, &eval_cfg, false, &mut rng)?;
                    l = (l + candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(&idx, 0)?)?)?;
                }
                total += l.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                count += chunk.len();
            }
            Ok(EvalOutcome { score: -(total / count as f64), val_top1 })
        },
    )?;

    // Frozen features for every row.
    let x0_all = generate_all(f, &gen, cfg, seed)?;
    let x_cdr_all = ema.embed_s(&x0_all)?.detach();
    let x_ema_all = ema.embed_v(&f.x_v)?.detach();
    let generation = if f.val_text.is_empty() {
        None
    } else {
        let idx = Tensor::from_slice(&f.val_text, f.val_text.len(), dev)?;
        let (pred, truth) = (x0_all.index_select(&idx, 0)?, f.x_s.index_select(&idx, 0)?);
        Some(GenQuality {
            val_cosine: cosine_rows(&pred, &truth)?.mean_all()?.to_scalar::<f32>()? as f64,
            val_mse: candle_nn::loss::mse(&pred, &truth)?.to_scalar::<f32>()? as f64,
            n: f.val_text.len(),
        })
    };

    // Phase 2 on sampled features.
    let head_logits = |rows: &[u32]| -> Result<Tensor> {
        let mut r = HostRng::new(seed, 0);
        map_rows(f, rows, |idx| {
            head.forward(&x_ema_all.index_select(idx, 0)?, &x_cdr_all.index_select(idx, 0)?, cfg, false, &mut r)
        })
    };
    if !onestep {
        let mut drop_rng = HostRng::new(seed, 3);
        history.extend(run_phase(
            cfg,
            Phase { phase: 2, epochs: cfg.phase2_epochs, vars: vars_with_prefix(&varmap, &["head."]), rows: &f.train, progress: opts.progress, label },
            dev,
            &mut shuffle,
            |idx, _| {
                let logits = head.forward(&x_ema_all.index_select(idx, 0)?, &x_cdr_all.index_select(idx, 0)?, cfg, true, &mut drop_rng)?;
                Ok(candle_nn::loss::cross_entropy(&logits, &f.labels_t.index_select(idx, 0)?)?)
            },
            || {
                let t = top1_of(f, &head_logits(&f.val)?, &f.val)?;
                Ok(EvalOutcome { score: t, val_top1: t })
            },
        )?);
    }
    let val = head_logits(&f.val)?;
    let test = head_logits(&f.test)?;
    let test_idx = Tensor::from_slice(&f.test, f.test.len(), dev)?;
    let to_vec = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.index_select(&test_idx, 0)?.flatten_all()?.to_vec1::<f32>()?) };
    let embeddings = TestEmbeddings {
        x_v: to_vec(&f.x_v)?,
        d_v: f.d_v,
        x_ema: to_vec(&x_ema_all)?,
        x_cdr: to_vec(&x_cdr_all)?,
        d: cfg.d,
    };

    let tau = ema.tau()?;
    finish(f, mode, seed, &val, &test, history, &varmap, (Some(embeddings), generation, Some(tau)))
}
