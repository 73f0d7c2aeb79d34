//! The SIMD half of [`super::bf16`]: the `MR x 32` AVX-512 BF16 micro-kernel on `vdpbf16ps`
//! (`_mm512_dpbf16_ps`), the AMX-BF16 32 x 32 block on `tdpbf16ps` (inline `asm!`: Rust has no
//! stable AMX intrinsics), the threaded driver over blocks of C, and the f32 -> bf16 row
//! conversion on `vcvtneps2bf16` (`_mm512_cvtneps_pbh`). All `unsafe` code of the kernels is
//! here; the layouts it relies on are built and checked by [`super::bf16`] (module docs there).
//! AMX tile instructions per Intel's ISA reference (ldtilecfg, tileloadd, tdpbf16ps,
//! tilestored, tilerelease) and the Linux permission request of
//! Documentation/arch/x86/xstate.rst.

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

/// `c += A·B` on AMX tiles (`amx`) or AVX-512 BF16 registers; the caller checked the shapes
/// (`a.k == b.k`, `c.len() == a.rows·b.n`, none zero).
pub(super) fn matmul_acc(a: &PackedA, b: &PackedB, c: &mut [f32], amx: bool) {
    assert!(c.len() == a.rows * b.n && a.k == b.k, "bf16 matmul: operand shapes");
    assert!(super::bf16::has_avx512_bf16() && (!amx || amx_ready()), "bf16 matmul: kernel not available");
    let (row_blocks, col_groups) = (a.rows.div_ceil(MC), b.panels().div_ceil(NC_PANELS));
    let dst = SharedOut(c.as_mut_ptr());
    (0..row_blocks * col_groups).into_par_iter().for_each(|task| {
        let (rb, cg) = (task / col_groups, task % col_groups);
        // SAFETY: task (rb, cg) writes only rows rb·MC.. of C at columns of panels cg·NC..,
        // disjoint from every other task's block and inside C; the CPU has the features
        // (asserted above; AMX with the OS permission granted).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            if amx {
                block_amx(a, b, dst.get(), rb, cg)
            } else {
                block(a, b, dst.get(), rb, cg)
            }
        }
    });
}

/// Whether AMX-BF16 tiles can run: CPUID leaf 7 reports AMX-TILE and AMX-BF16, and Linux
/// grants this process the tile data state (`arch_prctl(ARCH_REQ_XCOMP_PERM,
/// XFEATURE_XTILEDATA)`, asked once; kernel 5.16+). Any failure means no AMX.
pub(super) fn amx_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        {
            // CPUID leaf 7 exists on every x86-64 CPU with AVX-512 (checked first).
            let leaf7 = super::bf16::has_avx512_bf16().then(|| __cpuid_count(7, 0));
            let (tile, bf16) = leaf7.map_or((false, false), |l| (l.edx & (1 << 24) != 0, l.edx & (1 << 22) != 0));
            if !(tile && bf16) {
                return false;
            }
            const SYS_ARCH_PRCTL: i64 = 158;
            const ARCH_REQ_XCOMP_PERM: u64 = 0x1023;
            const XFEATURE_XTILEDATA: u64 = 18;
            let ret: i64;
            // SAFETY: a plain Linux syscall; it only changes this process's permitted xsave
            // state (or fails with a negative errno). The syscall clobbers rcx and r11.
            unsafe {
                std::arch::asm!(
                    "syscall",
                    inlateout("rax") SYS_ARCH_PRCTL => ret,
                    in("rdi") ARCH_REQ_XCOMP_PERM,
                    in("rsi") XFEATURE_XTILEDATA,
                    lateout("rcx") _,
                    lateout("r11") _,
                    options(nostack)
                );
            }
            ret == 0
        }
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        {
            false
        }
    })
}

/// The AMX tile configuration (palette 1): tmm0-3 the 2 x 2 C tiles (16 rows x 16 f32), tmm4-5
/// two A tiles (16 rows x 32 bf16), tmm6-7 two B tiles (16 k-pairs x 16 columns x 2 bf16); all
/// 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn new() -> Self {
        let mut cfg = [0u8; 64];
        cfg[0] = 1;
        for t in 0..8 {
            cfg[16 + 2 * t] = 64; // colsb (u16, little-endian)
            cfg[48 + t] = 16; // rows
        }
        TileConfig(cfg)
    }
}

