//! Host (CPU, f32, row-major) kernels of the CLIP vision encoder layers
//! ([`super::host_clip`]): a Linear layer as one gemm accumulating onto its bias rows (and the
//! residual stream), LayerNorm by rows, multi-head attention with one rayon task per
//! `(image, head)` writing straight into its columns of the output, and QuickGELU in place.
//!
//! Through candle's ops a CLIP layer was 17 tensor ops (bias adds, the `q·scale` pass, three
//! head-split copies, a 5-op softmax with libm's scalar `expf`, a head-merge copy, a 3-op
//! QuickGELU, two residual adds), each a fresh buffer and a pass over memory, and the 12·batch
//! per-head products ran one after the other, each split over the cores. Together they were
//! ~30 % of an image's forward time on 2 cores (profile in docs/benchmarks.md); here a layer makes
//! 4 large gemm calls, one parallel pass each for the two LayerNorms and QuickGELU, and the
//! attention.
//!
//! Rounding differs from candle's and from PyTorch's in the last bits (the bias is the gemm's
//! starting value, the attention scale multiplies `Q·Kᵀ` rather than `Q`, `exp` is
//! [`exp_f32`]); the tiny-CLIP parity tests against transformers hold at 1e-4 as before.

use crate::kernels::bf16::{matmul_acc, PackedA, PackedB};
use marnet_data::fast_math::{exp_f32, gemm_parallelism, SharedOut};
use rayon::prelude::*;

/// Rows per rayon task in the row-wise kernels (LayerNorm, bias rows).
const ROWS_PER_TASK: usize = 16;
/// Elements per rayon task of QuickGELU (64 KiB of f32).
const CHUNK: usize = 16 * 1024;

/// A Linear layer as `y = x·W + b` on the host: `w` `(d_in, d_out)` row-major (the transpose of
/// HF's `weight` `(out, in)`), `b` `(d_out,)`, both f32; or, after [`Dense::pack_bf16`], `W` in
/// bf16 and each product's input `x` rounded to bf16, accumulated in f32
/// ([`crate::kernels::bf16`]).
pub struct Dense {
    /// `(d_in, d_out)` row-major; empty once the weights are packed as bf16.
    pub w: Vec<f32>,
    /// The weights as bf16 panels, when the products run in bf16 (`w` is then empty).
    pub packed: Option<PackedB>,
    /// `(d_out,)`.
    pub b: Vec<f32>,
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
}

impl Dense {
    /// Moves the weights to bf16 (rounded to nearest even, packed once); `forward` then rounds
    /// its input to bf16 and runs the bf16 x bf16 -> f32 product. The bias stays f32.
    pub fn pack_bf16(&mut self) {
        if self.packed.is_none() {
            self.packed = Some(PackedB::from_rows(&self.w, self.d_in, self.d_out));
            self.w = Vec::new();
        }
    }

