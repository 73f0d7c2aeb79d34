//! Fusion formulas (Counterfactual VQA `sum`, `hm`) and top-k metrics on hand-made inputs.

use candle_core::{Device, Tensor};
use marnet_heads::model::fusion::{fuse_hm, fuse_sum};
use marnet_heads::train::metrics::{evaluate, top_indices, topk};

fn m(v: &[[f32; 2]]) -> Tensor {
    Tensor::from_vec(v.iter().flatten().copied().collect::<Vec<_>>(), (v.len(), 2), &Device::Cpu).unwrap()
}

// z_a = [[0, 2], [-3, 1]], z_b = [[0, -1], [1, 50]].
// sum = log σ(z_a + z_b) = log σ([[0, 1], [-2, 51]]):
//   log σ(0) = -ln 2 = -0.693147; log σ(1) = -ln(1 + e^-1) = -0.313262;
//   log σ(-2) = -ln(1 + e^2) = -2.126928; log σ(51) = -ln(1 + e^-51) ≈ -7.1e-23.
#[test]
fn sum_fusion_matches_hand_values() {
    let out = fuse_sum(&m(&[[0.0, 2.0], [-3.0, 1.0]]), &m(&[[0.0, -1.0], [1.0, 50.0]])).unwrap();
    let want = [[-std::f32::consts::LN_2, -0.313_262], [-2.126_928, 0.0]];
    let got = out.to_vec2::<f32>().unwrap();
    for i in 0..2 {
        for j in 0..2 {
            assert!((got[i][j] - want[i][j]).abs() < 1e-5, "{got:?}");
        }
    }
}

// hm: p = σ(z_a)·σ(z_b), out = ln(p/(1+p)).
//   (0, 0): p = 0.5·0.5 = 0.25 -> ln(0.25/1.25) = ln 0.2 = -1.609438
//   (2, -1): p = 0.880797·0.268941 = 0.236883 -> ln(0.236883/1.236883) = -1.652784
//   (-3, 1): p = 0.047426·0.731059 = 0.034671 -> ln(0.034671/1.034671) = -3.395933
//   (1, 50): p = 0.731059·1 = 0.731059 -> ln(0.731059/1.731059) = -0.861995
#[test]
fn hm_fusion_matches_hand_values_and_is_stable() {
    let out = fuse_hm(&m(&[[0.0, 2.0], [-3.0, 1.0]]), &m(&[[0.0, -1.0], [1.0, 50.0]])).unwrap();
    let want = [[-1.609_438, -1.652_784], [-3.395_933, -0.861_995]];
    let got = out.to_vec2::<f32>().unwrap();
    for i in 0..2 {
        for j in 0..2 {
            assert!((got[i][j] - want[i][j]).abs() < 1e-5, "{got:?}");
        }
    }
    // Extreme logits: σ(-200)² underflows in linear space; log space gives ≈ -400 (finite).
    let ext = fuse_hm(&m(&[[-200.0, 200.0]]), &m(&[[-200.0, 200.0]])).unwrap().to_vec2::<f32>().unwrap();
    assert!((ext[0][0] + 400.0).abs() < 1e-3, "{ext:?}");
    // (200, 200): p = 1 -> ln(1/2) = -0.693147.
    assert!((ext[0][1] + std::f32::consts::LN_2).abs() < 1e-6, "{ext:?}");
}

// Scores (4 rows × 6 classes). Tie rule: equal scores rank by smaller class index first.
//   row 0 [.1 .5 .5 0 0 0], label 2: class 1 ties and has a smaller index -> rank 1: top-1 miss, top-5 hit.
//   row 1 same scores, label 1: rank 0 -> top-1 hit.
//   row 2 all 1.0, label 5: five equal classes with smaller index -> rank 5: top-5 miss.
//   row 3 [.9 .1 .2 .3 .4 .5], label 1: five strictly higher -> rank 5: top-5 miss.
// top-1 = 1/4 = 25 %, top-5 = 2/4 = 50 %.
// Per-class top-1 recall: class 1 rows {1, 3} -> 1/2 = 50 %; class 2 -> 0 %; class 5 -> 0 %;
// mean over present classes = 50/3 = 16.667 %.
#[test]
fn topk_with_ties_matches_hand_counts() {
    let s: Vec<f32> = [
        [0.1, 0.5, 0.5, 0.0, 0.0, 0.0],
        [0.1, 0.5, 0.5, 0.0, 0.0, 0.0],
        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        [0.9, 0.1, 0.2, 0.3, 0.4, 0.5],
    ]
    .iter()
    .flatten()
    .copied()
    .collect();
    let labels = [2, 1, 5, 1];
    assert_eq!(topk(&s, 6, &labels, 1), 25.0);
    assert_eq!(topk(&s, 6, &labels, 5), 50.0);
    let e = evaluate(&s, 6, &labels);
    assert_eq!(e.per_class_recall[1], Some(50.0));
    assert_eq!(e.per_class_recall[2], Some(0.0));
    assert_eq!(e.per_class_recall[0], None);
    assert!((e.mean_class_recall - 50.0 / 3.0).abs() < 1e-9);
    // Best-first indices follow the same rule: row 0 -> 1, 2 (tie, smaller index first), 0, 3, 4.
    assert_eq!(top_indices(&s[0..6], 5), vec![1, 2, 0, 3, 4]);
}
