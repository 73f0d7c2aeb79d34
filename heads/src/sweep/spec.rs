//! The sweep file (TOML): which config keys a sweep varies and how.
//!
//! ```toml
//! seeds = 2                 # runs per trial, with seeds 0..seeds (default 1)
//! mode = "fusion"           # optional; `--mode` on the command line wins
//! reference = ["baseline"]  # optional: modes also run once per seed with [fixed] only; the
//!                           # leaderboard shows each trial's paired difference to `baseline`
//! [fixed]                   # the same override in every trial
//! epochs = 5
//! [grid]                    # every combination (cartesian product)
//! fusion = ["concat", "add"]
//! d = [128, 256]
//! [random]                  # `trials` draws, crossed with the grid
//! trials = 4
//! seed = 0
//! lr = { min = 1e-4, max = 1e-2, scale = "log" }   # float; "linear" is the default scale
//! cdr_hidden = { min = 256, max = 1024 }           # both bounds integers: rounded to an integer
//! dropout = { choices = [0.0, 0.1, 0.3] }
//! ```
//! or, instead of `[grid]` and `[random]`, a `[search]` with an optional `[prune]`
//! ([`super::search_spec`]).
//! Keys are `HeadsConfig` keys (`--set key=value`); they are checked against the config before
//! any trial runs (see [`super::engine`]).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::search_spec::{parse_prune, parse_search, PruneSpec, SearchSpec};
use super::value::Value;

/// How a `[random]` key is drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    /// Uniform in `[min, max]`, or log-uniform when `log`; rounded when `integer`.
    Range { min: f64, max: f64, log: bool, integer: bool },
    /// One of the listed values, uniformly.
    Choices(Vec<Value>),
}

/// The `[random]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RandomSpec {
    /// Number of draws (each crossed with every grid point).
    pub trials: usize,
    /// Seed of the draws (ChaCha `StdRng`), so the same file gives the same trials.
    pub seed: u64,
    /// Distribution per key, in key order.
    pub params: BTreeMap<String, Distribution>,
}

/// A parsed sweep file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SweepSpec {
    /// Runs per trial, seeds `0..seeds`.
    pub seeds: usize,
    /// Mode to train, when the file names one.
    pub mode: Option<String>,
    pub fixed: BTreeMap<String, Value>,
    pub grid: BTreeMap<String, Vec<Value>>,
    pub random: Option<RandomSpec>,
    /// Reference modes (e.g. `baseline`, `probe`) run with every seed and only the `[fixed]`
    /// overrides, so each trial can be compared to them seed by seed.
    pub reference: Vec<String>,
    /// `[search]`: a sampler that proposes trials one at a time (excludes `[grid]`, `[random]`).
    pub search: Option<SearchSpec>,
    /// `[prune]`: early stopping of trials (needs `[search]`).
    pub prune: Option<PruneSpec>,
}

impl SweepSpec {
    /// The sweep of one reference mode: the same seeds and `[fixed]`, no grid or random keys.
    pub fn reference_spec(&self, mode: &str) -> SweepSpec {
        SweepSpec { seeds: self.seeds, mode: Some(mode.to_string()), fixed: self.fixed.clone(), ..Default::default() }
    }

    /// Keys that take more than one value across trials (grid lists of 2+ values, random keys).
    pub fn swept_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.grid.iter().filter(|(_, v)| v.len() > 1).map(|(k, _)| k.clone()).collect();
        if let Some(r) = &self.random {
            keys.extend(r.params.keys().cloned());
        }
        if let Some(r) = &self.search {
            keys.extend(r.params.keys().cloned());
        }
        keys.sort();
        keys
    }
}

/// Reads and parses a sweep file.
///
/// # Errors
/// The file cannot be read, or [`parse_sweep`] fails (messages name the file).
pub fn load_sweep(path: &Path) -> Result<SweepSpec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading sweep file {}", path.display()))?;
    parse_sweep(&text, &path.display().to_string())
}

/// Parses sweep TOML; `origin` (usually the file name) prefixes every error message.
///
/// # Errors
/// Invalid TOML, an unknown section, a key in two sections, an empty grid list, a random range
/// with `min > max` or a non-positive bound on a log scale, an unknown `scale`, `trials` or
/// `seeds` below 1.
pub fn parse_sweep(text: &str, origin: &str) -> Result<SweepSpec> {
    let doc: toml::Table = text.parse().with_context(|| format!("{origin}: invalid TOML"))?;
    let mut spec = SweepSpec { seeds: 1, ..Default::default() };
    for (key, v) in &doc {
        match (key.as_str(), v) {
            ("seeds", toml::Value::Integer(n)) if *n >= 1 => spec.seeds = *n as usize,
            ("seeds", other) => bail!("{origin}: `seeds` must be an integer ≥ 1, found `{other}`"),
            ("mode", toml::Value::String(m)) => spec.mode = Some(m.clone()),
            ("mode", other) => bail!("{origin}: `mode` must be a string, found `{other}`"),
            ("reference", toml::Value::Array(items)) => {
                for it in items {
                    let toml::Value::String(m) = it else {
                        bail!("{origin}: `reference` must be a list of mode names, found `{it}`");
                    };
                    spec.reference.push(m.clone());
                }
            }
            ("reference", other) => {
                bail!("{origin}: `reference` must be a list of mode names like [\"baseline\"], found `{other}`")
            }
            ("fixed", toml::Value::Table(t)) => {
                for (k, v) in t {
                    spec.fixed.insert(k.clone(), Value::from_toml(v, &format!("{origin}: [fixed] {k}"))?);
                }
            }
            ("grid", toml::Value::Table(t)) => {
                for (k, v) in t {
                    spec.grid.insert(k.clone(), parse_list(v, &format!("{origin}: [grid] {k}"))?);
                }
            }
            ("random", toml::Value::Table(t)) => spec.random = Some(parse_random(t, origin)?),
            ("search", toml::Value::Table(t)) => spec.search = Some(parse_search(t, origin)?),
            ("prune", toml::Value::Table(t)) => spec.prune = Some(parse_prune(t, origin)?),
            ("fixed" | "grid" | "random" | "search" | "prune", other) => {
                bail!("{origin}: `{key}` must be a table ([{key}]), found {}", other.type_str())
            }
            _ => bail!(
                "{origin}: unknown top-level key `{key}`; expected `seeds`, `mode`, `reference`, \
                 [fixed], [grid], [random], [search] or [prune]"
            ),
        }
    }
    check_disjoint(&spec, origin)?;
    Ok(spec)
}

