//! Deterministic expansion of a [`SweepSpec`] into trials (one config each) and runs (one trial
//! and one seed each), and the content hash that names a run's record.
//!
//! Order: the grid as an odometer over its keys in sorted order (the last key changes fastest),
//! each grid point crossed with the `[random]` draws in draw order; then seeds `0..seeds` per
//! trial. The same file therefore always gives the same numbered runs, which `--worker k/n`
//! relies on.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

use super::spec::{Distribution, RandomSpec, SweepSpec};
use super::value::Value;

/// One point of the sweep: the effective overrides (`[fixed]` ∪ grid point ∪ random draw).
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Position in expansion order, from 0.
    pub index: usize,
    pub overrides: BTreeMap<String, Value>,
}

/// One training run: a trial with one seed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// Position in expansion order (`trial * seeds + seed`), from 0; `--worker k/n` takes the
    /// runs with `index % n == k`.
    pub index: usize,
    pub trial: usize,
    pub seed: u64,
    pub overrides: BTreeMap<String, Value>,
    /// [`run_hash`] of this run: the name of its record file.
    pub hash: String,
}

/// The grid points, the random draws, and their cross product with `[fixed]` added.
pub fn expand_trials(spec: &SweepSpec) -> Vec<Trial> {
    let mut points: Vec<BTreeMap<String, Value>> = vec![spec.fixed.clone()];
    for (key, values) in &spec.grid {
        points = points
            .into_iter()
            .flat_map(|p| {
                values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.insert(key.clone(), v.clone());
                    q
                })
            })
            .collect();
    }
    let draws = spec.random.as_ref().map(draw_random).unwrap_or_else(|| vec![BTreeMap::new()]);
    points
        .iter()
        .flat_map(|p| {
            draws.iter().map(move |d| {
                let mut q = p.clone();
                q.extend(d.clone());
                q
            })
        })
        .enumerate()
        .map(|(index, overrides)| Trial { index, overrides })
        .collect()
}

/// `trials` draws of every `[random]` key (keys in sorted order within a draw), from a
/// `StdRng` seeded with `seed`.
pub fn draw_random(r: &RandomSpec) -> Vec<BTreeMap<String, Value>> {
    let mut rng = StdRng::seed_from_u64(r.seed);
    (0..r.trials).map(|_| r.params.iter().map(|(k, dist)| (k.clone(), sample(dist, &mut rng))).collect()).collect()
}

fn sample(dist: &Distribution, rng: &mut StdRng) -> Value {
    match dist {
        Distribution::Choices(c) => c[rng.random_range(0..c.len())].clone(),
        Distribution::Range { min, max, log, integer } => {
            let u: f64 = rng.random();
            let x = if *log { (min.ln() + u * (max.ln() - min.ln())).exp() } else { min + u * (max - min) };
            let x = x.clamp(*min, *max);
            if *integer {
                Value::Int(x.round() as i64)
            } else {
                Value::Float(x)
            }
        }
    }
}

/// Every run of the sweep for `mode`, in expansion order.
pub fn expand_runs(spec: &SweepSpec, mode: &str) -> Vec<RunSpec> {
    let seeds = spec.seeds.max(1) as u64;
    expand_trials(spec)
        .into_iter()
        .flat_map(|t| {
            (0..seeds).map(move |seed| RunSpec {
                index: 0,
                trial: t.index,
                seed,
                hash: run_hash(&t.overrides, seed, mode),
                overrides: t.overrides.clone(),
            })
        })
        .enumerate()
        .map(|(i, mut r)| {
            r.index = i;
            r
        })
        .collect()
}

/// sha256 (hex) of the canonical JSON `{"mode":..,"overrides":{key: value string, sorted},
/// "seed":..}`: equal for equal effective runs, whatever their position in the file.
pub fn run_hash(overrides: &BTreeMap<String, Value>, seed: u64, mode: &str) -> String {
    let strings: BTreeMap<&str, String> = overrides.iter().map(|(k, v)| (k.as_str(), v.to_string())).collect();
    let canonical = serde_json::json!({ "mode": mode, "overrides": strings, "seed": seed });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}
