//! Every hyperparameter of stage two in one TOML-serialisable struct (DESIGN §2).
//!
//! The paper (MARNet, ICANN 2024) publishes no hyperparameters, so each *default* below is ours
//! and each is a key that `--set key=value` or a sweep file can vary. [`HeadsConfig::validate`]
//! rejects values that would make training or sampling meaningless, naming the offending key.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use crate::model::choices::{Activation, FusionFeatures, FusionKind, Phase1Select, SamplerKind};
pub use crate::model::schedule::ScheduleKind;
use crate::model::schedule::ScheduleSpec;

/// All stage-two hyperparameters (DESIGN §2). `Default` gives the DESIGN defaults.
///
/// Serialised flat to TOML (`config.toml` in each run folder); unknown keys are rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HeadsConfig {
    /// Shared width `d` of `E_v`, `E_s` (EMA, eq. 5). Default 512.
    pub d: usize,
    /// Weight `α1` of the EMA classifier's cross-entropy (eq. 13). Default 1.
    pub alpha1: f64,
    /// Weight `β` of `L_ITA` (eq. 13). Default 1.
    pub beta: f64,
    /// Weight `α2` of the CE on `x̂_s^0` (L_CDR). Default 1.
    pub alpha2: f64,
    /// Weight `γ` of the MSE on `x̂_s^0` (L_CDR, eq. 19). Default 1.
    pub gamma: f64,
    /// Initial temperature τ of the InfoNCE logits; stored as `logit_scale = ln(1/τ)`. Default 0.07.
    pub tau_init: f64,
    /// Upper clamp on `1/τ` (CLIP's 100). Default 100.
    pub max_inv_tau: f64,
    /// Number of diffusion steps T. Default 50.
    pub timesteps: usize,
    /// Noise schedule: `cosine` (default) or `linear`.
    pub schedule: ScheduleKind,
    /// First beta of the linear schedule. Default 1e-4.
    pub beta_start: f64,
    /// Last beta of the linear schedule. Default 0.02.
    pub beta_end: f64,
    /// Offset `s` of the cosine schedule. Default 0.008.
    pub cosine_s: f64,
    /// Hidden width of the denoiser and of the `mlp` ablation. Default 1024.
    pub hidden: usize,
    /// Denoiser activation: `silu` (default), `relu`, `gelu`.
    pub activation: Activation,
    /// Size of the sinusoidal time embedding (even). Default 128.
    pub temb_dim: usize,
    /// Probability of replacing `x_v` by the learned null condition in training. Default 0 (off).
    pub cond_dropout: f64,
    /// Classifier-free guidance weight `w` at sampling. Default 0.
    pub guidance: f64,
    /// Fusion of `x_EMA` and `x_CDR`: `concat` (default), `add`, `mul`, `sum`, `hm`.
    pub fusion: FusionKind,
    /// CDR features for the fusion classifier: `sampled` (default) or `onestep`.
    pub fusion_features: FusionFeatures,
    /// Sampler: `ddpm` (default) or `ddim`.
    pub sampler: SamplerKind,
    /// Number of DDIM steps (≤ timesteps). Default 10.
    pub ddim_steps: usize,
    /// Number K of sampling chains averaged into `x̂_s^0`. Default 1.
    pub samples: usize,
    /// AdamW learning rate (peak, after warmup). Default 1e-3.
    pub lr: f64,
    /// AdamW decoupled weight decay. Default 1e-4.
    pub weight_decay: f64,
    /// Decay every parameter (true) instead of weights only (false, default: no decay on
    /// biases, LayerNorm gains, `logit_scale` and other 1-d parameters; CLIP / open_clip).
    pub weight_decay_all: bool,
    /// Dropout before every classifier (and in the fusion classifier). Default 0.
    pub dropout: f64,
    /// Largest mini-batch size. Default 256.
    pub batch: usize,
    /// Lower bound on optimiser steps per epoch: the batch shrinks to `n_train /
    /// min_steps_per_epoch` rows when that is smaller than `batch`; 0 = off. Default 8.
    pub min_steps_per_epoch: usize,
    /// Lower bound on optimiser steps per phase: the epochs grow until they reach it; 0 = off.
    /// Default 1000.
    pub min_steps: usize,
    /// Epochs of phase 1 (and of single-phase modes). Default 50.
    pub epochs: usize,
    /// Epochs of phase 2 (fusion / cdr classifier on sampled features). Default 50.
    pub phase2_epochs: usize,
    /// Fraction of the steps used for linear learning-rate warmup. Default 0.05.
    pub warmup: f64,
    /// Stop a phase after this many epochs without a better val score; 0 = never. Default 10.
    pub patience: usize,
    /// Fraction of a phase's epochs before which early stopping cannot end it (the learning
    /// rate has decayed by then). Default 0.5.
    pub patience_start: f64,
    /// Phase-1 epoch the two-phase modes keep: `val_loss` or `last`.
    pub phase1_select: Phase1Select,
    /// Cross-fitted phase 2: train phase 1 on k folds of the train rows and give the phase-2
    /// classifier out-of-fold `x_CDR`/`x_EMA` for them; 0 = off (a fold count >= 2 turns it on).
    pub crossfit_folds: usize,
    /// L2 strengths `λ` tried by the linear probe (mode `probe`), the best chosen on val top-1
    /// (loss `Σ CE + λ/2·‖W‖²`, i.e. `λ = 1/C` of scikit-learn). Default 10^-3 .. 10^3.
    pub probe_l2: Vec<f64>,
    /// L-BFGS iterations of the linear probe at most. Default 1000.
    pub probe_max_iter: usize,
    /// Seed of every random choice (init, shuffling, noise, sampling). Default 0.
    pub seed: u64,
    /// Fraction of train held out (stratified) when the dataset has no val split. Default 0.1.
    pub val_fraction: f64,
    /// Read the loss scalar back from the device every this many steps. Default 20.
    pub log_every: usize,
    /// The keys of the Table 1 rows (`swd_weight`, ..., `distill_teacher`), flat in TOML.
    #[serde(flatten)]
    pub align: crate::model::config_align::AlignConfig,
}

