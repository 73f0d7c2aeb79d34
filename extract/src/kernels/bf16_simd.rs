//! The AVX-512 BF16 half of [`super::bf16`]: the `MR x 32` micro-kernel on `vdpbf16ps`
//! (`_mm512_dpbf16_ps`), the threaded driver over blocks of C, and the f32 -> bf16 row
//! conversion on `vcvtneps2bf16` (`_mm512_cvtneps_pbh`). All `unsafe` code of the kernels is
//! here; the layouts it relies on are built and checked by [`super::bf16`] (module docs there).

use super::bf16::{round_to_bf16, PackedA, PackedB, MR, NR};
use marnet_data::fast_math::SharedOut;
use rayon::prelude::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Rows of C per rayon task (A rows reused across the task's panels).
const MC: usize = 8 * MR;
/// Weight panels (of [`NR`] columns) per rayon task.
const NC_PANELS: usize = 8;

/// Rounds `src` to bf16 into `dst[..src.len()]` (16 lanes at a time on AVX-512 BF16).
pub(super) fn round_row(src: &[f32], dst: &mut [u16]) {
    assert!(dst.len() >= src.len(), "round_row: destination too short");
    #[cfg(target_arch = "x86_64")]
    if super::bf16::has_avx512_bf16() {
        // SAFETY: the CPU has avx512f and avx512bf16 (checked); lengths checked above.
        unsafe { round_row_simd(src, dst) };
        return;
    }
    dst.iter_mut().zip(src).for_each(|(d, &s)| *d = round_to_bf16(s));
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn round_row_simd(src: &[f32], dst: &mut [u16]) {
    let full = src.len() / 16 * 16;
    for i in (0..full).step_by(16) {
        // SAFETY: i + 16 ≤ src.len() ≤ dst.len(); unaligned loads and stores.
        unsafe {
            let v = _mm512_loadu_ps(src.as_ptr().add(i));
            let h: __m256i = std::mem::transmute(_mm512_cvtneps_pbh(v));
            _mm256_storeu_si256(dst.as_mut_ptr().add(i).cast(), h);
        }
    }
    dst[full..src.len()].iter_mut().zip(&src[full..]).for_each(|(d, &s)| *d = round_to_bf16(s));
}

/// `c += A·B`; the caller checked the shapes (`a.k == b.k`, `c.len() == a.rows·b.n`, none
/// zero) and that the CPU has AVX-512 BF16.
pub(super) fn matmul_acc(a: &PackedA, b: &PackedB, c: &mut [f32]) {
    assert!(super::bf16::has_avx512_bf16() && c.len() == a.rows * b.n && a.k == b.k, "bf16 matmul: contract");
    let (row_blocks, col_groups) = (a.rows.div_ceil(MC), b.panels().div_ceil(NC_PANELS));
    let dst = SharedOut(c.as_mut_ptr());
    (0..row_blocks * col_groups).into_par_iter().for_each(|task| {
        // SAFETY: task (rb, cg) writes only rows rb·MC.. of C at columns of panels cg·NC..,
        // disjoint from every other task's block and inside C; the CPU has the features.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            block(a, b, dst.get(), task / col_groups, task % col_groups)
        }
    });
}

/// One task's block of C: row block `rb` (rows `rb·MC..`) x panel group `cg`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn block(a: &PackedA, b: &PackedB, c: *mut f32, rb: usize, cg: usize) {
    let (n, r0) = (b.n, rb * MC);
    let r1 = (r0 + MC).min(a.rows);
    let panel_len = b.kp2 * 2 * NR;
    for q in cg * NC_PANELS..((cg + 1) * NC_PANELS).min(b.panels()) {
        let cols = NR.min(n - q * NR);
        for r in (r0..r1).step_by(MR) {
            // SAFETY: A holds rows up to a multiple of MR ≥ r + MR, each kp wide; panel q is
            // inside b.data; C's tile at (r, q·NR) is written only within rows < a.rows and
            // columns < n (masked), with row stride n.
            unsafe {
                tile(
                    a.data.as_ptr().add(r * a.kp),
                    a.kp,
                    b.data.as_ptr().add(q * panel_len),
                    b.kp2,
                    c.add(r * n + q * NR),
                    n,
                    (r1 - r).min(MR),
                    cols,
                )
            }
        }
    }
}

/// `C[..rows, ..cols] += A[MR rows]·B[panel]` over `kp2` k-pairs: `a` is MR rows of stride
/// `lda` bf16, `b` one packed panel, `c` row stride `ldc` f32.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    a: *const u16,
    lda: usize,
    b: *const u16,
    kp2: usize,
    c: *mut f32,
    ldc: usize,
    rows: usize,
    cols: usize,
) {
    let mut acc = [_mm512_setzero_ps(); 2 * MR];
    for p in 0..kp2 {
        // SAFETY (whole loop): the panel holds kp2·64 bf16 (p < kp2); A rows r < MR hold the
        // pair at 2p + 1 < kp. __m512i and __m512bh are both 64 plain bytes.
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * 2 * NR).cast()));
            let b1: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(p * 2 * NR + NR).cast()));
            for r in 0..MR {
                let pair = a.add(r * lda + 2 * p).cast::<i32>().read_unaligned();
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], av, b0);
                acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], av, b1);
            }
        }
    }
    for h in 0..2 {
        let valid = cols.saturating_sub(16 * h).min(16);
        if valid == 0 {
            continue;
        }
        let mask: __mmask16 = (((1u32 << valid) - 1) & 0xFFFF) as u16;
        for (r, acc) in acc.chunks(2).take(rows).enumerate() {
            // SAFETY: the masked lanes are columns < cols of row r < rows, inside C.
            unsafe {
                let ptr = c.add(r * ldc + 16 * h);
                let old = _mm512_maskz_loadu_ps(mask, ptr);
                _mm512_mask_storeu_ps(ptr, mask, _mm512_add_ps(old, acc[h]));
            }
        }
    }
}
