//! The feature cache as device tensors (DESIGN §2 "Notation", §3).
//!
//! Built once per run and shared read-only (it is `Sync`, so a sweep can share it across rayon
//! threads). `x_s` is standardised per dimension with the mean and std of the train rows that have
//! text (population std; a dimension with std < 1e-6 keeps std 1); rows without text (all test
//! rows) hold zeros. Validation rows are the dataset's val split, or, when it has none, a
//! stratified `val_fraction` of train: per class `round(val_fraction·n_c)` rows, at least one when
//! the class has two or more rows, drawn with a seeded shuffle.

use super::rng_streams as streams;
use crate::nn::rng::HostRng;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor};
use marnet_data::cache::FeatureCache;
use marnet_data::Split;

/// Host-side inputs of [`Features::from_parts`] (what a cache holds).
#[derive(Debug, Clone)]
pub struct FeatureParts {
    pub ids: Vec<String>,
    pub splits: Vec<Split>,
    pub labels: Vec<u32>,
    /// (n × d_v) row-major.
    pub x_v: Vec<f32>,
    pub d_v: usize,
    /// (n × d_s) row-major, zeros where `has_text` is false.
    pub x_s: Vec<f32>,
    pub d_s: usize,
    pub has_text: Vec<bool>,
    pub class_names: Vec<String>,
}

/// The cache as tensors plus the row partition.
#[derive(Debug, Clone)]
pub struct Features {
    pub device: Device,
    pub class_names: Vec<String>,
    pub ids: Vec<String>,
    /// Effective split of every row (carved val rows are `Val`).
    pub splits: Vec<Split>,
    pub labels: Vec<u32>,
    pub has_text: Vec<bool>,
    /// Labels (n,) u32.
    pub labels_t: Tensor,
    /// Image features (n, d_v) f32.
    pub x_v: Tensor,
    /// Standardised text features (n, d_s) f32; zero rows where there is no text.
    pub x_s: Tensor,
    pub d_v: usize,
    pub d_s: usize,
    /// Per-dimension mean of the raw train `x_s` (d_s).
    pub x_s_mean: Vec<f32>,
    /// Per-dimension std used for standardising (d_s).
    pub x_s_std: Vec<f32>,
    /// Global row indices of train rows.
    pub train: Vec<u32>,
    /// Train rows that have text.
    pub train_text: Vec<u32>,
    pub val: Vec<u32>,
    /// Val rows that have text.
    pub val_text: Vec<u32>,
    pub test: Vec<u32>,
    /// True when val rows were carved from train.
    pub val_carved: bool,
}

impl Features {
    /// Number of classes K.
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Number of rows n.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Labels of the given rows.
    pub fn labels_of(&self, rows: &[u32]) -> Vec<u32> {
        rows.iter().map(|&r| self.labels[r as usize]).collect()
    }

    /// Builds the features from a cache read by `marnet_data::cache::read_cache`.
    pub fn from_cache(cache: &FeatureCache, val_fraction: f64, split_seed: u64, device: &Device) -> Result<Self> {
        let r = &cache.rows;
        let (n, d_v) = (r.x_v.nrows(), r.x_v.ncols());
        let d_s = r.x_s.ncols();
        ensure!(r.x_s.nrows() == n, "cache: x_s has {} rows but x_v has {n}", r.x_s.nrows());
        let parts = FeatureParts {
            ids: r.ids.clone(),
            splits: r.splits.clone(),
            labels: r.labels.clone(),
            x_v: r.x_v.iter().copied().collect(),
            d_v,
            x_s: r.x_s.iter().copied().collect(),
            d_s,
            has_text: r.has_text.clone(),
            class_names: cache.metadata.class_names.clone(),
        };
        Self::from_parts(parts, val_fraction, split_seed, device)
    }

    /// Builds the features from host vectors. Errors on inconsistent lengths, labels out of range,
    /// no train rows with text, no test rows.
    pub fn from_parts(p: FeatureParts, val_fraction: f64, split_seed: u64, device: &Device) -> Result<Self> {
        check_parts(&p)?;
        let n = p.labels.len();
        let mut splits = p.splits.clone();
        let has_val = splits.contains(&Split::Val);
        if !has_val {
            carve_val(&mut splits, &p.labels, p.class_names.len(), val_fraction, split_seed);
        }
        let rows = RowPartition::of(&splits, &p.has_text)?;
        let d_s = p.d_s;
        let stats = TextStats::of(&p.x_s, d_s, &rows.train_text);
        let mut x_s = p.x_s;
        stats.standardise(&mut x_s, &p.has_text);
        Ok(Self {
            device: device.clone(),
            labels_t: Tensor::from_slice(&p.labels, n, device)?,
            x_v: Tensor::from_vec(p.x_v, (n, p.d_v), device).context("building x_v tensor")?,
            x_s: Tensor::from_vec(x_s, (n, d_s), device).context("building x_s tensor")?,
            class_names: p.class_names,
            ids: p.ids,
            splits,
            labels: p.labels,
            has_text: p.has_text,
            d_v: p.d_v,
            d_s,
            x_s_mean: stats.mean.iter().map(|&v| v as f32).collect(),
            x_s_std: stats.std.iter().map(|&v| v as f32).collect(),
            train: rows.train,
            train_text: rows.train_text,
            val: rows.val,
            val_text: rows.val_text,
            test: rows.test,
            val_carved: !has_val,
        })
    }
}