impl Default for HeadsConfig {
    fn default() -> Self {
        Self {
            d: 512,
            alpha1: 1.0,
            beta: 1.0,
            alpha2: 1.0,
            gamma: 1.0,
            tau_init: 0.07,
            max_inv_tau: 100.0,
            timesteps: 50,
            schedule: ScheduleKind::Cosine,
            beta_start: 1e-4,
            beta_end: 0.02,
            cosine_s: 0.008,
            hidden: 1024,
            activation: Activation::Silu,
            temb_dim: 128,
            cond_dropout: 0.0,
            guidance: 0.0,
            fusion: FusionKind::Concat,
            fusion_features: FusionFeatures::Sampled,
            sampler: SamplerKind::Ddpm,
            ddim_steps: 10,
            samples: 1,
            lr: 1e-3,
            weight_decay: 1e-4,
            weight_decay_all: false,
            dropout: 0.0,
            batch: 256,
            min_steps_per_epoch: 8,
            min_steps: 1000,
            epochs: 50,
            phase2_epochs: 50,
            warmup: 0.05,
            patience: 10,
            patience_start: 0.5,
            phase1_select: Phase1Select::ValLoss,
            crossfit_folds: 0,
            probe_l2: vec![1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3],
            probe_max_iter: 1000,
            seed: 0,
            val_fraction: 0.1,
            log_every: 20,
            align: Default::default(),
        }
    }
}

/// Largest `alphas_cumprod[T-1]` accepted when sampling starts from pure noise.
pub const MAX_FINAL_ALPHA_CUMPROD: f64 = 0.05;

