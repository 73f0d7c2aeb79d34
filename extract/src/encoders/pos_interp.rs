//! Resampling a learned position-embedding grid to another patch grid as transformers 4.46
//! `Dinov2Embeddings.interpolate_pos_encoding` does: `nn.functional.interpolate(...,
//! size=(new_h, new_w), mode="bicubic", align_corners=False)` in float32, no antialiasing, which
//! is PyTorch's `upsample_bicubic2d` CPU kernel (`aten/src/ATen/native/cpu/UpSampleKernel.cpp`):
//! source coordinate `(dst + 0.5)·in/out − 0.5` (not clamped for cubic), index `floor` of it,
//! Keys' cubic convolution with `A = −0.75`, the 4 taps clamped to the border, width
//! interpolated first then height, all in f32.

/// `cubic_convolution1` / `cubic_convolution2` of PyTorch's `UpSample.h`, `A = −0.75`: the four
/// tap weights for fractional offset `t` in `[0, 1]`.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let conv1 = |x: f32| ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
    let conv2 = |x: f32| ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
    [conv2(t + 1.0), conv1(t), conv1(1.0 - t), conv2(2.0 - t)]
}

/// Per output index: the 4 clamped source indices and their weights (`compute_indices_weights`
/// of `HelperInterpCubic`, `guard_index_and_lambda`).
fn taps(in_size: usize, out_size: usize) -> Vec<([usize; 4], [f32; 4])> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|i| {
            let real = scale * (i as f32 + 0.5) - 0.5;
            let index = (real.floor() as i64).min(in_size as i64 - 1);
            let lambda = (real - index as f32).clamp(0.0, 1.0);
            let idx = std::array::from_fn(|j| (index - 1 + j as i64).clamp(0, in_size as i64 - 1) as usize);
            (idx, cubic_weights(lambda))
        })
        .collect()
}

/// Bicubic resampling of a `(in_h, in_w)` grid of `dim`-wide vectors, stored row-major as
/// `(in_h·in_w, dim)`, to `(out_h·out_w, dim)` in the same layout.
///
/// # Panics
/// When `grid.len() != in_h·in_w·dim` or a size is zero (a bug in the caller: sizes come from
/// the checkpoint and the input shape, both checked before).
pub fn bicubic(grid: &[f32], dim: usize, (in_h, in_w): (usize, usize), (out_h, out_w): (usize, usize)) -> Vec<f32> {
    assert!(grid.len() == in_h * in_w * dim && in_h * in_w * out_h * out_w > 0, "bicubic: grid size");
    let (ty, tx) = (taps(in_h, out_h), taps(in_w, out_w));
    let mut out = vec![0f32; out_h * out_w * dim];
    let mut rows = [0f32; 4];
    for (oy, (iy, wy)) in ty.iter().enumerate() {
        for (ox, (ix, wx)) in tx.iter().enumerate() {
            let o = (oy * out_w + ox) * dim;
            for c in 0..dim {
                for (r, &y) in rows.iter_mut().zip(iy) {
                    let at = |x: usize| grid[(y * in_w + x) * dim + c];
                    // Same summation order as PyTorch's Interpolate<1>: taps 0, 1, 2, 3.
                    let mut s = at(ix[0]) * wx[0];
                    for j in 1..4 {
                        s += at(ix[j]) * wx[j];
                    }
                    *r = s;
                }
                let mut s = rows[0] * wy[0];
                for j in 1..4 {
                    s += rows[j] * wy[j];
                }
                out[o + c] = s;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Same size: every source coordinate is an integer, weights [0, 1, 0, 0] (A = −0.75:
    /// conv2(1) = −0.75 − (−3.75) + (−6) + 3 = 0, conv1(0) = 1), so the grid comes back.
    #[test]
    fn same_size_is_the_identity() {
        let g: Vec<f32> = (0..2 * 3 * 2).map(|v| v as f32 * 0.5 - 1.0).collect();
        assert_eq!(bicubic(&g, 2, (2, 3), (2, 3)), g);
    }

    /// A linear ramp along the width, 4 → 2: scale 2, source x = 2·(i + 0.5) − 0.5 = 0.5, 2.5.
    /// t = 0.5 gives weights conv2(1.5), conv1(0.5), conv1(0.5), conv2(1.5) = −0.09375, 0.59375,
    /// 0.59375, −0.09375 (by hand: conv1(0.5) = (1.25·0.5 − 2.25)·0.25 + 1 = 0.59375;
    /// conv2(1.5) = ((−1.125 + 3.75)·1.5 − 6)·1.5 + 3 = −0.09375). Output 0 reads x = −1 (clamped
    /// to 0), 0, 1, 2 of the ramp [0, 1, 2, 3]: −0.09375·0 + 0.59375·(0 + 1) − 0.09375·2 =
    /// 0.40625; output 1 reads 1, 2, 3, 4→3: −0.09375·1 + 0.59375·5 − 0.09375·3 = 2.59375.
    #[test]
    fn downsampled_ramp_by_hand() {
        let g = [0f32, 1., 2., 3.];
        let out = bicubic(&g, 1, (1, 4), (1, 2));
        assert!((out[0] - 0.406_25).abs() < 1e-6 && (out[1] - 2.593_75).abs() < 1e-6, "{out:?}");
    }
}
