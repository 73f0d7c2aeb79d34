//! Synthetic in-memory caches for the learning and determinism tests.
#![allow(dead_code)]

use candle_core::Device;
use marnet_data::Split;
use marnet_heads::train::features::{FeatureParts, Features};
use marnet_heads::HeadsConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

/// K classes. Each class c has a prototype p_c in x_v space, but every sample shows it with a
/// random sign: x_v = ±p_c + 0.3·noise. The class means of x_v are all zero, so a linear classifier
/// on x_v is near chance; x_s = q_c + 0.1·noise carries the class strongly, and a non-linear
/// x_v -> x_s regressor (the CDR denoiser) recovers it. `n_per_class` train rows, a fifth as many
/// val rows and half as many test rows (no text) per class.
pub fn synthetic_features(k: usize, n_per_class: usize, d_v: usize, d_s: usize) -> Features {
    let mut rng = StdRng::seed_from_u64(42);
    let normal =
        |n: usize, rng: &mut StdRng| -> Vec<f32> { (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect() };
    let pv: Vec<Vec<f32>> = (0..k).map(|_| normal(d_v, &mut rng)).collect();
    let qs: Vec<Vec<f32>> = (0..k).map(|_| normal(d_s, &mut rng)).collect();
    let mut p = FeatureParts {
        ids: vec![],
        splits: vec![],
        labels: vec![],
        x_v: vec![],
        d_v,
        x_s: vec![],
        d_s,
        has_text: vec![],
        class_names: (0..k).map(|c| format!("class{c}")).collect(),
    };
    for (split, n) in [(Split::Train, n_per_class), (Split::Val, n_per_class / 5), (Split::Test, n_per_class / 2)] {
        for c in 0..k {
            for i in 0..n {
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                let nv = normal(d_v, &mut rng);
                p.x_v.extend(pv[c].iter().zip(&nv).map(|(a, e)| sign * a + 0.3 * e));
                let text = split != Split::Test;
                let ns = normal(d_s, &mut rng);
                p.x_s.extend(qs[c].iter().zip(&ns).map(|(a, e)| if text { a + 0.1 * e } else { 0.0 }));
                p.has_text.push(text);
                p.ids.push(format!("{}/{c}/{i}.jpg", split.as_str()));
                p.splits.push(split);
                p.labels.push(c as u32);
            }
        }
    }
    Features::from_parts(p, 0.1, 0, &Device::Cpu).expect("synthetic features")
}

/// A small config that trains in seconds in the debug profile.
pub fn small_config() -> HeadsConfig {
    let mut c = HeadsConfig::default();
    c.objective.d = 32;
    c.denoiser.hidden = 64;
    c.denoiser.temb_dim = 16;
    c.diffusion.timesteps = 20;
    c.budget.batch = 64;
    c.budget.epochs = 30;
    c.budget.phase2_epochs = 20;
    c.optim.lr = 3e-3;
    c.phases.patience = 0;
    c.run.log_every = 5;
    // The epochs above are the budget (the default floor of 1000 steps would make these
    // small tests slow in the debug profile).
    c.budget.min_steps = 0;
    c
}

/// Writes a 5-class cache (x_v 8-d, x_s 4-d) of [`synthetic_features`] into `dir` with
/// marnet-data's `CacheWriter` (one part), for the tests that run the `marnet-heads` binary.
pub fn write_cache(dir: &std::path::Path) {
    use marnet_data::cache::{CacheMetadata, CacheWriter, FeatureRows};
    let f = synthetic_features(5, 30, 8, 4);
    let n = f.len();
    let rows = FeatureRows {
        ids: f.ids.clone(),
        splits: f.splits.clone(),
        labels: f.labels.clone(),
        x_v: ndarray::Array2::from_shape_vec((n, 8), f.x_v.to_vec2::<f32>().unwrap().concat()).unwrap(),
        x_s: ndarray::Array2::from_shape_vec((n, 4), f.x_s.to_vec2::<f32>().unwrap().concat()).unwrap(),
        has_text: f.has_text.clone(),
    };
    let meta = CacheMetadata {
        image_model: "synthetic-image".into(),
        image_model_sha256: "0".repeat(64),
        image_model_type: "vit".into(),
        image_pooling: "cls".into(),
        preprocess: serde_json::json!({}),
        text_model: "synthetic-text".into(),
        text_model_sha256: "0".repeat(64),
        text_model_type: "bert".into(),
        text_pooling: "cls".into(),
        max_tokens: 32,
        text_normalize: false,
        dtype: "f32".into(),
        dataset: "synthetic".into(),
        class_names: f.class_names.clone(),
        d_v: 8,
        d_s: 4,
        tool_version: "test".into(),
    };
    let w = CacheWriter::create_or_resume(dir, meta, 1).unwrap();
    w.write_part(0, &rows).unwrap();
    w.finish().unwrap();
}
