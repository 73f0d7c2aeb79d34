//! The Table 1 alignment losses (SWD, SSAN, CDD, SDM) and the generalized-distillation target,
//! each against a value computed by hand in a comment, plus finite gradients at the corner
//! cases: a class absent from the batch, one sample per class, identical features.

use candle_core::{Device, Tensor, Var};
use marnet_heads::model::align::cdd::{base_bandwidth, cdd_loss, cdd_with_bandwidth, gaussian_kernels};
use marnet_heads::model::align::sdm::{label_match, sdm_loss};
use marnet_heads::model::align::ssan::ssan_loss;
use marnet_heads::model::align::swd::{random_projections, sliced_wasserstein, swd_loss};
use marnet_heads::model::distill::{distill_targets, soft_cross_entropy};
use marnet_heads::nn::rng::HostRng;

fn m(rows: &[&[f32]]) -> Tensor {
    let cols = rows[0].len();
    let v: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(v, (rows.len(), cols), &Device::Cpu).unwrap()
}

fn labels(l: &[u32]) -> Tensor {
    Tensor::new(l, &Device::Cpu).unwrap()
}

fn value(t: &Tensor) -> f32 {
    t.to_scalar::<f32>().unwrap()
}

fn close(got: f32, want: f32, tol: f32, what: &str) {
    assert!((got - want).abs() <= tol, "{what}: got {got}, expected {want}");
}

// ---- SWD ----

#[test]
fn swd_of_identical_batches_is_zero_and_blind_to_row_order() {
    let mut rng = HostRng::new(7, 1);
    let a = rng.normal(6, 4, &Device::Cpu).unwrap();
    let proj = random_projections(&mut rng, 4, 16, &Device::Cpu).unwrap();
    assert_eq!(value(&sliced_wasserstein(&a, &a, &proj).unwrap()), 0.0);
    // Rows 5, 4, ..., 0: the same empirical distribution, so the sorted projections agree.
    let rev = a.index_select(&labels(&[5, 4, 3, 2, 1, 0]), 0).unwrap();
    close(value(&sliced_wasserstein(&a, &rev, &proj).unwrap()), 0.0, 1e-6, "permuted rows");
    // Different rows give a positive discrepancy.
    let b = rng.normal(6, 4, &Device::Cpu).unwrap();
    assert!(value(&sliced_wasserstein(&a, &b, &proj).unwrap()) > 1e-3);
    assert_eq!(value(&swd_loss(&a, &a, &proj).unwrap()), 0.0, "softmax outputs of equal logits");
}

// a = [(1,0), (0,1)], b = [(0,0), (2,2)]; directions θ1 = (1,0), θ2 = (0,1), θ3 = (1,1)/√2.
// θ1: a -> (1,0) sorted (0,1); b -> (0,2) sorted (0,2); squared differences (0, 1).
// θ2: a -> (0,1); b -> (0,2); (0, 1).
// θ3: a -> (0.7071, 0.7071); b -> (0, 2.8284); (0.5, 4.5).
// Mean over the 6 values: (0 + 1 + 0 + 1 + 0.5 + 4.5) / 6 = 7/6 = 1.166667.
#[test]
fn swd_two_by_two_by_hand() {
    let a = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
    let b = m(&[&[0.0, 0.0], &[2.0, 2.0]]);
    let r = std::f32::consts::FRAC_1_SQRT_2;
    let proj = m(&[&[1.0, 0.0, r], &[0.0, 1.0, r]]);
    close(value(&sliced_wasserstein(&a, &b, &proj).unwrap()), 7.0 / 6.0, 1e-5, "SWD");
}

#[test]
fn random_projections_are_unit_directions() {
    let mut rng = HostRng::new(0, 9);
    let p = random_projections(&mut rng, 5, 32, &Device::Cpu).unwrap();
    let norms = p.sqr().unwrap().sum(0).unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(norms.len(), 32);
    assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
    assert!(random_projections(&mut rng, 0, 3, &Device::Cpu).is_err());
}

// ---- SSAN ----

// labels (0, 1), k = 3 (class 2 absent). x_v' rows (1,0), (0,1); x_s' rows (0,1), (0,1), all unit.
// Class 0: ‖(1,0) − (0,1)‖² = 2; class 1: ‖(0,1) − (0,1)‖² = 0; mean over the 2 present = 1.
#[test]
fn ssan_by_hand_with_an_absent_class() {
    let xv = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
    let xs = m(&[&[0.0, 1.0], &[0.0, 1.0]]);
    close(value(&ssan_loss(&xv, &xs, &labels(&[0, 1]), 3).unwrap()), 1.0, 1e-6, "SSAN");
    // Rows are normalised first: scaling x_v' by 5 changes nothing.
    let xv5 = (xv * 5.0).unwrap();
    close(value(&ssan_loss(&xv5, &xs, &labels(&[0, 1]), 3).unwrap()), 1.0, 1e-6, "SSAN scaled");
}

