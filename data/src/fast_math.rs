//! Vectorisable f32 maths shared by the CPU kernels of both stages (the heads' SiLU, the image
//! encoder's softmax and QuickGELU): libm's scalar `expf` was 4-5 % of an extraction or sampling
//! profile; [`exp_f32`] is branch-free, so loops over slices compile to 16-lane AVX-512 code
//! inside functions built with `#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]`,
//! which callers pick at run time with [`has_avx512`]. Also the two pieces every host gemm
//! kernel needs: [`gemm_parallelism`] and [`SharedOut`] for tasks writing disjoint blocks.

/// `e^x` in f32 (Cephes' `expf` scheme): `x = n·ln2 + r` with `|r| ≤ ln2/2` (ln2 split in two
/// constants), `e^r` by a degree-7 polynomial, times `2^n` built in the exponent bits. Inputs
/// are clamped to [-87.3, 88] (results from 1.2e-38 to 1.65e38, never infinite); NaN stays NaN.
/// Max relative error 1.2e-7 against f64 `exp` over that range (test). Branch-free, so loops over
/// slices vectorise.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.336_54, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Whether this CPU runs code built for `avx512f,avx512dq,avx2,fma` (detected once by std).
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The threads gemm splits a product over: those of the rayon pool the caller runs on (the
/// heads' math pool, a sweep trial's pool, else the global pool). A thread-local lookup:
/// candle's `get_num_threads` reads the environment and, without `RAYON_NUM_THREADS`, counts
/// the physical cores from /proc on every call (1.5 % of a `fusion` epoch's CPU time).
pub fn gemm_parallelism() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// A raw f32 output pointer shared by parallel tasks that each write their own disjoint region
/// of one buffer (a head's columns, a block of rows); whoever creates it upholds that.
#[derive(Clone, Copy)]
pub struct SharedOut(pub *mut f32);
// SAFETY: the pointer is only written through by tasks owning disjoint regions (see above).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}
impl SharedOut {
    /// The pointer (a method, so closures capture the whole Send + Sync wrapper, not the field).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `exp_f32` against f64 `exp` on a dense grid of the clamped range (independent reference),
    /// including the ends; NaN propagates.
    #[test]
    fn exp_is_within_its_documented_error() {
        let mut worst = 0f64;
        for i in 0..=400_000 {
            let x = -87.3f32 + i as f32 * (175.3 / 400_000.0);
            let exact = (x as f64).exp();
            worst = worst.max(((exp_f32(x) as f64 - exact) / exact).abs());
        }
        assert!(worst < 1.3e-7, "max relative error {worst}");
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(1000.0).is_finite() && exp_f32(-1000.0) >= 0.0);
        assert!(exp_f32(f32::NAN).is_nan());
    }
}
