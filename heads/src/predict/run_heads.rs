//! The trained heads of one mode of a `marnet-heads train` run folder, rebuilt for inference
//! (DESIGN §2 "Ablations"; the evaluation path of `modes.rs` / `two_phase.rs`).
//!
//! `heads.safetensors` holds the first seed's weights of every trained mode as `<mode>.<name>`
//! (`baseline.baseline.classifier.weight`, `fusion.ema.e_v.weight`, `fusion.head.fusion.head.bias`,
//! ...) and metadata `class_names`, `modes`, `d_v`, `d_s`. The modules are built with the same
//! constructors and names as in training, then every variable is overwritten from the file: a
//! variable missing from the file, or of another shape, is an error.
//!
//! Logits per mode for image features `x_v` (n, d_v), as at test time in training:
//! - `baseline`: `Linear(x_v)`;
//! - `ema`: `classifier(x_EMA)`, `x_EMA = g(E_v x_v)`;
//! - `mlp`: fusion classifier on `(x_EMA, g(E_s MLP(x_v)))`;
//! - `cdr`: `Linear(x_CDR)`, `x_CDR = g(E_s x̂_s^0)` with `x̂_s^0` sampled by the run's sampler from
//!   a fresh `HostRng::new(seed, streams::SAMPLE)` (the stream training samples with);
//! - `fusion`: fusion classifier on `(x_EMA, x_CDR)`.

use crate::model::config::HeadsConfig;
use crate::model::denoiser::Denoiser;
use crate::model::ema::Ema;
use crate::model::fusion::Fusion;
use crate::model::mlp_head::MlpHead;
use crate::model::sampler::sample;
use crate::model::schedule::Schedule;
use crate::nn::linear::Linear;
use crate::nn::params::ParamBuilder;
use crate::nn::rng::HostRng;
use crate::train::rng_streams as streams;
use crate::train::two_phase::{Generator, Phase2Head};
use crate::train::Mode;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor};
use candle_nn::{Module, VarMap};
use std::collections::HashMap;
use std::path::Path;

/// File name of the heads in a run folder.
pub const HEADS_FILE: &str = "heads.safetensors";

/// The inference network of one mode.
enum Net {
    Baseline(Linear),
    Ema(Ema),
    TwoPhase(Box<TwoPhaseNet>),
}

/// `mlp`, `cdr`, `fusion`: EMA, the generator of `x̂_s^0` and the phase-2 head.
struct TwoPhaseNet {
    ema: Ema,
    gen: Generator,
    head: Phase2Head,
}

/// What `heads.safetensors` declares about the run (its metadata).
#[derive(Debug, Clone)]
pub struct HeadsInfo {
    /// Class names; logit `j` is class `class_names[j]`.
    pub class_names: Vec<String>,
    /// Modes whose weights the file holds, in training order.
    pub modes: Vec<Mode>,
    /// Width of `x_v`.
    pub d_v: usize,
    /// Width of `x_s`.
    pub d_s: usize,
}

/// The heads of one mode, ready to turn `x_v` into logits.
pub struct RunHeads {
    /// The mode loaded.
    pub mode: Mode,
    /// The run's effective config (`config.toml`).
    pub cfg: HeadsConfig,
    /// Metadata of `heads.safetensors`.
    pub info: HeadsInfo,
    net: Net,
}

/// Reads `heads.safetensors` of `run`: metadata and every tensor (on `device`).
/// Errors: missing or unreadable file (named), missing or malformed metadata keys.
pub fn read_heads_file(run: &Path, device: &Device) -> Result<(HeadsInfo, HashMap<String, Tensor>)> {
    let path = run.join(HEADS_FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading {} (the run folder must come from `marnet-heads train`)", path.display()))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: not a safetensors file: {e}", path.display()))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let key = |k: &str| meta.get(k).with_context(|| format!("{}: metadata has no `{k}`", path.display()));
    let class_names: Vec<String> = serde_json::from_str(key("class_names")?)
        .with_context(|| format!("{}: metadata `class_names`", path.display()))?;
    let modes: Vec<String> =
        serde_json::from_str(key("modes")?).with_context(|| format!("{}: metadata `modes`", path.display()))?;
    let modes = modes
        .iter()
        .map(|m| m.parse::<Mode>())
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("{}: metadata `modes`", path.display()))?;
    let dim = |k: &str| -> Result<usize> {
        key(k)?.parse().with_context(|| format!("{}: metadata `{k}` is not an integer", path.display()))
    };
    let info = HeadsInfo { class_names, modes, d_v: dim("d_v")?, d_s: dim("d_s")? };
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .with_context(|| format!("reading tensors of {}", path.display()))?;
    Ok((info, tensors))
}

