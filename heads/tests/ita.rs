//! L_ITA (paper eqs. 9-12): hand-computed InfoNCE on a 3x2 example, symmetry, the 1/τ ≤ 100
//! clamp and zero rows.

use candle_core::{Device, Tensor, Var};
use marnet_heads::model::ema::{cosine_matrix, ita_loss};

fn t(rows: &[[f32; 2]]) -> Tensor {
    let v: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_vec(v, (rows.len(), 2), &Device::Cpu).unwrap()
}

fn scalar(x: f32) -> Tensor {
    Tensor::new(&[x], &Device::Cpu).unwrap()
}

// x_v' = [(1,0), (0,1), (1,1)], x_s' = [(1,0), (0,1), (-1,1)]. Unit rows: (1,1)/√2, (-1,1)/√2.
// S = [[1, 0, -1/√2], [0, 1, 1/√2], [1/√2, 1/√2, 0]] (cosines; 1/√2 = 0.70711).
// With logit_scale = 0 (τ = 1) the logits are S.
// Row CE, target i: -S_ii + ln Σ_j e^{S_ij}:
//   row 0: -1 + ln(e + 1 + e^-0.70711) = -1 + ln(4.21135) = 0.43778
//   row 1: -1 + ln(1 + e + e^0.70711)  = -1 + ln(5.74636) = 0.74857
//   row 2: -0 + ln(2e^0.70711 + 1)      = ln(5.05662)      = 1.62062
//   mean = (0.43778 + 0.74857 + 1.62062)/3 = 0.93566
// Column CE (Sᵀ): col 0: -1 + ln(e + 1 + e^0.70711) = 0.74857; col 1: same = 0.74857;
//   col 2: -0 + ln(e^-0.70711 + e^0.70711 + 1) = ln(3.52120) = 1.25880; mean = 0.91865.
// L_ITA = 0.93566 + 0.91865 = 1.85431.
const HAND_LOSS_TAU1: f32 = 1.854_307;

#[test]
fn ita_matches_hand_computation() {
    let xv = t(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
    let xs = t(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]);
    let s = cosine_matrix(&xv, &xs).unwrap().to_vec2::<f32>().unwrap();
    assert!((s[0][2] + std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    assert!((s[2][0] - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
    let l = ita_loss(&xv, &xs, &scalar(0.0), 100.0).unwrap().to_vec0::<f32>().unwrap();
    assert!((l - HAND_LOSS_TAU1).abs() < 1e-4, "L_ITA = {l}, expected {HAND_LOSS_TAU1}");
}

#[test]
fn ita_is_symmetric_in_its_two_inputs() {
    let xv = t(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
    let xs = t(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]);
    let a = ita_loss(&xv, &xs, &scalar(1.0), 100.0).unwrap().to_vec0::<f32>().unwrap();
    let b = ita_loss(&xs, &xv, &scalar(1.0), 100.0).unwrap().to_vec0::<f32>().unwrap();
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
}

// logit_scale forced to 50 (1/τ = e^50) must be clamped to ln(100): logits = 100·S.
// Row CE: row 0: ln(1 + e^-100 + e^-170.7) ≈ 0; row 1: ln(1 + e^-100 + e^-29.29) = 1.85e-13;
//   row 2: -0 + ln(2e^70.711 + 1) = 70.711 + ln 2 = 71.40382; mean = 23.80127.
// Column CE: col 0, col 1 ≈ 1.85e-13; col 2: ln(e^-70.711 + e^70.711 + 1) = 70.71068; mean = 23.57023.
// Sum = 47.37150 (unclamped, e^50 ≈ 5e21 would overflow f32 to inf).
#[test]
fn clamp_keeps_loss_finite_with_huge_logit_scale() {
    let xv = t(&[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]);
    let xs = t(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]);
    let l = ita_loss(&xv, &xs, &scalar(50.0), 100.0).unwrap().to_vec0::<f32>().unwrap();
    assert!(l.is_finite());
    assert!((l - 47.3715).abs() < 1e-2, "L_ITA = {l}, expected 47.3715");
}

#[test]
fn zero_feature_row_gives_no_nan_in_loss_or_gradient() {
    let xv = Var::from_tensor(&t(&[[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])).unwrap();
    let xs = t(&[[1.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]);
    let ls = Var::from_tensor(&scalar(2.0)).unwrap();
    let l = ita_loss(xv.as_tensor(), &xs, ls.as_tensor(), 100.0).unwrap();
    assert!(l.to_vec0::<f32>().unwrap().is_finite());
    let grads = l.backward().unwrap();
    let g = grads.get(xv.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert!(g.iter().all(|x| x.is_finite()), "gradient {g:?}");
    let gs = grads.get(ls.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    assert!(gs[0].is_finite());
}