// Two rows of class 0: x_v' = (1,0), (0,1) has centroid (0.5, 0.5); x_s' = (1,0), (1,0) has
// (1, 0); ‖(−0.5, 0.5)‖² = 0.5.
#[test]
fn ssan_averages_within_a_class() {
    let xv = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
    let xs = m(&[&[1.0, 0.0], &[1.0, 0.0]]);
    close(value(&ssan_loss(&xv, &xs, &labels(&[0, 0]), 2).unwrap()), 0.5, 1e-6, "SSAN centroid");
}

// ---- CDD ----

// One class, d = 1: x_v' = (0, 0), x_s' = (1, 1). Joint batch z = (0, 0, 1, 1): of the 12
// ordered pairs i ≠ j, 8 are (0, 1) pairs with ‖·‖² = 1 and 4 have 0, so σ = 8/12 = 2/3.
// One kernel: e1 = e2 = 1 (equal rows), e3 = exp(−1 / (2/3)) = e^{−1.5} = 0.223130;
// D = 2 − 2·0.223130 = 1.553740; no inter-class pair, so CDD = D.
#[test]
fn cdd_with_one_class_is_the_mmd_by_hand() {
    let xv = m(&[&[0.0], &[0.0]]);
    let xs = m(&[&[1.0], &[1.0]]);
    close(value(&base_bandwidth(&xv, &xs).unwrap()), 2.0 / 3.0, 1e-6, "bandwidth");
    close(value(&cdd_loss(&xv, &xs, &labels(&[0, 0]), 2, 1, 2.0).unwrap()), 1.553_74, 1e-5, "CDD");
}

// Two classes, σ = 100, one kernel: x_v' = x_s' = (0, 10), labels (0, 1).
// D^{00} = D^{11} = 1 + 1 − 2·k(0,0) = 0. D^{01} = e1(0) + e2(1) − 2·k(x_v'_0, x_s'_1)
// = 2 − 2·exp(−100/100) = 2 − 2/e = 1.264241, D^{10} the same.
// CDD = 0 − (1.264241 + 1.264241)/2 = −1.264241: well-separated classes give a negative value.
#[test]
fn cdd_two_classes_by_hand() {
    let x = m(&[&[0.0], &[10.0]]);
    let sigma = Tensor::new(100f32, &Device::Cpu).unwrap();
    let v = value(&cdd_with_bandwidth(&x, &x, &labels(&[0, 1]), 2, &sigma, 1, 2.0).unwrap());
    close(v, -1.264_241, 1e-5, "CDD");
}

// L = 3 kernels, mul 2, σ = 1: bandwidths 1·2^{−1}, 1, 2; d² = 1:
// e^{−2} + e^{−1} + e^{−0.5} = 0.135335 + 0.367879 + 0.606531 = 1.109745.
#[test]
fn multi_kernel_bandwidths_by_hand() {
    let d2 = Tensor::new(&[1f32], &Device::Cpu).unwrap();
    let sigma = Tensor::new(1f32, &Device::Cpu).unwrap();
    let v = gaussian_kernels(&d2, &sigma, 3, 2.0).unwrap().to_vec1::<f32>().unwrap()[0];
    close(v, 1.109_745, 1e-5, "kernels");
}

// ---- SDM ----

#[test]
fn label_match_rows_are_uniform_over_same_label_rows() {
    let q = label_match(&labels(&[0, 0, 1]), 3).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(q, vec![vec![0.5, 0.5, 0.0], vec![0.5, 0.5, 0.0], vec![0.0, 0.0, 1.0]]);
}

// Perfect match: labels (0, 1), x_v' = x_s' = I₂, τ = 0.01: p_i = softmax(100, 0) puts
// 1 − e^{−100} on the match, so KL(p ‖ q) is ~ e^{−100}·ln(1/ε) ≈ 0 in both directions.
#[test]
fn sdm_of_a_perfect_match_is_zero() {
    let x = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
    let v = value(&sdm_loss(&x, &x, &labels(&[0, 1]), 2, 0.01).unwrap());
    close(v, 0.0, 1e-6, "SDM perfect match");
}

// Both rows of class 0, x_v' = x_s' = I₂, τ = 1: q_i = (0.5, 0.5); p_0 = softmax(1, 0)
// = (e/(e+1), 1/(e+1)) = (0.731059, 0.268941); KL = 0.731059·ln(1.462117) + 0.268941·ln(0.537883)
// = 0.277726 − 0.166782 = 0.110944; row 1 the same by symmetry, and t2i equals i2t here:
// L_SDM = 2·0.110944 = 0.221888.
#[test]
fn sdm_by_hand() {
    let x = m(&[&[1.0, 0.0], &[0.0, 1.0]]);
    close(value(&sdm_loss(&x, &x, &labels(&[0, 0]), 1, 1.0).unwrap()), 0.221_888, 1e-5, "SDM");
    assert!(sdm_loss(&x, &x, &labels(&[0, 0]), 1, 0.0).is_err());
}