/// Checks that the columns of `p` agree in length and every label names a class.
fn check_parts(p: &FeatureParts) -> Result<()> {
    let n = p.labels.len();
    let k = p.class_names.len();
    ensure!(k > 0, "cache has no class names");
    ensure!(p.ids.len() == n && p.splits.len() == n && p.has_text.len() == n, "cache columns have different lengths");
    ensure!(p.x_v.len() == n * p.d_v, "x_v has {} values, expected {n} x {}", p.x_v.len(), p.d_v);
    ensure!(p.x_s.len() == n * p.d_s, "x_s has {} values, expected {n} x {}", p.x_s.len(), p.d_s);
    if let Some((i, y)) = p.labels.iter().enumerate().find(|(_, &y)| y as usize >= k) {
        bail!("row {} (id {}): label {y} is out of range for {k} classes", i, p.ids[i]);
    }
    Ok(())
}

/// Global row indices of each split (ascending), and of its rows with text.
struct RowPartition {
    train: Vec<u32>,
    train_text: Vec<u32>,
    val: Vec<u32>,
    val_text: Vec<u32>,
    test: Vec<u32>,
}

impl RowPartition {
    /// Errors when there is no train row with text, no val row or no test row.
    fn of(splits: &[Split], has_text: &[bool]) -> Result<Self> {
        let rows_of = |s: Split, text: bool| -> Vec<u32> {
            (0..splits.len()).filter(|&i| splits[i] == s && (!text || has_text[i])).map(|i| i as u32).collect()
        };
        let rows = Self {
            train: rows_of(Split::Train, false),
            train_text: rows_of(Split::Train, true),
            val: rows_of(Split::Val, false),
            val_text: rows_of(Split::Val, true),
            test: rows_of(Split::Test, false),
        };
        ensure!(!rows.train_text.is_empty(), "cache has no train rows with text (x_s)");
        ensure!(!rows.val.is_empty(), "no validation rows (the train split is too small to carve val_fraction from)");
        ensure!(!rows.test.is_empty(), "cache has no test rows");
        Ok(rows)
    }
}

/// Per-dimension mean and population std of the raw `x_s` of the train rows with text (f64
/// accumulation; a dimension with std < 1e-6 keeps std 1).
struct TextStats {
    mean: Vec<f64>,
    std: Vec<f64>,
}

impl TextStats {
    /// Statistics of the rows `train_text` of `x_s` (n × d_s, row-major).
    fn of(x_s: &[f32], d_s: usize, train_text: &[u32]) -> Self {
        let mut mean = vec![0f64; d_s];
        let mut sq = vec![0f64; d_s];
        for &r in train_text {
            let row = &x_s[r as usize * d_s..(r as usize + 1) * d_s];
            for j in 0..d_s {
                mean[j] += row[j] as f64;
                sq[j] += (row[j] as f64).powi(2);
            }
        }
        let m = train_text.len() as f64;
        let mean: Vec<f64> = mean.iter().map(|s| s / m).collect();
        let std: Vec<f64> = sq
            .iter()
            .zip(&mean)
            .map(|(s, mu)| {
                let sd = (s / m - mu * mu).max(0.0).sqrt();
                if sd < 1e-6 {
                    1.0
                } else {
                    sd
                }
            })
            .collect();
        Self { mean, std }
    }

    /// Standardises every row of `x_s` that has text in place; rows without text become zeros.
    fn standardise(&self, x_s: &mut [f32], has_text: &[bool]) {
        let d_s = self.mean.len();
        for (i, &text) in has_text.iter().enumerate() {
            let row = &mut x_s[i * d_s..(i + 1) * d_s];
            if text {
                for ((x, mu), sd) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                    *x = ((*x as f64 - mu) / sd) as f32;
                }
            } else {
                row.fill(0.0);
            }
        }
    }
}

/// Marks a stratified `fraction` of each class's train rows as `Val` (seeded).
fn carve_val(splits: &mut [Split], labels: &[u32], k: usize, fraction: f64, seed: u64) {
    let mut rng = HostRng::new(seed, streams::VAL_SPLIT);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, s) in splits.iter().enumerate() {
        if *s == Split::Train {
            by_class[labels[i] as usize].push(i);
        }
    }
    for rows in by_class.iter_mut() {
        let c = rows.len();
        let mut take = (fraction * c as f64).round() as usize;
        if c >= 2 {
            take = take.max(1);
        }
        take = take.min(c.saturating_sub(1));
        rng.shuffle(rows);
        for &i in rows.iter().take(take) {
            splits[i] = Split::Val;
        }
    }
}
