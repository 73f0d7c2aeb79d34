//! The diffusion schedule (DESIGN §2, eqs. 14-16, 21-23) against hand values, and the T = 1 edge.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use marnet_heads::model::config::{HeadsConfig, SamplerKind, ScheduleKind};
use marnet_heads::model::denoiser::Denoiser;
use marnet_heads::model::sampler::{initial_noise, sample};
use marnet_heads::model::schedule::{cosine_betas, linear_betas, schedule_host};
use marnet_heads::nn::params::ParamBuilder;
use marnet_heads::nn::rng::HostRng;

/// T = `t` and a small denoiser (hidden 16, temb_dim 8).
fn small_denoiser_config(t: usize) -> HeadsConfig {
    let mut c = HeadsConfig::default();
    (c.diffusion.timesteps, c.denoiser.hidden, c.denoiser.temb_dim) = (t, 16, 8);
    c
}

fn cfg(schedule: ScheduleKind, t: usize) -> HeadsConfig {
    let mut c = HeadsConfig::default();
    (c.diffusion.schedule, c.diffusion.timesteps) = (schedule, t);
    c
}

#[test]
fn linear_betas_t4_match_linspace() {
    // linspace(1e-4, 0.02, 4): step (0.02 - 1e-4)/3 = 0.0066333 -> 1e-4, 0.0067333, 0.0133667, 0.02.
    let b = linear_betas(4, 1e-4, 0.02);
    let want = [1e-4, 0.006_733_333, 0.013_366_667, 0.02];
    for (x, w) in b.iter().zip(want) {
        assert!((x - w).abs() < 1e-8, "{b:?}");
    }
}

#[test]
fn cosine_betas_t4_match_hand_values() {
    // f(t) = cos²((t/4 + 0.008)/1.008 · π/2): f(0) = 0.9998446, f(1) = 0.8468805, f(2) = 0.4937668,
    // f(3) = 0.1442497, f(4) = 3.7e-33. betas = 1 - f(t)/f(t-1) = 0.1529878, 0.4169581, 0.7078587,
    // and 1 - 2.6e-32 clipped to 0.999. alphas_cumprod = 0.8470122, 0.4938436, 0.1442721, 0.0001443.
    let b = cosine_betas(4, 0.008);
    let want = [0.152_987_84, 0.416_958_09, 0.707_858_71, 0.999];
    for (x, w) in b.iter().zip(want) {
        assert!((x - w).abs() < 1e-6, "{b:?}");
    }
    let s = schedule_host(&cfg(ScheduleKind::Cosine, 4)).unwrap();
    let want_ac = [0.847_012_16, 0.493_843_59, 0.144_272_10, 0.000_144_272];
    for (x, w) in s.alphas_cumprod.iter().zip(want_ac) {
        assert!((x - w).abs() < 1e-6, "{:?}", s.alphas_cumprod);
    }
}

#[test]
fn alphas_cumprod_decreases_and_first_step_is_exact() {
    for kind in [ScheduleKind::Linear, ScheduleKind::Cosine] {
        let s = schedule_host(&cfg(kind, 50)).unwrap();
        assert!(s.alphas_cumprod.windows(2).all(|w| w[1] < w[0]), "{kind}: not decreasing");
        // t = 1: alphas_cumprod_prev = 1, so coef1 = β_1/(1-ᾱ_1) = β_1/β_1 = 1, coef2 = 0, var = 0.
        assert_eq!(s.alphas_cumprod_prev[0], 1.0);
        assert!((s.posterior_mean_coef1[0] - 1.0).abs() < 1e-12, "{}", s.posterior_mean_coef1[0]);
        assert_eq!(s.posterior_mean_coef2[0], 0.0);
        assert_eq!(s.posterior_variance[0], 0.0);
        for v in [&s.betas, &s.alphas_cumprod, &s.posterior_mean_coef1, &s.posterior_mean_coef2, &s.posterior_variance]
        {
            assert!(v.iter().all(|x| x.is_finite()), "{kind}: non-finite value");
        }
    }
}