// ---- distillation ----

#[test]
fn distill_target_of_a_one_hot_teacher_at_lambda_one_is_the_label() {
    let y = labels(&[2, 0]);
    // The teacher puts (almost) all mass on the label: logits 1000 on it, 0 elsewhere.
    let teacher = m(&[&[0.0, 0.0, 1000.0], &[1000.0, 0.0, 0.0]]);
    let t = distill_targets(&y, &teacher, 1.0, 1.0).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t, vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]);
    // λ = 0 ignores any teacher.
    let wrong = m(&[&[5.0, 1.0, -3.0], &[0.0, 9.0, 0.0]]);
    let t0 = distill_targets(&y, &wrong, 4.0, 0.0).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(t0, vec![vec![0.0, 0.0, 1.0], vec![1.0, 0.0, 0.0]]);
    assert!(distill_targets(&y, &wrong, 0.0, 0.5).is_err());
    assert!(distill_targets(&y, &wrong, 1.0, 1.5).is_err());
}

// λ = 0.5, T = 2, teacher logits (2, 0), label 1: softmax((1, 0)) = (0.731059, 0.268941);
// t = 0.5·(0, 1) + 0.5·(0.731059, 0.268941) = (0.365529, 0.634471).
#[test]
fn distill_target_mix_by_hand() {
    let t = distill_targets(&labels(&[1]), &m(&[&[2.0, 0.0]]), 2.0, 0.5).unwrap().to_vec2::<f32>().unwrap();
    close(t[0][0], 0.365_529, 1e-6, "t0");
    close(t[0][1], 0.634_471, 1e-6, "t1");
}

// logits (0, ln 3): softmax = (1/4, 3/4); a one-hot target on class 1 gives −ln(3/4) = 0.287682;
// the target (0.5, 0.5) gives −(ln(1/4) + ln(3/4))/2 = (1.386294 + 0.287682)/2 = 0.836988.
#[test]
fn soft_cross_entropy_by_hand() {
    let logits = m(&[&[0.0, 3f32.ln()]]);
    close(value(&soft_cross_entropy(&logits, &m(&[&[0.0, 1.0]])).unwrap()), 0.287_682, 1e-6, "one-hot");
    close(value(&soft_cross_entropy(&logits, &m(&[&[0.5, 0.5]])).unwrap()), 0.836_988, 1e-6, "soft");
}

// ---- gradients at the corner cases ----

/// Every loss on (x_v', x_s', labels, k), backpropagated to both inputs: gradients exist and
/// are finite.
fn assert_finite_grads(xv: Tensor, xs: Tensor, y: &[u32], k: usize, case: &str) {
    let (vv, vs) = (Var::from_tensor(&xv).unwrap(), Var::from_tensor(&xs).unwrap());
    let y = labels(y);
    let mut rng = HostRng::new(1, 1);
    let proj = random_projections(&mut rng, xv.dim(1).unwrap(), 8, &Device::Cpu).unwrap();
    let losses = [
        ("swd", swd_loss(vv.as_tensor(), vs.as_tensor(), &proj).unwrap()),
        ("ssan", ssan_loss(vv.as_tensor(), vs.as_tensor(), &y, k).unwrap()),
        ("cdd", cdd_loss(vv.as_tensor(), vs.as_tensor(), &y, k, 5, 2.0).unwrap()),
        ("sdm", sdm_loss(vv.as_tensor(), vs.as_tensor(), &y, k, 0.02).unwrap()),
    ];
    for (name, loss) in losses {
        assert!(value(&loss).is_finite(), "{case}: {name} loss {}", value(&loss));
        let grads = loss.backward().unwrap();
        for (which, v) in [("x_v'", &vv), ("x_s'", &vs)] {
            let g = grads.get(v.as_tensor()).unwrap_or_else(|| panic!("{case}: {name} has no gradient for {which}"));
            let g = g.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(g.iter().all(|x| x.is_finite()), "{case}: {name} gradient for {which}: {g:?}");
        }
    }
}

#[test]
fn gradients_are_finite_at_corner_cases() {
    let mut rng = HostRng::new(3, 2);
    let a = rng.normal(4, 3, &Device::Cpu).unwrap();
    let b = rng.normal(4, 3, &Device::Cpu).unwrap();
    // Classes 2..5 absent from the batch.
    assert_finite_grads(a.clone(), b.clone(), &[0, 1, 0, 1], 6, "absent classes");
    // One sample per class (no inter-row pairs inside a class).
    assert_finite_grads(a.clone(), b, &[0, 1, 2, 3], 4, "one sample per class");
    // Identical features everywhere: zero distances, zero bandwidth before the floor.
    let same = Tensor::ones((4, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
    assert_finite_grads(same.clone(), same, &[0, 0, 1, 1], 2, "identical features");
    // A single row.
    assert_finite_grads(a.narrow(0, 0, 1).unwrap(), a.narrow(0, 1, 1).unwrap(), &[0], 3, "one row");
}