impl HeadsConfig {
    /// Every valid key, in declaration order (the names `--set` and sweep files use).
    pub fn keys() -> Vec<&'static str> {
        vec![
            "d",
            "alpha1",
            "beta",
            "alpha2",
            "gamma",
            "tau_init",
            "max_inv_tau",
            "timesteps",
            "schedule",
            "beta_start",
            "beta_end",
            "cosine_s",
            "hidden",
            "activation",
            "temb_dim",
            "cond_dropout",
            "guidance",
            "fusion",
            "fusion_features",
            "sampler",
            "ddim_steps",
            "samples",
            "lr",
            "weight_decay",
            "weight_decay_all",
            "dropout",
            "batch",
            "min_steps_per_epoch",
            "min_steps",
            "epochs",
            "phase2_epochs",
            "warmup",
            "patience",
            "patience_start",
            "phase1_select",
            "crossfit_folds",
            "probe_l2",
            "probe_max_iter",
            "seed",
            "val_fraction",
            "log_every",
        ]
        .into_iter()
        .chain(crate::model::config_align::AlignConfig::KEYS)
        .collect()
    }

    /// Parses a TOML config file (missing keys keep their defaults) and validates it.
    ///
    /// Errors: unreadable file, TOML syntax, unknown key, wrong type, invalid value (all naming
    /// the file).
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading config {}", path.display()))?;
        let cfg: Self = toml::from_str(&text)
            .with_context(|| format!("parsing config {} (valid keys: {})", path.display(), Self::keys().join(", ")))?;
        cfg.validate().with_context(|| format!("invalid config {}", path.display()))?;
        Ok(cfg)
    }

    /// The config as TOML text (what `config.toml` in a run folder holds).
    pub fn to_toml_string(&self) -> Result<String> {
        toml::to_string(self).context("serialising config to TOML")
    }

    /// Sets one key from a `--set key=value` string.
    ///
    /// `value` is parsed as a TOML value (`3`, `1e-3`, `true`, `"ddim"`); if that fails it is
    /// taken as a bare string (so `fusion=hm` works). Errors: unknown key (listing the valid
    /// ones) or a value of the wrong type / unknown variant, naming the key. Does not call
    /// [`validate`](Self::validate).
    pub fn apply_override(&mut self, key: &str, value: &str) -> Result<()> {
        let key = key.trim();
        if !Self::keys().contains(&key) {
            bail!("unknown config key `{key}`; valid keys: {}", Self::keys().join(", "));
        }
        let value = value.trim();
        let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut table = toml::Value::try_from(&*self).context("serialising config")?;
        let toml::Value::Table(ref mut map) = table else {
            bail!("config did not serialise to a table");
        };
        map.insert(key.to_string(), parsed);
        *self = table.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("config key `{key}`: cannot use value `{value}`: {}", e.message())
        })?;
        Ok(())
    }

    /// Checks every value; the error names the key and what was expected.
    pub fn validate(&self) -> Result<()> {
        fn unit_open(key: &str, v: f64) -> Result<()> {
            if !(v > 0.0 && v < 1.0) {
                bail!("config key `{key}` = {v}: expected a value in the open interval (0, 1)");
            }
            Ok(())
        }
        fn unit_half_open(key: &str, v: f64) -> Result<()> {
            if !(0.0..1.0).contains(&v) {
                bail!("config key `{key}` = {v}: expected a value in [0, 1)");
            }
            Ok(())
        }
        fn positive(key: &str, v: f64) -> Result<()> {
            if !(v > 0.0 && v.is_finite()) {
                bail!("config key `{key}` = {v}: expected a finite value > 0");
            }
            Ok(())
        }
        fn non_negative(key: &str, v: f64) -> Result<()> {
            if !(v >= 0.0 && v.is_finite()) {
                bail!("config key `{key}` = {v}: expected a finite value >= 0");
            }
            Ok(())
        }
        fn at_least_one(key: &str, v: usize) -> Result<()> {
            if v == 0 {
                bail!("config key `{key}` = 0: expected an integer >= 1");
            }
            Ok(())
        }
        at_least_one("d", self.d)?;
        for (k, v) in [("alpha1", self.alpha1), ("beta", self.beta), ("alpha2", self.alpha2), ("gamma", self.gamma)] {
            non_negative(k, v)?;
        }
        positive("tau_init", self.tau_init)?;
        positive("max_inv_tau", self.max_inv_tau)?;
        if 1.0 / self.tau_init > self.max_inv_tau {
            bail!(
                "config key `tau_init` = {}: 1/tau_init = {} exceeds max_inv_tau = {}",
                self.tau_init,
                1.0 / self.tau_init,
                self.max_inv_tau
            );
        }
        at_least_one("timesteps", self.timesteps)?;
        unit_open("beta_start", self.beta_start)?;
        unit_open("beta_end", self.beta_end)?;
        if self.beta_start > self.beta_end {
            bail!(
                "config key `beta_start` = {} is greater than `beta_end` = {}: the noise minimum must not exceed its maximum",
                self.beta_start, self.beta_end
            );
        }
        positive("cosine_s", self.cosine_s)?;
        at_least_one("hidden", self.hidden)?;
        if self.temb_dim < 2 || !self.temb_dim.is_multiple_of(2) {
            bail!("config key `temb_dim` = {}: expected an even integer >= 2", self.temb_dim);
        }
        unit_half_open("cond_dropout", self.cond_dropout)?;
        non_negative("guidance", self.guidance)?;
        if self.guidance > 0.0 && self.cond_dropout == 0.0 {
            bail!(
                "config key `guidance` = {}: classifier-free guidance needs a trained null condition; set cond_dropout > 0",
                self.guidance
            );
        }
        at_least_one("ddim_steps", self.ddim_steps)?;
        if self.sampler == SamplerKind::Ddim && self.ddim_steps > self.timesteps {
            bail!("config key `ddim_steps` = {}: must not exceed timesteps = {}", self.ddim_steps, self.timesteps);
        }
        at_least_one("samples", self.samples)?;
        positive("lr", self.lr)?;
        non_negative("weight_decay", self.weight_decay)?;
        unit_half_open("dropout", self.dropout)?;
        at_least_one("batch", self.batch)?;
        at_least_one("epochs", self.epochs)?;
        at_least_one("phase2_epochs", self.phase2_epochs)?;
        unit_half_open("warmup", self.warmup)?;
        if !(0.0..=1.0).contains(&self.patience_start) {
            bail!("config key `patience_start` = {}: expected a fraction in [0, 1]", self.patience_start);
        }
        if self.crossfit_folds == 1 {
            bail!("config key `crossfit_folds` = 1: expected 0 (off) or at least 2 folds");
        }
        if self.probe_l2.is_empty() {
            bail!("config key `probe_l2` = []: expected at least one L2 strength");
        }
        for &l in &self.probe_l2 {
            non_negative("probe_l2", l)?;
        }
        at_least_one("probe_max_iter", self.probe_max_iter)?;
        unit_open("val_fraction", self.val_fraction)?;
        at_least_one("log_every", self.log_every)?;
        self.align.validate()?;
        // Sampling starts from x_s^T ~ N(0, I); that is only the true marginal at t = T when
        // almost no signal is left, i.e. alphas_cumprod[T-1] is close to zero.
        let sched = crate::model::schedule::schedule_host(self)
            .with_context(|| format!("config key `schedule` = {}", self.schedule))?;
        let last = *sched.alphas_cumprod.last().expect("timesteps >= 1 checked above");
        if last > MAX_FINAL_ALPHA_CUMPROD {
            bail!(
                "config keys `schedule` = {}, `timesteps` = {}, `beta_start`/`beta_end` = {}/{}: \
                 alphas_cumprod[T-1] = {last:.4} > {MAX_FINAL_ALPHA_CUMPROD}; sampling starts from pure \
                 noise N(0, I), which is only the distribution of x_s^T when almost no signal is left at \
                 t = T, so the sampler would start far from what the denoiser was trained on. Raise \
                 `timesteps` or `beta_end`, or use the cosine schedule",
                self.schedule,
                self.timesteps,
                self.beta_start,
                self.beta_end
            );
        }
        Ok(())
    }
}

impl From<&HeadsConfig> for ScheduleSpec {
    /// The schedule keys of the config: `schedule`, `timesteps`, `beta_start`, `beta_end`, `cosine_s`.
    fn from(cfg: &HeadsConfig) -> Self {
        ScheduleSpec {
            kind: cfg.schedule,
            timesteps: cfg.timesteps,
            beta_start: cfg.beta_start,
            beta_end: cfg.beta_end,
            cosine_s: cfg.cosine_s,
        }
    }
}