/// One task's block of C on AMX: 32 x 32 blocks, each 2 x 2 tiles accumulated over all of `k`
/// in tmm0-3, then added to C through a staging buffer (masked to the valid rows and columns).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_amx(a: &PackedA, b: &PackedB, c: *mut f32, rb: usize, cg: usize) {
    let (n, r0) = (b.n, rb * MC);
    let r1 = (r0 + MC).min(a.rows);
    let panel_len = b.kp2 * 2 * NR;
    let cfg = TileConfig::new();
    let mut stage = [0f32; 32 * 32];
    // SAFETY: the configuration is a valid palette-1 layout (above); tile state is this
    // thread's and released at the end of the block.
    unsafe { std::arch::asm!("ldtilecfg [{0}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly)) };
    for q in cg * NC_PANELS..((cg + 1) * NC_PANELS).min(b.panels()) {
        let cols = NR.min(n - q * NR);
        for r in (r0..r1).step_by(32) {
            // SAFETY: A rows r..r + 32 exist (rows are padded to ROW_ALIGN = 3·32 and
            // r0 is a multiple of it); each tile row reads 64 bytes at k-offset 32·kk < kp.
            // The B panel holds kp2 = 16·(kp/32) pair-rows of 128 bytes; the two B tiles read
            // bytes 0..64 and 64..128 of 16 of them. The stage is 32 rows of 128 bytes.
            unsafe {
                let a0 = a.data.as_ptr().add(r * a.kp);
                let a1 = a0.add(16 * a.kp);
                let b0 = b.data.as_ptr().add(q * panel_len);
                std::arch::asm!(
                    "tilezero tmm0",
                    "tilezero tmm1",
                    "tilezero tmm2",
                    "tilezero tmm3",
                    "2:",
                    "tileloadd tmm4, [{a0} + {sa}*1]",
                    "tileloadd tmm5, [{a1} + {sa}*1]",
                    "tileloadd tmm6, [{b0} + {sb}*1]",
                    "tileloadd tmm7, [{b0} + {sb}*1 + 64]",
                    "tdpbf16ps tmm0, tmm4, tmm6",
                    "tdpbf16ps tmm1, tmm4, tmm7",
                    "tdpbf16ps tmm2, tmm5, tmm6",
                    "tdpbf16ps tmm3, tmm5, tmm7",
                    "add {a0}, 64",
                    "add {a1}, 64",
                    "add {b0}, 2048",
                    "dec {steps}",
                    "jnz 2b",
                    "tilestored [{st} + {ss}*1], tmm0",
                    "tilestored [{st} + {ss}*1 + 64], tmm1",
                    "tilestored [{st} + {ss}*1 + 2048], tmm2",
                    "tilestored [{st} + {ss}*1 + 2112], tmm3",
                    a0 = inout(reg) a0 => _,
                    a1 = inout(reg) a1 => _,
                    b0 = inout(reg) b0 => _,
                    steps = inout(reg) a.kp / 32 => _,
                    sa = in(reg) 2 * a.kp,
                    sb = in(reg) 4 * NR,
                    st = in(reg) stage.as_mut_ptr(),
                    ss = in(reg) 128usize,
                    options(nostack)
                );
            }
            let rows = (a.rows - r).min(32);
            // SAFETY: C's block at (r, q·NR) is written within rows < a.rows and columns < n.
            unsafe { add_stage(&stage, c.add(r * n + q * NR), n, rows, cols) };
        }
    }
    // SAFETY: releases this thread's tile state (configured above).
    unsafe { std::arch::asm!("tilerelease", options(nostack, nomem)) };
}

/// `C[..rows, ..cols] += stage[..rows, ..cols]` (stage rows of 32 f32), masked vector adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn add_stage(stage: &[f32; 32 * 32], c: *mut f32, ldc: usize, rows: usize, cols: usize) {
    for h in 0..2 {
        let valid = cols.saturating_sub(16 * h).min(16);
        if valid == 0 {
            continue;
        }
        let mask: __mmask16 = (((1u32 << valid) - 1) & 0xFFFF) as u16;
        for r in 0..rows {
            // SAFETY: the masked lanes are columns < cols of row r < rows, inside C (caller).
            unsafe {
                let ptr = c.add(r * ldc + 16 * h);
                let v = _mm512_loadu_ps(stage.as_ptr().add(32 * r + 16 * h));
                let old = _mm512_maskz_loadu_ps(mask, ptr);
                _mm512_mask_storeu_ps(ptr, mask, _mm512_add_ps(old, v));
            }
        }
    }
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
