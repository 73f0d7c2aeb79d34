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
#[path = "host_ops_tests.rs"]
mod tests;