fn parse_list(v: &toml::Value, what: &str) -> Result<Vec<Value>> {
    let toml::Value::Array(items) = v else {
        bail!("{what}: expected a list of values like [1, 2], found `{v}`");
    };
    if items.is_empty() {
        bail!("{what}: the list is empty");
    }
    items.iter().map(|x| Value::from_toml(x, what)).collect()
}

fn parse_random(t: &toml::Table, origin: &str) -> Result<RandomSpec> {
    let mut trials = None;
    let mut seed = 0u64;
    let mut params = BTreeMap::new();
    for (k, v) in t {
        let what = format!("{origin}: [random] {k}");
        match (k.as_str(), v) {
            ("trials", toml::Value::Integer(n)) if *n >= 1 => trials = Some(*n as usize),
            ("trials", _) => bail!("{what}: expected an integer ≥ 1, found `{v}`"),
            ("seed", toml::Value::Integer(n)) if *n >= 0 => seed = *n as u64,
            ("seed", _) => bail!("{what}: expected an integer ≥ 0, found `{v}`"),
            (_, toml::Value::Table(d)) => {
                params.insert(k.clone(), parse_distribution(d, &what)?);
            }
            _ => bail!(
                "{what}: expected {{ min = .., max = .., scale = \"linear\"|\"log\" }} or \
                 {{ choices = [..] }}, found `{v}`"
            ),
        }
    }
    let trials = trials.with_context(|| format!("{origin}: [random] needs `trials = N`"))?;
    Ok(RandomSpec { trials, seed, params })
}

/// Parses `{ min, max, scale }` or `{ choices }`; `what` names the file and key in errors.
///
/// # Errors
/// Unknown fields, non-numeric bounds, `min > max`, a log scale with `min <= 0`.
pub(crate) fn parse_distribution(d: &toml::Table, what: &str) -> Result<Distribution> {
    if let Some(c) = d.get("choices") {
        if d.len() != 1 {
            bail!("{what}: `choices` cannot be combined with other fields");
        }
        return Ok(Distribution::Choices(parse_list(c, what)?));
    }
    for k in d.keys() {
        if !matches!(k.as_str(), "min" | "max" | "scale") {
            bail!("{what}: unknown field `{k}`; expected min, max, scale or choices");
        }
    }
    let bound = |name: &str| -> Result<(f64, bool)> {
        match d.get(name) {
            Some(toml::Value::Integer(i)) => Ok((*i as f64, true)),
            Some(toml::Value::Float(f)) if f.is_finite() => Ok((*f, false)),
            Some(other) => bail!("{what}: `{name}` must be a number, found `{other}`"),
            None => bail!("{what}: missing `{name}`"),
        }
    };
    let (min, min_int) = bound("min")?;
    let (max, max_int) = bound("max")?;
    let log = match d.get("scale") {
        None => false,
        Some(toml::Value::String(s)) if s == "linear" => false,
        Some(toml::Value::String(s)) if s == "log" => true,
        Some(other) => bail!("{what}: `scale` must be \"linear\" or \"log\", found `{other}`"),
    };
    if min > max {
        bail!("{what}: min {min} is greater than max {max}");
    }
    if log && min <= 0.0 {
        bail!("{what}: a log scale needs min > 0, found {min}");
    }
    Ok(Distribution::Range { min, max, log, integer: min_int && max_int })
}

fn check_disjoint(spec: &SweepSpec, origin: &str) -> Result<()> {
    if spec.search.is_some() && (!spec.grid.is_empty() || spec.random.is_some()) {
        bail!("{origin}: [search] proposes every trial itself; it cannot be combined with [grid] or [random]");
    }
    if spec.prune.is_some() && spec.search.is_none() {
        bail!("{origin}: [prune] needs [search] (for pruned random search: [search] sampler = \"random\")");
    }
    if let Some(k) = spec.search.iter().flat_map(|s| s.params.keys()).find(|k| spec.fixed.contains_key(*k)) {
        bail!("{origin}: key `{k}` is in both [fixed] and [search]");
    }
    let random_keys: Vec<&String> = spec.random.iter().flat_map(|r| r.params.keys()).collect();
    for k in spec.grid.keys() {
        if spec.fixed.contains_key(k) {
            bail!("{origin}: key `{k}` is in both [fixed] and [grid]");
        }
    }
    for k in random_keys {
        if spec.fixed.contains_key(k) || spec.grid.contains_key(k) {
            bail!("{origin}: key `{k}` is in [random] and also in [fixed] or [grid]");
        }
    }
    Ok(())
}