    /// `x` `(rows, d_in)` → `(rows, d_out)` = `[residual +] b + x·W`, with `residual`
    /// `(rows, d_out)`. The sum starts from `residual + b` and gemm adds the product onto it.
    ///
    /// # Panics
    /// When an operand's length does not match (a bug in the caller, never user input).
    pub fn forward(&self, x: &[f32], rows: usize, residual: Option<&[f32]>) -> Vec<f32> {
        let (k, n) = (self.d_in, self.d_out);
        let w_ok = self.packed.as_ref().map_or(self.w.len() == k * n, |p| p.k == k && p.n == n);
        assert!(x.len() == rows * k && w_ok && self.b.len() == n, "Dense: operand lengths");
        let mut y = vec![0f32; rows * n];
        match residual {
            Some(res) => {
                assert_eq!(res.len(), rows * n, "Dense: residual length");
                y.par_chunks_mut(n * ROWS_PER_TASK).zip(res.par_chunks(n * ROWS_PER_TASK)).for_each(|(ys, rs)| {
                    for (yr, rr) in ys.chunks_mut(n).zip(rs.chunks(n)) {
                        yr.iter_mut().zip(rr).zip(&self.b).for_each(|((y, r), b)| *y = r + b);
                    }
                });
            }
            None => y
                .par_chunks_mut(n * ROWS_PER_TASK)
                .for_each(|ys| ys.chunks_mut(n).for_each(|yr| yr.copy_from_slice(&self.b))),
        }
        if let Some(packed) = &self.packed {
            matmul_acc(&PackedA::from_rows(x, rows, k), packed, &mut y);
        } else if rows > 0 && k > 0 && n > 0 {
            // SAFETY: y (rows, n), x (rows, k) and w (k, n) are row-major with the lengths
            // checked above (column stride 1, row stride = width); y is initialised (read_dst)
            // and aliases neither input. gemm computes y = 1·y + 1·(x·w).
            unsafe {
                gemm::gemm(
                    rows,
                    n,
                    k,
                    y.as_mut_ptr(),
                    1,
                    n as isize,
                    true,
                    x.as_ptr(),
                    1,
                    k as isize,
                    self.w.as_ptr(),
                    1,
                    n as isize,
                    1f32,
                    1f32,
                    false,
                    false,
                    false,
                    gemm_parallelism(),
                );
            }
        }
        y
    }
}

/// LayerNorm over the last dimension (HF `nn.LayerNorm`): `(x − mean) / sqrt(var + eps)·γ + β`
/// with the biased variance, all in f32.
pub struct Norm {
    /// γ `(d,)`.
    pub gamma: Vec<f32>,
    /// β `(d,)`.
    pub beta: Vec<f32>,
    /// `layer_norm_eps` of the HF config.
    pub eps: f32,
}

impl Norm {
    /// `x` `(rows, d)` → `(rows, d)`, rows in parallel.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let d = self.gamma.len();
        assert!(d > 0 && x.len().is_multiple_of(d) && self.beta.len() == d, "Norm: operand lengths");
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(d * ROWS_PER_TASK)
            .zip(x.par_chunks(d * ROWS_PER_TASK))
            .for_each(|(ys, xs)| simd::layer_norm_rows(ys, xs, &self.gamma, &self.beta, self.eps));
        y
    }
}

/// Multi-head self-attention without masks (HF `CLIPAttention` after the projections).
///
/// `qkv` `(batch·tokens, 3·d)` row-major holds `[Q | K | V]` per token, `d = heads·head_dim`,
/// each head's columns `h·head_dim..(h+1)·head_dim` within its third. Returns the heads merged,
/// `(batch·tokens, d)`: for every image and head `softmax(Q·Kᵀ·head_dim^-0.5)·V`, one rayon task
/// per `(image, head)`, each with single-threaded gemm calls reading Q, K, V in place (row stride
/// `3·d`) and writing its `(tokens, head_dim)` block in place (row stride `d`).
pub fn attention(qkv: &[f32], batch: usize, tokens: usize, heads: usize, head_dim: usize) -> Vec<f32> {
    attention_masked(qkv, batch, tokens, heads, head_dim, None)
}

