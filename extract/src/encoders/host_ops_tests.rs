//! Tests of the host ops against hand-computed values and the bf16 rounding.

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
    let mut layer = Dense { w: vec![1., 0., 2., 0., 1., -1.], b: vec![10., 20., 30.], packed: None, d_in: 2, d_out: 3 };
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
