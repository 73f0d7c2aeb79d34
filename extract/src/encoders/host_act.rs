//! Host (CPU, f32) activations of the DINOv2 and SigLIP MLPs, in place and vectorisable (built
//! with [`exp_f32`], so loops compile to AVX-512 code where the CPU has it): the exact erf GELU
//! (`hidden_act: "gelu"`, DINOv2), the tanh GELU (`gelu_pytorch_tanh`, SigLIP) and DINOv2's
//! SwiGLU gate. candle's CPU `gelu_erf` calls libm's scalar f64 `erf` per element.

use marnet_data::fast_math::exp_f32;
use rayon::prelude::*;

/// Elements per rayon task (64 KiB of f32).
const CHUNK: usize = 16 * 1024;

/// `erf(x)` from `erfc` by Numerical Recipes' Chebyshev fit (`erfcc`, fractional error below
/// 1.2e-7 everywhere): `t = 1/(1 + |x|/2)`, `erfc = t·exp(−x² + P(t))`, odd symmetry.
#[allow(clippy::excessive_precision)] // the coefficients as published
#[inline(always)]
fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = 0.170_872_77_f32;
    let p = p * t - 0.822_152_23;
    let p = p * t + 1.488_515_87;
    let p = p * t - 1.135_203_98;
    let p = p * t + 0.278_868_07;
    let p = p * t - 0.186_288_06;
    let p = p * t + 0.096_784_18;
    let p = p * t + 0.374_091_96;
    let p = p * t + 1.000_023_68;
    let p = p * t - 1.265_512_23;
    let erfc = t * exp_f32(-z * z + p);
    (1.0 - erfc).copysign(x)
}

#[inline(always)]
fn gelu_erf_generic(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2)));
}

#[inline(always)]
fn gelu_tanh_generic(v: &mut [f32]) {
    // tanh(u) = 1 − 2/(1 + e^{2u}); exp_f32 clamps, so large |u| give ±1, never NaN.
    const C: f32 = 0.797_884_6; // sqrt(2/π)
    v.iter_mut().for_each(|x| {
        let u = C * (*x + 0.044_715 * *x * *x * *x);
        *x = 0.5 * *x * (2.0 - 2.0 / (1.0 + exp_f32(2.0 * u)));
    });
}

#[inline(always)]
fn swiglu_generic(out: &mut [f32], y: &[f32], inner: usize) {
    for (o, row) in out.chunks_mut(inner).zip(y.chunks(2 * inner)) {
        let (a, b) = row.split_at(inner);
        o.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = a / (1.0 + exp_f32(-a)) * b);
    }
}

avx512_dispatch!(fn gelu_erf_chunk => gelu_erf_generic(v: &mut [f32]));
avx512_dispatch!(fn gelu_tanh_chunk => gelu_tanh_generic(v: &mut [f32]));
avx512_dispatch!(fn swiglu_chunk => swiglu_generic(out: &mut [f32], y: &[f32], inner: usize));

/// Exact GELU `x·Φ(x) = x/2·(1 + erf(x/√2))` in place (HF `gelu`).
pub fn gelu_erf_in_place(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(gelu_erf_chunk);
}

/// tanh GELU `x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` in place (HF `gelu_pytorch_tanh`).
pub fn gelu_tanh_in_place(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(gelu_tanh_chunk);
}

/// SwiGLU gate: `y` `(rows, 2·inner)` = `[a | b]` per row → `(rows, inner)` = `silu(a) ⊙ b`.
///
/// # Panics
/// When `y.len()` is not a multiple of `2·inner` (a bug in the caller).
pub fn swiglu(y: &[f32], inner: usize) -> Vec<f32> {
    assert!(inner > 0 && y.len().is_multiple_of(2 * inner), "swiglu: operand length");
    let mut out = vec![0f32; y.len() / 2];
    let rows = (CHUNK / inner).max(1);
    out.par_chunks_mut(rows * inner).zip(y.par_chunks(rows * 2 * inner)).for_each(|(o, y)| swiglu_chunk(o, y, inner));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact GELU x·Φ(x) from the normal CDF (tables: Φ(3) = 0.99865010, Φ(−1) = 0.15865525,
    /// Φ(0.5) = 0.69146246, Φ(2) = 0.97724987, Φ(−4) = 3.1671242e-5), as torch 2.5.1's f64
    /// `F.gelu` also gives: 2.9959503, −0.15865525, 0.34573123, 1.9544997, −1.2668497e-4.
    #[test]
    fn gelu_erf_matches_torch() {
        let mut v = vec![3.0f32, -1.0, 0.5, 2.0, -4.0, 0.0];
        gelu_erf_in_place(&mut v);
        let want = [2.995_950_3f32, -0.158_655_25, 0.345_731_23, 1.954_499_7, -1.266_849_7e-4, 0.0];
        for (g, w) in v.iter().zip(want) {
            assert!((g - w).abs() <= 2e-7 * w.abs().max(1.0) + 1e-9, "{g} vs {w}");
        }
    }

    /// tanh GELU at 1: u = 0.7978846·1.044715 = 0.8335620, tanh(u) = 0.6823840 →
    /// 0.5·(1 + 0.6823840) = 0.8411920; at −3: u = −0.7978846·(3 + 1.207305) = −3.3569437,
    /// tanh = −0.9975751 → −1.5·0.0024249 = −0.0036374; large inputs stay finite.
    #[test]
    #[allow(clippy::excessive_precision)]
    fn gelu_tanh_by_hand() {
        let mut v = vec![1.0f32, -3.0, 80.0, -80.0];
        gelu_tanh_in_place(&mut v);
        assert!((v[0] - 0.841_192_0).abs() < 1e-6, "{}", v[0]);
        assert!((v[1] + 0.003_637_4).abs() < 1e-6, "{}", v[1]);
        assert_eq!((v[2], v[3]), (80.0, -0.0));
    }

    /// Row [a | b] = [0, 2 | 5, 3]: silu(0)·5 = 0, silu(2)·3 = 2/(1 + e^{-2})·3 = 1.7615942·3.
    #[test]
    fn swiglu_by_hand() {
        let out = swiglu(&[0.0, 2.0, 5.0, 3.0], 2);
        assert!(out[0].abs() < 1e-7 && (out[1] - 5.284_782_6).abs() < 1e-5, "{out:?}");
    }
}
