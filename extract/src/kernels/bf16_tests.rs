//! Tests of the bf16 kernel against hand-computed roundings and a scalar f64 reference.

use super::*;

/// Deterministic values in [-1, 1) from a 64-bit LCG (Knuth's MMIX constants).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Ties go to the even neighbour, the rest to the nearest (bits worked by hand):
/// 0x3F80_8000 = 1 + 2^-8 lies halfway between bf16 0x3F80 (1.0) and 0x3F81; 0x3F80 is even.
/// 0x3F81_8000 lies halfway between 0x3F81 and 0x3F82; 0x3F82 is even. 0x3F80_8001 is just
/// above the tie (→ 0x3F81), 0x3F80_7FFF just below (→ 0x3F80). f32::MAX 0x7F7F_FFFF is past
/// the largest bf16 0x7F7F plus half an ulp → +inf 0x7F80; the denormal 0x0000_8000 → +0.
const TIES: [(u32, u16); 9] = [
    (0x3F80_8000, 0x3F80),
    (0x3F81_8000, 0x3F82),
    (0xBF81_8000, 0xBF82),
    (0x3F80_8001, 0x3F81),
    (0x3F80_7FFF, 0x3F80),
    (0x7F7F_FFFF, 0x7F80),
    (0x0000_8000, 0x0000),
    (0xFF80_0000, 0xFF80),
    (0x4049_0FDB, 0x4049),
];

#[test]
fn rounding_ties_to_even_by_hand() {
    for (bits, want) in TIES {
        assert_eq!(round_to_bf16(f32::from_bits(bits)), want, "f32 bits {bits:#010x}");
    }
    let nan = round_to_bf16(f32::NAN);
    assert!(bf16_to_f32(nan).is_nan(), "NaN stays NaN: {nan:#06x}");
    assert_eq!(bf16_to_f32(0x3F82), 1.015_625, "0x3F82 = 1 + 2/128");
}

/// The packed activations (16-lane `vcvtneps2bf16` on capable CPUs, the scalar tail after it)
/// give the same hand-computed bits as [`TIES`]: a row of 21 puts each tie once in the vector
/// part (columns 0..9) and again in the tail (12..21).
#[test]
fn packed_rows_round_like_the_hand_values() {
    let mut row = vec![0f32; 21];
    for (i, (bits, _)) in TIES.iter().enumerate() {
        row[i] = f32::from_bits(*bits);
        row[12 + i] = f32::from_bits(*bits);
    }
    let a = PackedA::from_rows(&row, 1, 21);
    assert_eq!(a.kp, 32, "k padded to a multiple of K_ALIGN");
    for (i, (bits, want)) in TIES.iter().enumerate() {
        assert_eq!(a.data[i], *want, "vector lane {i}, bits {bits:#010x}");
        assert_eq!(a.data[12 + i], *want, "tail column {}, bits {bits:#010x}", 12 + i);
    }
    assert!(a.data[21..].iter().all(|&h| h == 0), "the k padding and the rows up to ROW_ALIGN are zero");
}

/// By hand: A = [[1 + 2^-8, 1 + 3·2^-8]] (both ties: → 1.0 and 1 + 2^-6 = 1.015625),
/// B = [[3], [2]] → C = 0.5 + 1.0·3 + 1.015625·2 = 5.53125 (unrounded inputs would give
/// 0.5 + 3.01171875 + 2.0234375 = 5.53515625).
#[test]
fn product_rounds_its_inputs_by_hand() {
    let a = PackedA::from_rows(&[f32::from_bits(0x3F80_8000), f32::from_bits(0x3F81_8000)], 1, 2);
    let b = PackedB::from_rows(&[3.0, 2.0], 2, 1);
    let mut c = vec![0.5f32];
    matmul_acc(&a, &b, &mut c);
    assert_eq!(c, vec![5.531_25]);
    let mut c = vec![0.5f32];
    portable_matmul_acc(&a, &b, &mut c);
    assert_eq!(c, vec![5.531_25]);
}

