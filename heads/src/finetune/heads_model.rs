//! The heads trained on top of the backbone, reusing the stage-two modules (DESIGN §2):
//! EMA (`L_EMA = α1·L_CE + β·L_ITA`), the CDR denoiser and its classifier (`L_CDR = α2·L_CE +
//! γ·L_MSE`), and the fusion classifier trained jointly on the one-step `x_CDR` (as
//! `fusion_features = "onestep"`): `L = L_EMA + L_CDR + CE(fusion(x_EMA, g(E_s x̂_s^0)))`.
//! Without a text model only a Linear classifier on `x_v` trains (the `baseline` ablation).
//!
//! Parameters are created in the same order and under the same names as `two_phase` (`ema.*`,
//! `denoiser.*`, `cdr.classifier.*`, `head.fusion.*`; `baseline.classifier.*`), so the heads of a
//! `marnet-heads train` run (`heads.safetensors`, keys `<mode>.<name>`) can initialise them.
//!
//! Evaluation uses the image-only path (test rows have no text): `ema` = EMA classifier on
//! `x_EMA`; `cdr` = CDR classifier on `x_CDR = g(E_s x̂_s^0)` with `x̂_s^0` sampled (seeded) by the
//! configured sampler; `fusion` = the fusion classifier on `(x_EMA, x_CDR)`.

use crate::model::cdr::cdr_loss;
use crate::model::config::HeadsConfig;
use crate::model::denoiser::Denoiser;
use crate::model::ema::Ema;
use crate::model::fusion::Fusion;
use crate::model::sampler::sample;
use crate::model::schedule::Schedule;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use crate::nn::rng::{dropout, HostRng};
use crate::train::rng_streams as streams;
use crate::train::Mode;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor, Var};
use candle_nn::{Module, VarMap};
use std::collections::HashMap;
use std::path::Path;

/// The MARNet heads.
pub struct MarnetHeads {
    pub ema: Ema,
    pub denoiser: Denoiser,
    pub schedule: Schedule,
    pub cdr_classifier: Linear,
    pub fusion: Fusion,
}

/// What trains on top of the backbone.
pub enum HeadsKind {
    /// EMA + CDR + fusion (a text model is given).
    Marnet(Box<MarnetHeads>),
    /// A Linear classifier on `x_v` (no text model).
    Baseline(Linear),
}

/// Heads with their variables.
pub struct FinetuneHeads {
    pub kind: HeadsKind,
    /// Variables by name (`ema.e_v.weight`, ...).
    pub varmap: VarMap,
    d_s: usize,
}

impl FinetuneHeads {
    /// New heads for image width `d_v`, text width `d_s` (`None`: baseline), K classes; init
    /// from `seed` like `marnet-heads train` (PyTorch Linear init from the host RNG, stream 1).
    pub fn new(
        d_v: usize,
        d_s: Option<usize>,
        k: usize,
        cfg: &HeadsConfig,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let mut init = HostRng::new(seed, streams::INIT);
        let mut pb = ParamBuilder::new(&varmap, &mut init, device);
        let kind = match d_s {
            Some(d_s) => {
                let ema = Ema::new(&mut pb, d_v, d_s, k, cfg)?;
                let denoiser = Denoiser::new(&mut pb, d_v, d_s, cfg)?;
                let cdr_classifier = pb.scoped("cdr", |pb| pb.linear("classifier", cfg.objective.d, k))?;
                let fusion = pb
                    .scoped("head", |pb| Fusion::new(pb, cfg.sampling.fusion, cfg.objective.d, k, cfg.optim.dropout))?;
                let schedule = Schedule::new(cfg, device)?;
                HeadsKind::Marnet(Box::new(MarnetHeads { ema, denoiser, schedule, cdr_classifier, fusion }))
            }
            None => HeadsKind::Baseline(pb.scoped("baseline", |pb| pb.linear("classifier", d_v, k))?),
        };
        Ok(Self { kind, varmap, d_s: d_s.unwrap_or(0) })
    }

    /// The modes [`FinetuneHeads::eval_logits`] reports, in table order.
    pub fn modes(&self) -> Vec<Mode> {
        match self.kind {
            HeadsKind::Marnet(_) => vec![Mode::Ema, Mode::Cdr, Mode::Fusion],
            HeadsKind::Baseline(_) => vec![Mode::Baseline],
        }
    }

    /// The mode whose weights go to `heads.safetensors` (holds every head variable).
    pub fn weights_mode(&self) -> Mode {
        match self.kind {
            HeadsKind::Marnet(_) => Mode::Fusion,
            HeadsKind::Baseline(_) => Mode::Baseline,
        }
    }

