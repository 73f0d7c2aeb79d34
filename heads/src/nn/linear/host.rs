//! Host (CPU, f32, row-major) kernels of the heads' Linear op: gemm products written once into
//! fresh buffers (no zeroing pass), the weight transpose, the bias rows, and the backward's
//! `dX`, `dW` and `db`.

use crate::nn::activation::contiguous_f32;
use crate::nn::precision::Precision;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape};
use marnet_data::fast_math::{gemm_parallelism, SharedOut};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// `dst (m, n) = [dst +] lhs (m, k) · rhs (k, n)`, `dst` and `rhs` row-major, `lhs` with column
/// stride `lhs_cs` and row stride `lhs_rs`; `read_dst` adds onto what `dst` holds, otherwise
/// every entry of `dst` is written.
///
/// # Safety
/// `dst` points to `m·n` writable f32 (initialised when `read_dst`), not aliasing the inputs;
/// every `lhs` index `i·lhs_rs + j·lhs_cs` (i < m, j < k) is in bounds; `rhs.len() == k·n`.
#[allow(clippy::too_many_arguments)] // gemm's own call takes 18
unsafe fn gemm_strided_lhs(
    dst: *mut f32,
    read_dst: bool,
    lhs: &[f32],
    lhs_cs: usize,
    lhs_rs: usize,
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    debug_assert!(rhs.len() == k * n);
    // dst = 1·dst + 1·(lhs·rhs) when read_dst, dst = lhs·rhs otherwise (as candle's own CPU
    // matmul calls gemm); row-major means column stride 1, row stride = width.
    gemm::gemm(
        m,
        n,
        k,
        dst,
        1,
        n as isize,
        read_dst,
        lhs.as_ptr(),
        lhs_cs as isize,
        lhs_rs as isize,
        rhs.as_ptr(),
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

/// [`gemm_strided_lhs`] with a row-major `lhs` (m, k).
///
/// # Safety
/// As [`gemm_strided_lhs`], with `lhs.len() == m·k`.
pub(super) unsafe fn gemm_row_major(
    dst: *mut f32,
    read_dst: bool,
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    debug_assert!(lhs.len() == m * k);
    let threads = rayon::current_num_threads();
    if threads < 2 || n > ROW_SPLIT_MAX_N || m < 2 * ROW_BLOCK {
        return gemm_strided_lhs(dst, read_dst, lhs, 1, k, rhs, m, k, n);
    }
    // Narrow outputs (a classifier's K columns): gemm's own split leaves a thread idle, so each
    // thread takes a block of whole rows (a multiple of ROW_BLOCK) with a one-thread gemm. Each
    // output row is computed by the same kernel sequence either way (test: bit-identical).
    let per = m.div_ceil(threads).div_ceil(ROW_BLOCK) * ROW_BLOCK;
    // Each task writes only its own rows.
    let out = SharedOut(dst);
    (0..m.div_ceil(per)).into_par_iter().for_each(|blk| {
        let (r0, rows) = (blk * per, per.min(m - blk * per));
        // SAFETY: rows r0..r0+rows of dst (this block's alone) and of lhs are in bounds
        // (r0 + rows ≤ m); the caller's contract covers the rest.
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                out.get().add(r0 * n),
                1,
                n as isize,
                read_dst,
                lhs.as_ptr().add(r0 * k),
                1,
                k as isize,
                rhs.as_ptr(),
                1,
                n as isize,
                1f32,
                1f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    });
}

/// Widest output that [`gemm_row_major`] splits by rows over the threads.
const ROW_SPLIT_MAX_N: usize = 256;
/// Rows per block of that split are a multiple of this (4 AVX-512 registers of f32: gemm's
/// row tile on this CPU, so no block ends in a partial tile).
const ROW_BLOCK: usize = 64;

/// A new row-major `(m, n)` matrix `lhs · rhs` (`lhs` (m, k) with strides `(lhs_cs, lhs_rs)`,
/// `rhs` (k, n) row-major), written once by gemm.
///
/// # Safety
/// Every `lhs` index `i·lhs_rs + j·lhs_cs` (i < m, j < k) is in bounds; `rhs.len() == k·n`.
unsafe fn new_strided_product(
    lhs: &[f32],
    lhs_cs: usize,
    lhs_rs: usize,
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    if k == 0 {
        return vec![0f32; m * n];
    }
    let mut out = Vec::<f32>::with_capacity(m * n);
    // The buffer has room for m·n f32 and gemm without read_dst writes each of them (k > 0)
    // before set_len makes them visible.
    gemm_strided_lhs(out.as_mut_ptr(), false, lhs, lhs_cs, lhs_rs, rhs, m, k, n);
    out.set_len(m * n);
    out
}

/// A new `(m, n)` matrix `lhs (m, k) · rhs (k, n)`, all row-major, written once by gemm.
pub(super) fn new_product(lhs: &[f32], rhs: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    assert!(
        lhs.len() == m * k && rhs.len() == k * n,
        "new_product: operand lengths do not match ({m}, {k}) · ({k}, {n})"
    );
    // SAFETY: row-major lhs of exactly m·k entries: index i·k + j < m·k.
    unsafe { new_strided_product(lhs, 1, k, rhs, m, k, n) }
}

/// An initialised f32 slice viewed as `MaybeUninit<f32>` (same layout; always valid).
fn as_uninit(v: &[f32]) -> &[MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's size and alignment, and initialised values are valid
    // MaybeUninit values.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), v.len()) }
}

/// Matrices with at least this many entries are transposed in parallel by [`transposed`].
const PARALLEL_TRANSPOSE_MIN: usize = 1 << 16;
/// Columns of `w` per parallel transpose task (64 f32 = one 256-byte stretch of each row).
const TRANSPOSE_BLOCK: usize = 64;

/// `w (rows, cols)` row-major → its transpose `(cols, rows)` row-major, written straight into a
/// fresh buffer by the cache-blocked `transpose` crate. Large matrices go in parallel blocks of
/// [`TRANSPOSE_BLOCK`] columns: each task gathers its columns of `w` into a contiguous
/// `(rows, 64)` scratch block and transposes that into its `64` output rows. On a 1024×1024
/// weight (whose 4 KiB row stride aliases in the cache) this took 0.32 ms on 2 cores against
/// 0.80 ms for one crate call; the forward pass transposes every weight once per step.
pub(super) fn transposed(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    assert_eq!(w.len(), rows * cols, "transposed: {} values for ({rows}, {cols})", w.len());
    let mut out = Vec::<f32>::with_capacity(rows * cols);
    let dst = &mut out.spare_capacity_mut()[..rows * cols];
    if rows * cols < PARALLEL_TRANSPOSE_MIN || rows == 0 {
        // The crate writes all rows·cols outputs (it checks both lengths and panics otherwise).
        transpose::transpose(as_uninit(w), dst, cols, rows);
    } else {
        dst.par_chunks_mut(TRANSPOSE_BLOCK * rows).enumerate().for_each_init(
            Vec::new,
            |scratch: &mut Vec<f32>, (blk, block)| {
                let (c0, nc) = (blk * TRANSPOSE_BLOCK, block.len() / rows);
                scratch.clear();
                for r in 0..rows {
                    scratch.extend_from_slice(&w[r * cols + c0..r * cols + c0 + nc]);
                }
                // (rows, nc) → (nc, rows): output rows c0..c0+nc, all of this block.
                transpose::transpose(as_uninit(scratch), block, nc, rows);
            },
        );
    }
    // SAFETY: every entry was written above (each block's transpose writes all of the block).
    unsafe { out.set_len(rows * cols) };
    out
}

/// `rows` copies of `row`, one after the other (rows in parallel).
pub(super) fn repeat_rows(row: &[f32], rows: usize) -> Vec<f32> {
    let n = row.len();
    let mut out = Vec::<f32>::with_capacity(rows * n);
    if n > 0 {
        let init = as_uninit(row);
        out.spare_capacity_mut()[..rows * n].par_chunks_mut(n).for_each(|r| r.copy_from_slice(init));
    }
    // SAFETY: every one of the rows·n entries was written above.
    unsafe { out.set_len(rows * n) };
    out
}

/// The backward products of `Z = X · Wᵀ`, from `dZ` `(b, out)` and a second contiguous operand.
pub(super) enum LinearGrad {
    /// `dX = dZ · W`, with `W` `(out, in)` → `(b, in)`.
    Input(Precision),
    /// `dW = dZᵀ · X`, with `X` `(b, in)` → `(out, in)`, W's own layout.
    Weight(Precision),
}

impl CustomOp2 for LinearGrad {
    fn name(&self) -> &'static str {
        match self {
            LinearGrad::Input(_) => "linear-grad-input",
            LinearGrad::Weight(_) => "linear-grad-weight",
        }
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let name = self.name();
        let (b, d_out) = l1.shape().dims2()?;
        let (rows, d_in) = l2.shape().dims2()?;
        let dz = contiguous_f32(s1, l1, name)?;
        let other = contiguous_f32(s2, l2, name)?;
        let (out, shape) = match self {
            LinearGrad::Input(p) => {
                if rows != d_out {
                    candle_core::bail!("{name}: gradient has {d_out} columns, the weight {rows} rows");
                }
                let dx = match p {
                    Precision::F32 => new_product(dz, other, b, d_out, d_in),
                    Precision::Bf16 => super::bf16::product(dz, other, b, d_out, d_in),
                };
                (dx, (b, d_in))
            }
            LinearGrad::Weight(p) => {
                if rows != b {
                    candle_core::bail!("{name}: gradient has {b} rows, the input {rows}");
                }
                let dw = match p {
                    // SAFETY: lhs = dZᵀ (out, b) read from the row-major dZ (b, out): element (i, j)
                    // at j·out + i < b·out, so column stride out and row stride 1; X is (b, in).
                    Precision::F32 => unsafe { new_strided_product(dz, d_out, 1, other, d_out, b, d_in) },
                    Precision::Bf16 => super::bf16::product(&transposed(dz, b, d_out), other, d_out, b, d_in),
                };
                (dw, (d_out, d_in))
            }
        };
        Ok((CpuStorage::F32(out), Shape::from(shape)))
    }
}

/// Column sums of a contiguous `(rows, cols)` f32 matrix → `(cols,)`: the bias gradient. Each
/// rayon task owns a block of columns and adds the rows in order, so the result does not depend
/// on the thread count (candle's `sum(0)` walks the matrix column by column with a stride).
pub(super) struct ColumnSums;

/// Columns per task of [`ColumnSums`] (one AVX-512 register holds 16).
const COLUMN_BLOCK: usize = 256;

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "column-sums"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, cols) = l.shape().dims2()?;
        let m = contiguous_f32(s, l, "column-sums")?;
        let mut out = vec![0f32; cols];
        out.par_chunks_mut(COLUMN_BLOCK).enumerate().for_each(|(blk, acc)| {
            let c0 = blk * COLUMN_BLOCK;
            for r in 0..rows {
                let row = &m[r * cols + c0..r * cols + c0 + acc.len()];
                acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
        });
        Ok((CpuStorage::F32(out), Shape::from(cols)))
    }
}