/// [`attention`] with an additive key bias (HF BERT's extended attention mask):
/// `key_bias` `(batch, tokens)` f32 is added to every score row of its image before the softmax,
/// `softmax(Q·Kᵀ·head_dim^-0.5 + bias_j)`, e.g. `f32::MIN` on padding keys and 0 elsewhere.
///
/// # Panics
/// When `qkv` or `key_bias` has the wrong length (a bug in the caller).
pub fn attention_masked(
    qkv: &[f32],
    batch: usize,
    tokens: usize,
    heads: usize,
    head_dim: usize,
    key_bias: Option<&[f32]>,
) -> Vec<f32> {
    let d = heads * head_dim;
    let w3 = 3 * d;
    assert_eq!(qkv.len(), batch * tokens * w3, "attention: qkv length");
    assert!(key_bias.is_none_or(|b| b.len() == batch * tokens), "attention: key_bias length");
    let scale = (head_dim as f32).powf(-0.5);
    let mut out = vec![0f32; batch * tokens * d];
    if out.is_empty() {
        return out;
    }
    // Each task writes only its own (image, head) block.
    let dst = SharedOut(out.as_mut_ptr());
    (0..batch * heads).into_par_iter().for_each_init(
        || vec![0f32; tokens * tokens],
        |scores, task| {
            let (image, h) = (task / heads, task % heads);
            let base = image * tokens * w3 + h * head_dim;
            let (q, k, v) = (&qkv[base..], &qkv[base + d..], &qkv[base + 2 * d..]);
            // SAFETY: for i, j < tokens and c < head_dim the reads q[i·3d + c], k[j·3d + c],
            // v[j·3d + c] stay inside this image's rows of qkv (base + 2d + (tokens−1)·3d +
            // head_dim ≤ (image+1)·tokens·3d); `scores` holds tokens² entries.
            // scores (t, t) = scale · Q (t, hd) · Kᵀ (hd, t), Kᵀ(c, j) = K[j, c] at j·3d + c.
            unsafe {
                gemm::gemm(
                    tokens,
                    tokens,
                    head_dim,
                    scores.as_mut_ptr(),
                    1,
                    tokens as isize,
                    false,
                    q.as_ptr(),
                    1,
                    w3 as isize,
                    k.as_ptr(),
                    w3 as isize,
                    1,
                    0f32,
                    scale,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            if let Some(bias) = key_bias {
                let bias = &bias[image * tokens..(image + 1) * tokens];
                scores.chunks_mut(tokens).for_each(|row| row.iter_mut().zip(bias).for_each(|(s, b)| *s += b));
            }
            simd::softmax_rows(scores, tokens);
            // SAFETY: the block written, rows image·tokens.. of `out` at columns
            // h·hd..(h+1)·hd with row stride d, is this task's alone and inside `out`
            // ((image+1)·tokens·d entries); P (t, t) = scores, V (t, hd) read as above.
            unsafe {
                gemm::gemm(
                    tokens,
                    head_dim,
                    tokens,
                    dst.get().add(image * tokens * d + h * head_dim),
                    1,
                    d as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    tokens as isize,
                    v.as_ptr(),
                    1,
                    w3 as isize,
                    0f32,
                    1f32,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        },
    );
    out
}

/// QuickGELU in place (HF `quick_gelu`, CLIP's `hidden_act`): `x·σ(1.702·x)` =
/// `x / (1 + e^{−1.702·x})`, chunks in parallel.
pub fn quick_gelu_in_place(x: &mut [f32]) {
    x.par_chunks_mut(CHUNK).for_each(simd::quick_gelu);
}

/// The elementwise and row loops, compiled twice: for AVX-512 (used when the CPU has it) and
/// for the build's baseline target.
mod simd {
    use super::exp_f32;

    /// Lanes of the partial sums and maxima (one AVX-512 register of f32).
    const LANES: usize = 16;

    /// Sum with `LANES` independent partial sums (vectorises; the order is fixed by the length).
    #[inline(always)]
    fn sum(v: &[f32]) -> f32 {
        let mut acc = [0f32; LANES];
        let chunks = v.chunks_exact(LANES);
        let tail: f32 = chunks.remainder().iter().sum();
        for c in chunks {
            acc.iter_mut().zip(c).for_each(|(a, x)| *a += x);
        }
        acc.iter().sum::<f32>() + tail
    }

    /// Maximum with `LANES` partial maxima; `-inf` for an empty slice.
    #[inline(always)]
    fn max(v: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let chunks = v.chunks_exact(LANES);
        let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        for c in chunks {
            acc.iter_mut().zip(c).for_each(|(a, &x)| *a = a.max(x));
        }
        acc.iter().fold(tail, |m, &x| m.max(x))
    }

    #[inline(always)]
    fn softmax_rows_generic(m: &mut [f32], width: usize) {
        for row in m.chunks_mut(width) {
            let top = max(row);
            row.iter_mut().for_each(|x| *x = exp_f32(*x - top));
            let inv = 1.0 / sum(row);
            row.iter_mut().for_each(|x| *x *= inv);
        }
    }

    #[inline(always)]
    fn quick_gelu_generic(v: &mut [f32]) {
        v.iter_mut().for_each(|x| *x /= 1.0 + exp_f32(-1.702 * *x));
    }

    #[inline(always)]
    fn layer_norm_rows_generic(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let d = gamma.len();
        for (yr, xr) in y.chunks_mut(d).zip(x.chunks(d)) {
            let mean = sum(xr) / d as f32;
            yr.iter_mut().zip(xr).for_each(|(y, x)| *y = (x - mean) * (x - mean));
            let inv_std = 1.0 / (sum(yr) / d as f32 + eps).sqrt();
            yr.iter_mut()
                .zip(xr)
                .zip(gamma.iter().zip(beta))
                .for_each(|((y, x), (g, b))| *y = (x - mean) * inv_std * g + b);
        }
    }

    avx512_dispatch!(
        /// Softmax of each `width`-long row of `m`, in place: `e^{x − max} / Σ e^{x − max}`.
        pub(super) fn softmax_rows => softmax_rows_generic(m: &mut [f32], width: usize)
    );
    avx512_dispatch!(
        /// `x / (1 + e^{−1.702·x})` in place.
        pub(super) fn quick_gelu => quick_gelu_generic(v: &mut [f32])
    );
    avx512_dispatch!(
        /// LayerNorm of the rows of `x` (width `gamma.len()`) into `y`.
        pub(super) fn layer_norm_rows => layer_norm_rows_generic(y: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len());
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!((x - y).abs() <= tol * y.abs().max(1.0), "entry {i}: {x} vs {y}");
        }
    }

    /// x = [[1, 2], [0, -1]], W (in 2, out 3) = [[1, 0, 2], [0, 1, -1]], b = [10, 20, 30].
    /// By hand: x·W = [[1, 2, 0], [0, -1, 1]]; + b = [[11, 22, 30], [10, 19, 31]];
    /// with residual [[1, 1, 1], [2, 2, 2]]: [[12, 23, 31], [12, 21, 33]].
    #[test]
    fn dense_by_hand() {
        let mut layer =
            Dense { w: vec![1., 0., 2., 0., 1., -1.], b: vec![10., 20., 30.], packed: None, d_in: 2, d_out: 3 };
        let x = [1f32, 2., 0., -1.];
        assert_eq!(layer.forward(&x, 2, None), vec![11., 22., 30., 10., 19., 31.]);
        assert_eq!(layer.forward(&x, 2, Some(&[1., 1., 1., 2., 2., 2.])), vec![12., 23., 31., 12., 21., 33.]);
        // Every operand is a small integer, exact in bf16: the bf16 products agree exactly.
        layer.pack_bf16();
        assert!(layer.w.is_empty());
        assert_eq!(layer.forward(&x, 2, Some(&[1., 1., 1., 2., 2., 2.])), vec![12., 23., 31., 12., 21., 33.]);
    }

    /// x = [[1 + 2^-8]] rounds to 1 (a tie to even), W = [[1 + 3·2^-8]] to 1 + 2^-6: in bf16
    /// y = 1.015625 + b 0.5 = 1.515625 (f32: 1.01171875·1.00390625 + 0.5 = 1.515670776...).
    #[test]
    fn dense_bf16_rounds_input_and_weight() {
        let w = vec![f32::from_bits(0x3F81_8000)];
        let mut layer = Dense { w, b: vec![0.5], packed: None, d_in: 1, d_out: 1 };
        layer.pack_bf16();
        assert_eq!(layer.forward(&[f32::from_bits(0x3F80_8000)], 1, None), vec![1.515_625]);
    }

    /// Row [1, 2, 3, 4]: mean 2.5, biased variance (2.25 + 0.25 + 0.25 + 2.25)/4 = 1.25;
    /// with eps 0 the normalised row is [-1.5, -0.5, 0.5, 1.5]/sqrt(1.25) =
    /// [-1.3416408, -0.4472136, 0.4472136, 1.3416408]; γ = [1, 2, 1, 1], β = [0, 0, 1, 0].
    #[test]
    fn layer_norm_by_hand() {
        let n = Norm { gamma: vec![1., 2., 1., 1.], beta: vec![0., 0., 1., 0.], eps: 0.0 };
        let y = n.forward(&[1., 2., 3., 4., 5., 5., 5., 6.]);
        close(&y[..4], &[-1.341_640_8, -0.894_427_2, 1.447_213_6, 1.341_640_8], 1e-6);
        // Second row [5, 5, 5, 6]: mean 5.25, var (3·0.0625 + 0.5625)/4 = 0.1875, std 0.4330127.
        close(&y[4..], &[-0.577_350_3, -1.154_700_5, 0.422_649_7, 1.732_050_8], 1e-6);
    }

    /// softmax([0, ln 2, ln 3]) = [1, 2, 3]/6; a row of 40 (past the 16-lane blocks) with one
    /// large entry: e^0/(e^0·39 + e^{10}) for the others.
    #[test]
    fn softmax_by_hand() {
        let mut m = vec![0f32, 2f32.ln(), 3f32.ln()];
        simd::softmax_rows(&mut m, 3);
        close(&m, &[1. / 6., 2. / 6., 3. / 6.], 1e-6);
        let mut row = vec![0f32; 40];
        row[33] = 10.0;
        simd::softmax_rows(&mut row, 40);
        let big = 10f64.exp();
        let (other, top) = ((1.0 / (39.0 + big)) as f32, (big / (39.0 + big)) as f32);
        close(&row[..33], &[other; 33], 1e-6);
        close(&row[33..34], &[top], 1e-6);
    }

    /// QuickGELU(0) = 0; QuickGELU(1) = 1/(1 + e^{-1.702}) = 0.845796; QuickGELU(-2) =
    /// -2/(1 + e^{3.404}) = -2/31.0848 = -0.0643401.
    #[test]
    fn quick_gelu_by_hand() {
        let mut v = vec![0f32, 1.0, -2.0];
        quick_gelu_in_place(&mut v);
        close(&v, &[0.0, 0.845_796, -0.064_340_1], 1e-5);
    }

    /// Two images, 2 heads of width 1 (scale 1), 2 tokens; scores(i, j) = q_i·k_j.
    /// Image 0 head 0: q = [0, ln 3], k = [1, 1] → score rows [0, 0] and [ln 3, ln 3], both
    /// uniform → each token gets mean(v) = (2 + 4)/2 = 3. Head 1: q = [1, 1], k = [0, ln 3] →
    /// both rows softmax([0, ln 3]) = [1/4, 3/4]; v = [8, 4] → 8/4 + 4·3/4 = 5. Image 1 repeats
    /// image 0 with v doubled (outputs 6 and 10): images do not mix.
    #[test]
    fn attention_by_hand() {
        let l3 = 3f32.ln();
        // Per token: [q_h0, q_h1 | k_h0, k_h1 | v_h0, v_h1]
        let img0 = [0., 1., 1., 0., 2., 8., l3, 1., 1., l3, 4., 4.];
        let img1 = [0., 1., 1., 0., 4., 16., l3, 1., 1., l3, 8., 8.];
        let qkv: Vec<f32> = img0.iter().chain(&img1).copied().collect();
        let out = attention(&qkv, 2, 2, 2, 1);
        close(&out, &[3., 5., 3., 5., 6., 10., 6., 10.], 1e-6);
        // Key 1 of image 0 masked (bias f32::MIN): its tokens see only key 0, v = [2, 8];
        // image 1 unmasked as above.
        let bias = [0., f32::MIN, 0., 0.];
        let out = attention_masked(&qkv, 2, 2, 2, 1, Some(&bias));
        close(&out, &[2., 8., 2., 8., 6., 10., 6., 10.], 1e-6);
    }
}