/// `c0 + A·B` in f64 over the bf16-rounded inputs, and the scale `|c0| + Σ|a||b|` of each entry.
fn reference(x: &[f32], w: &[f32], c0: &[f32], (m, k, n): (usize, usize, usize)) -> (Vec<f64>, Vec<f64>) {
    let r = |v: f32| bf16_to_f32(round_to_bf16(v)) as f64;
    let (mut want, mut scale) = (vec![0f64; m * n], vec![0f64; m * n]);
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut abs) = (c0[i * n + j] as f64, c0[i * n + j].abs() as f64);
            for p in 0..k {
                let prod = r(x[i * k + p]) * r(w[p * n + j]);
                s += prod;
                abs += prod.abs();
            }
            want[i * n + j] = s;
            scale[i * n + j] = abs;
        }
    }
    (want, scale)
}

/// Every kernel this CPU has (AMX, AVX-512 BF16, portable) against the scalar reference on odd
/// shapes (m x k x n): a single entry, edge tiles in every direction, odd k, k past one AMX
/// tile depth, and a C of several row blocks and panel groups (rayon tasks). f32 accumulation of up to 301 exact products stays within 1e-5 of the entry's scale;
/// an input rounded the wrong way would be off by up to 2^-9 of it.
#[test]
fn matches_scalar_reference_on_odd_shapes() {
    let kernels = available_kernels();
    assert_eq!(kernels.last(), Some(&Bf16Kernel::Portable));
    for (m, k, n) in [(1, 1, 1), (17, 33, 65), (5, 7, 3), (13, 64, 100), (12, 2, 32), (33, 97, 47), (200, 301, 290)] {
        let (x, w, c0) = (values(m * k, 1), values(k * n, 2), values(m * n, 3));
        let (want, scale) = reference(&x, &w, &c0, (m, k, n));
        let (a, b) = (PackedA::from_rows(&x, m, k), PackedB::from_rows(&w, k, n));
        for &kernel in &kernels {
            let mut got = c0.clone();
            matmul_acc_on(kernel, &a, &b, &mut got);
            let path = format!("{kernel:?}");
            for (e, ((g, w), s)) in got.iter().zip(&want).zip(&scale).enumerate() {
                let err = (*g as f64 - w).abs();
                assert!(err <= 1e-5 * s.max(1e-30), "{path} {m}x{k}x{n} entry {e}: {g} vs {w} (scale {s})");
            }
        }
    }
}

/// Zero-sized operands leave C as it was and do not panic.
#[test]
fn empty_shapes_are_no_ops() {
    let a = PackedA::from_rows(&[], 3, 0);
    let b = PackedB::from_rows(&[], 0, 4);
    let mut c = vec![7f32; 12];
    matmul_acc(&a, &b, &mut c);
    assert_eq!(c, vec![7f32; 12]);
}

/// Packing the transpose of a `(n, k)` matrix gives the same bits as packing the `(k, n)`
/// matrix itself: odd shapes, an edge panel, `k` odd and past one tile depth, the ties of
/// [`TIES`] at both pair slots.
#[test]
fn packing_a_transposed_weight_equals_packing_its_transpose() {
    for (k, n) in [(1, 1), (7, 3), (33, 65), (97, 47), (2, 32)] {
        let mut w = values(k * n, 4); // (k, n)
        for (slot, (bits, _)) in w.iter_mut().zip(TIES.iter()) {
            *slot = f32::from_bits(*bits);
        }
        let w_t: Vec<f32> = (0..n).flat_map(|j| (0..k).map(move |i| (i, j))).map(|(i, j)| w[i * n + j]).collect();
        let (direct, via_t) = (PackedB::from_rows(&w, k, n), PackedB::from_transposed(&w_t, k, n));
        assert_eq!((via_t.k, via_t.n, via_t.kp2), (direct.k, direct.n, direct.kp2), "{k}x{n} shape");
        assert!(via_t.data == direct.data, "{k}x{n}: packed bits differ");
    }
}