#[cfg(test)]
mod tests {
    use super::{gemm_row_major, transposed};

    /// The row split of narrow products gives exactly gemm's own result (one call, gemm's own
    /// threading), with and without a starting value in `dst`, on a 2-thread pool, for the
    /// baseline's shape (256 × 768 · 768 × 172) and one with a partial last block (200 rows).
    #[test]
    fn row_split_is_bit_identical_to_one_gemm_call() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
        for (m, k, n) in [(256, 768, 172), (200, 96, 40)] {
            let lhs: Vec<f32> = (0..m * k).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 97.0).collect();
            let rhs: Vec<f32> = (0..k * n).map(|i| ((i * 104_729 % 997) as f32 - 498.0) / 89.0).collect();
            let start: Vec<f32> = (0..m * n).map(|i| (i % 13) as f32 * 0.25).collect();
            for read_dst in [false, true] {
                let mut want = start.clone();
                // SAFETY: want is m·n, lhs m·k, rhs k·n, all row-major.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        want.as_mut_ptr(),
                        1,
                        n as isize,
                        read_dst,
                        lhs.as_ptr(),
                        1,
                        k as isize,
                        rhs.as_ptr(),
                        1,
                        n as isize,
                        1f32,
                        1f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::Rayon(2),
                    );
                }
                let mut got = start.clone();
                // SAFETY: as above.
                pool.install(|| unsafe { gemm_row_major(got.as_mut_ptr(), read_dst, &lhs, &rhs, m, k, n) });
                assert!(want == got, "({m}, {k}, {n}) read_dst {read_dst}: results differ");
            }
        }
    }

    /// Entry (r, c) of `w` must land at (c, r): checked against the index formula on a small
    /// matrix (one crate call) and a large one (parallel blocks of 64 columns, a 13-column tail).
    #[test]
    fn transposed_moves_every_entry() {
        for (rows, cols) in [(3, 5), (300, 333)] {
            let w: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let t = transposed(&w, rows, cols);
            assert_eq!(t.len(), rows * cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(t[c * rows + r], (r * cols + c) as f32, "({r}, {c}) of {rows}x{cols}");
                }
            }
        }
    }
}
