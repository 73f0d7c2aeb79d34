//! Every hyperparameter of stage two, grouped by concept (DESIGN §2).
//!
//! The paper (MARNet, ICANN 2024) publishes no hyperparameters, so each *default* is ours and
//! each is a key that `--set key=value` or a sweep file can vary. The groups are flattened into
//! one TOML table (`config.toml` in each run folder): a key is named by its field alone, never
//! by its group, so the groups can be rearranged without changing a saved file.
//! [`HeadsConfig::validate`] rejects values that would make training or sampling meaningless,
//! naming the offending key.

pub mod align;
mod budget;
mod check;
mod denoiser;
mod diffusion;
pub mod keys;
mod objective;
mod optim;
mod phases;
mod probe;
mod run;
mod sampling;

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub use align::{AlignConfig, DistillTeacher};
pub use budget::BudgetConfig;
pub use denoiser::DenoiserConfig;
pub use diffusion::{DiffusionConfig, MAX_FINAL_ALPHA_CUMPROD};
pub use objective::ObjectiveConfig;
pub use optim::OptimConfig;
pub use phases::PhasesConfig;
pub use probe::ProbeConfig;
pub use run::RunConfig;
pub use sampling::SamplingConfig;

pub use crate::model::choices::{Activation, FusionFeatures, FusionKind, Phase1Select, SamplerKind};
pub use crate::model::schedule::ScheduleKind;
use crate::model::schedule::ScheduleSpec;

/// All stage-two hyperparameters (DESIGN §2). `Default` gives the DESIGN defaults.
///
/// Serialised as one flat TOML table; the group order below is the key order of `config.toml`
/// (kept so that files and the `config` metadata of `predictions.parquet` written before the
/// grouping are byte-identical). Deserialising goes through a [`toml::Table`] whose keys are
/// checked against [`HeadsConfig::keys`] first, because serde's `deny_unknown_fields` does not
/// work together with `flatten`: an unknown key fails naming it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "toml::Table")]
pub struct HeadsConfig {
    /// `d`, loss weights, temperature.
    #[serde(flatten)]
    pub objective: ObjectiveConfig,
    /// `timesteps` and the noise schedule.
    #[serde(flatten)]
    pub diffusion: DiffusionConfig,
    /// Denoiser width, activation, time embedding, condition dropout.
    #[serde(flatten)]
    pub denoiser: DenoiserConfig,
    /// Sampler, guidance, chains, fusion.
    #[serde(flatten)]
    pub sampling: SamplingConfig,
    /// AdamW and dropout.
    #[serde(flatten)]
    pub optim: OptimConfig,
    /// Batch, epochs, steps, warmup.
    #[serde(flatten)]
    pub budget: BudgetConfig,
    /// Early stopping, phase-1 selection, cross-fitting.
    #[serde(flatten)]
    pub phases: PhasesConfig,
    /// Linear probe.
    #[serde(flatten)]
    pub probe: ProbeConfig,
    /// Seed, val split, logging.
    #[serde(flatten)]
    pub run: RunConfig,
    /// The Table 1 rows: alignment baselines and the distillation yardstick.
    #[serde(flatten)]
    pub align: AlignConfig,
}

impl HeadsConfig {
    /// Every valid key, in declaration order (the names `--set` and sweep files use), read
    /// from the group structs' derived `Deserialize` impls.
    pub fn keys() -> Vec<&'static str> {
        use keys::field_names;
        [
            field_names::<ObjectiveConfig>(),
            field_names::<DiffusionConfig>(),
            field_names::<DenoiserConfig>(),
            field_names::<SamplingConfig>(),
            field_names::<OptimConfig>(),
            field_names::<BudgetConfig>(),
            field_names::<PhasesConfig>(),
            field_names::<ProbeConfig>(),
            field_names::<RunConfig>(),
            field_names::<AlignConfig>(),
        ]
        .concat()
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

    /// Checks every group, then the keys that depend on another group; the error names the key
    /// and what was expected.
    pub fn validate(&self) -> Result<()> {
        self.objective.validate()?;
        self.diffusion.validate()?;
        self.denoiser.validate()?;
        self.sampling.validate()?;
        self.optim.validate()?;
        self.budget.validate()?;
        self.phases.validate()?;
        self.probe.validate()?;
        self.run.validate()?;
        self.align.validate()?;
        let s = &self.sampling;
        // Guidance mixes the conditional and the null-condition prediction; without condition
        // dropout the null condition is never trained.
        if s.guidance > 0.0 && self.denoiser.cond_dropout == 0.0 {
            bail!(
                "config key `guidance` = {}: classifier-free guidance needs a trained null condition; set cond_dropout > 0",
                s.guidance
            );
        }
        if s.sampler == SamplerKind::Ddim && s.ddim_steps > self.diffusion.timesteps {
            bail!(
                "config key `ddim_steps` = {}: must not exceed timesteps = {}",
                s.ddim_steps,
                self.diffusion.timesteps
            );
        }
        Ok(())
    }
}

impl TryFrom<toml::Table> for HeadsConfig {
    type Error = String;

    /// Checks every key against [`HeadsConfig::keys`], then reads each group from the keys it
    /// owns (missing keys keep their defaults).
    fn try_from(table: toml::Table) -> std::result::Result<Self, String> {
        let keys = Self::keys();
        if let Some(k) = table.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(format!("unknown config key `{k}`; valid keys: {}", keys.join(", ")));
        }
        Ok(Self {
            objective: group(&table)?,
            diffusion: group(&table)?,
            denoiser: group(&table)?,
            sampling: group(&table)?,
            optim: group(&table)?,
            budget: group(&table)?,
            phases: group(&table)?,
            probe: group(&table)?,
            run: group(&table)?,
            align: group(&table)?,
        })
    }
}

/// Reads the group `T` from the keys of `table` it owns; a value of the wrong type fails naming
/// its key (the whole-table error of the TOML deserializer does not).
fn group<T: DeserializeOwned>(table: &toml::Table) -> std::result::Result<T, String> {
    let own = keys::field_names::<T>();
    let part: toml::Table =
        table.iter().filter(|(k, _)| own.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    toml::Value::Table(part.clone()).try_into().map_err(|e: toml::de::Error| {
        // Find the key whose value alone fails, to name it.
        let bad = part.iter().find(|(k, v)| {
            let one: toml::Table = [((*k).clone(), (*v).clone())].into_iter().collect();
            toml::Value::Table(one).try_into::<T>().is_err()
        });
        match bad {
            Some((k, v)) => format!("config key `{k}` = {v}: {}", e.message()),
            None => e.message().to_string(),
        }
    })
}

impl From<&HeadsConfig> for ScheduleSpec {
    /// The schedule keys of the config: `schedule`, `timesteps`, `beta_start`, `beta_end`, `cosine_s`.
    fn from(cfg: &HeadsConfig) -> Self {
        ScheduleSpec::from(&cfg.diffusion)
    }
}