#[test]
fn cosine_t1000_is_finite_and_ends_near_zero() {
    let s = schedule_host(&cfg(ScheduleKind::Cosine, 1000)).unwrap();
    assert!(s.betas.iter().all(|b| *b > 0.0 && *b <= 0.999));
    assert!(s
        .posterior_mean_coef1
        .iter()
        .chain(&s.posterior_mean_coef2)
        .chain(&s.posterior_variance)
        .all(|x| x.is_finite()));
    // f(1000)/f(0) = cos²(π/2)/… ≈ 0: the last ᾱ is below 1e-6.
    assert!(*s.alphas_cumprod.last().unwrap() < 1e-6);
}

/// A seeded denoiser for x_v 6-d, x_s 4-d under `c`, and 5 seeded x_v rows.
fn tiny_denoiser(c: &HeadsConfig) -> (Denoiser, Tensor) {
    let dev = Device::Cpu;
    let vm = VarMap::new();
    let mut init = HostRng::new(3, 1);
    let den = Denoiser::new(&mut ParamBuilder::new(&vm, &mut init, &dev), 6, 4, c).unwrap();
    (den, HostRng::new(9, 9).normal(5, 6, &dev).unwrap())
}

#[test]
fn t1_sampling_returns_the_denoiser_prediction_exactly() {
    // Cosine T = 1: β_1 = 0.999, ᾱ_0 = 1, so μ = 1·x̂_0 + 0·x_1 and no noise at the last step.
    for sampler in [SamplerKind::Ddpm, SamplerKind::Ddim] {
        let mut c = small_denoiser_config(1);
        (c.sampling.sampler, c.sampling.ddim_steps) = (sampler, 1);
        c.validate().unwrap();
        let dev = Device::Cpu;
        let (den, x_v) = tiny_denoiser(&c);
        let sched = schedule_host(&c).unwrap();
        let out = sample(&den, &sched, &x_v, 4, &c, &mut HostRng::new(11, 0)).unwrap();
        // The chain's first draw is x_T; the same seed reproduces it.
        let x_t = initial_noise(&x_v, 4, &mut HostRng::new(11, 0)).unwrap();
        let cond = den.cond(Some(&x_v)).unwrap();
        let direct = den.forward_terms(&x_t, &cond, &den.time_term(1).unwrap()).unwrap();
        assert_eq!(out.to_vec2::<f32>().unwrap(), direct.to_vec2::<f32>().unwrap(), "{sampler}");
        // And it agrees with the per-row time-embedding path up to rounding.
        let t_idx = Tensor::zeros(5, DType::U32, &dev).unwrap();
        let per_row = den.forward(&x_t, &t_idx, &cond).unwrap();
        let diff = (per_row - &out).unwrap().abs().unwrap().max_all().unwrap().to_vec0::<f32>().unwrap();
        assert!(diff < 1e-5, "{diff}");
    }
}

#[test]
fn a_rows_sample_does_not_depend_on_the_other_rows() {
    // Per-row noise (seeded by the row's x_v): row 3 sampled among 5 rows equals row 3 sampled
    // alone, up to gemm rounding across batch shapes; another seed gives another sample.
    let c = small_denoiser_config(10);
    let (den, x_v) = tiny_denoiser(&c);
    let sched = schedule_host(&c).unwrap();
    let all = sample(&den, &sched, &x_v, 4, &c, &mut HostRng::new(11, 0)).unwrap();
    let one = sample(&den, &sched, &x_v.narrow(0, 3, 1).unwrap(), 4, &c, &mut HostRng::new(11, 0)).unwrap();
    let row3 = all.narrow(0, 3, 1).unwrap();
    let diff = (&row3 - &one).unwrap().abs().unwrap().max_all().unwrap().to_vec0::<f32>().unwrap();
    assert!(diff < 1e-5, "{diff}");
    let other = sample(&den, &sched, &x_v.narrow(0, 3, 1).unwrap(), 4, &c, &mut HostRng::new(12, 0)).unwrap();
    let moved = (&other - &one).unwrap().abs().unwrap().max_all().unwrap().to_vec0::<f32>().unwrap();
    assert!(moved > 1e-3, "{moved}");
}