    /// Training loss of a batch: `x_v` (n, d_v) f32 from the backbone, standardised `x_s`
    /// (n, d_s) (ignored by the baseline), `labels` (n,) u32. Noise, time steps and dropout come
    /// from `rng`. Returns a scalar.
    pub fn loss(
        &self,
        x_v: &Tensor,
        x_s: Option<&Tensor>,
        labels: &Tensor,
        cfg: &HeadsConfig,
        rng: &mut HostRng,
    ) -> Result<Tensor> {
        match &self.kind {
            HeadsKind::Baseline(cls) => {
                let x = dropout(x_v, cfg.optim.dropout, true, rng)?;
                Ok(candle_nn::loss::cross_entropy(&cls.forward(&x)?, labels)?)
            }
            HeadsKind::Marnet(h) => {
                let x_s = x_s.context("MARNet heads need x_s")?;
                let xv_p = h.ema.embed_v(x_v)?;
                let xs_p = h.ema.embed_s(x_s)?;
                let logits = h.ema.classifier.forward(&dropout(&xv_p, cfg.optim.dropout, true, rng)?)?;
                let ce = candle_nn::loss::cross_entropy(&logits, labels)?;
                let l_ema = ((ce * cfg.objective.alpha1)? + (h.ema.ita(&xv_p, &xs_p)? * cfg.objective.beta)?)?;
                let step = cdr_loss(&h.denoiser, &h.ema, &h.cdr_classifier, &h.schedule, x_v, x_s, labels, cfg, rng)?;
                let fused = h.fusion.forward(&xv_p, &h.ema.embed_s(&step.x0_hat)?, true, rng)?;
                let l_fused = candle_nn::loss::cross_entropy(&fused, labels)?;
                Ok(((l_ema + step.loss)? + l_fused)?)
            }
        }
    }

    /// Logits (n, K) per mode for image features `x_v` (n, d_v); CDR samples with a fresh
    /// `HostRng::new(seed, streams::SAMPLE)`, so the result does not depend on what ran before.
    pub fn eval_logits(&self, x_v: &Tensor, cfg: &HeadsConfig, seed: u64) -> Result<Vec<(Mode, Tensor)>> {
        match &self.kind {
            HeadsKind::Baseline(cls) => Ok(vec![(Mode::Baseline, cls.forward(x_v)?)]),
            HeadsKind::Marnet(h) => {
                let x_ema = h.ema.embed_v(x_v)?;
                let ema_logits = h.ema.classifier.forward(&x_ema)?;
                let mut rng = HostRng::new(seed, streams::SAMPLE);
                let x0 = sample(&h.denoiser, &h.schedule.host, x_v, self.d_s, cfg, &mut rng)?;
                let x_cdr = h.ema.embed_s(&x0)?;
                let cdr_logits = h.cdr_classifier.forward(&x_cdr)?;
                let fused = h.fusion.forward(&x_ema, &x_cdr, false, &mut rng)?;
                Ok(vec![(Mode::Ema, ema_logits), (Mode::Cdr, cdr_logits), (Mode::Fusion, fused)])
            }
        }
    }

    /// `(name, var)` pairs sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        super::trainable_vb::sorted_vars(&self.varmap)
    }

    /// Temperature τ of EMA (None for the baseline).
    pub fn tau(&self) -> Result<Option<f64>> {
        match &self.kind {
            HeadsKind::Marnet(h) => Ok(Some(h.ema.tau()?)),
            HeadsKind::Baseline(_) => Ok(None),
        }
    }

    /// Copies the heads of a `marnet-heads train` run (`run_dir/heads.safetensors`, keys
    /// `<mode>.<name>`) into these heads. The mode used is the first of fusion, cdr, ema,
    /// baseline present in the file; every variable of that mode whose name exists here is
    /// copied (shapes must match), the rest keep their init. Returns the mode and the number of
    /// tensors copied. Errors: unreadable file, shape mismatch (another backbone width), no
    /// usable mode.
    pub fn init_from_run(&self, run_dir: &Path) -> Result<(Mode, usize)> {
        let path = run_dir.join("heads.safetensors");
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .with_context(|| format!("reading {}", path.display()))?;
        let order: &[Mode] = match self.kind {
            HeadsKind::Marnet(_) => &[Mode::Fusion, Mode::Cdr, Mode::Ema],
            HeadsKind::Baseline(_) => &[Mode::Baseline],
        };
        let mode =
            order.iter().copied().find(|m| tensors.keys().any(|k| k.starts_with(&format!("{m}.")))).with_context(
                || {
                    let want: Vec<&str> = order.iter().map(|m| m.as_str()).collect();
                    format!("{}: no heads of mode {} (keys look like <mode>.<name>)", path.display(), want.join(", "))
                },
            )?;
        let prefix = format!("{mode}.");
        let by_name: HashMap<&str, &Tensor> =
            tensors.iter().filter_map(|(k, t)| k.strip_prefix(&prefix).map(|n| (n, t))).collect();
        let mut copied = 0;
        for (name, var) in self.named_vars() {
            let Some(t) = by_name.get(name.as_str()) else { continue };
            if t.dims() != var.dims() {
                bail!(
                    "{}: {prefix}{name} has shape {:?}, these heads need {:?} (was the run trained on features of another backbone or config?)",
                    path.display(),
                    t.dims(),
                    var.dims()
                );
            }
            var.set(&t.to_dtype(var.dtype())?.to_device(var.device())?)?;
            copied += 1;
        }
        if copied == 0 {
            bail!("{}: no tensor of mode {mode} matches these heads", path.display());
        }
        Ok((mode, copied))
    }
}