/// The mode with the best val top-1 in `run/metrics.json` among `saved` (ties: the earlier mode
/// in `saved`). Errors: unreadable `metrics.json`, none of `saved` in it.
pub fn best_mode(run: &Path, saved: &[Mode]) -> Result<Mode> {
    let path = run.join("metrics.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let mut best: Option<(Mode, f64)> = None;
    for &m in saved {
        let Some(top1) = json[m.as_str()]["val"]["top1"].as_f64() else { continue };
        if best.is_none_or(|(_, b)| top1 > b) {
            best = Some((m, top1));
        }
    }
    best.map(|(m, _)| m).with_context(|| format!("{}: no val top1 for any saved mode", path.display()))
}

impl RunHeads {
    /// Loads `run/config.toml` and the heads of `mode` (default: [`best_mode`]) from
    /// `run/heads.safetensors` onto `device`. Errors name the file: missing files, a mode that
    /// was not trained in this run, missing or mis-shaped tensors.
    pub fn load(run: &Path, mode: Option<Mode>, device: &Device) -> Result<Self> {
        let (info, tensors) = read_heads_file(run, device)?;
        let cfg = HeadsConfig::from_toml_file(&run.join("config.toml"))?;
        let mode = match mode {
            Some(m) => m,
            None => best_mode(run, &info.modes)?,
        };
        let path = run.join(HEADS_FILE);
        ensure!(
            info.modes.contains(&mode),
            "{}: holds no heads of mode {mode} (trained modes: {})",
            path.display(),
            info.modes.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
        );
        let (k, d_v, d_s) = (info.class_names.len(), info.d_v, info.d_s);
        let varmap = VarMap::new();
        let mut init = HostRng::new(0, streams::INIT);
        let net = {
            let mut pb = ParamBuilder::new(&varmap, &mut init, device);
            match mode {
                Mode::Baseline => Net::Baseline(pb.scoped("baseline", |pb| pb.linear("classifier", d_v, k))?),
                // The linear probe has the baseline's form: logits = x_v Wᵀ + b.
                Mode::Probe => Net::Baseline(pb.scoped("probe", |pb| pb.linear("classifier", d_v, k))?),
                // The table-1 alignment rows train the EMA module's parameters.
                Mode::Ema | Mode::Swd | Mode::Ssan | Mode::Cdd | Mode::Sdm => {
                    Net::Ema(Ema::new(&mut pb, d_v, d_s, k, &cfg)?)
                }
                Mode::Distill => Net::Baseline(pb.scoped("distill", |pb| pb.linear("classifier", d_v, k))?),
                Mode::Mlp | Mode::Cdr | Mode::Fusion => {
                    let ema = Ema::new(&mut pb, d_v, d_s, k, &cfg)?;
                    let gen = match mode {
                        Mode::Mlp => Generator::Mlp(MlpHead::new(
                            &mut pb,
                            d_v,
                            d_s,
                            cfg.denoiser.hidden,
                            cfg.denoiser.activation,
                        )?),
                        _ => {
                            Generator::Diffusion(Denoiser::new(&mut pb, d_v, d_s, &cfg)?, Schedule::new(&cfg, device)?)
                        }
                    };
                    let head = pb.scoped("head", |pb| {
                        Ok(match mode {
                            Mode::Cdr => Phase2Head::CdrOnly(pb.linear("classifier", cfg.objective.d, k)?),
                            _ => Phase2Head::Fused(Fusion::new(
                                pb,
                                cfg.sampling.fusion,
                                cfg.objective.d,
                                k,
                                cfg.optim.dropout,
                            )?),
                        })
                    })?;
                    Net::TwoPhase(Box::new(TwoPhaseNet { ema, gen, head }))
                }
            }
        };
        let vars = crate::train::named_weights(&varmap);
        let data = varmap.data().lock().map_err(|_| anyhow::anyhow!("VarMap lock poisoned"))?;
        for (name, _) in vars {
            let key = format!("{mode}.{name}");
            let Some(t) = tensors.get(&key) else {
                bail!("{}: missing tensor `{key}` (was the run trained with another config?)", path.display());
            };
            let var = &data[&name];
            if t.dims() != var.dims() {
                bail!("{}: `{key}` has shape {:?}, config.toml implies {:?}", path.display(), t.dims(), var.dims());
            }
            var.set(&t.to_dtype(var.dtype())?)?;
        }
        drop(data);
        Ok(Self { mode, cfg, info, net })
    }

    /// Logits (n, K) f32 for image features `x_v` (n, d_v) f32, on the heads' device.
    /// `cdr`/`fusion` sample `x̂_s^0` for the n rows with `HostRng::new(cfg.run.seed, streams::SAMPLE)`, so the same
    /// batch always gives the same logits. Errors: wrong width of `x_v`.
    pub fn logits(&self, x_v: &Tensor) -> Result<Tensor> {
        let (_, d) = x_v.dims2()?;
        ensure!(d == self.info.d_v, "image features have width {d}, the heads expect d_v = {}", self.info.d_v);
        Ok(match &self.net {
            Net::Baseline(cls) => cls.forward(x_v)?,
            Net::Ema(ema) => ema.classifier.forward(&ema.embed_v(x_v)?)?,
            Net::TwoPhase(net) => {
                let TwoPhaseNet { ema, gen, head } = net.as_ref();
                let mut rng = HostRng::new(self.cfg.run.seed, streams::SAMPLE);
                let x0 = match gen {
                    Generator::Diffusion(den, sched) => {
                        sample(den, &sched.host, x_v, self.info.d_s, &self.cfg, &mut rng)?
                    }
                    Generator::Mlp(mlp) => mlp.forward(x_v)?,
                };
                let x_cdr = ema.embed_s(&x0)?;
                let x_ema = ema.embed_v(x_v)?;
                head.forward(&x_ema, &x_cdr, &self.cfg, false, &mut rng)?
            }
        })
    }
}
