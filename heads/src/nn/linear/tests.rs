//! Tests of the heads' Linear op against hand computations and candle_nn (values and gradients).

use super::*;
use candle_core::backprop::GradStore;
use candle_core::{Device, Var};

/// Largest absolute elementwise difference.
fn max_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>()
}

/// The gradient of `v` in both stores (ours, the reference's).
fn grads_of<'a>(v: &Var, ours: &'a GradStore, theirs: &'a GradStore) -> (&'a Tensor, &'a Tensor) {
    (ours.get(v.as_tensor()).expect("ours"), theirs.get(v.as_tensor()).expect("reference"))
}

#[test]
fn forward_and_gradients_match_a_hand_computation() -> Result<()> {
    let dev = Device::Cpu;
    // W = [[1, 2, 3], [4, 5, 6]], b = [10, 20], x = [[1, 0, -1], [2, 1, 0]] (a variable).
    // y = x·Wᵀ + b = [[1-3+10, 4-6+20], [2+2+10, 8+5+20]] = [[8, 18], [14, 33]].
    // loss = sum(y · [[1, 2], [3, 4]]) (elementwise), so dY = [[1, 2], [3, 4]]:
    // dW = dYᵀ·x = [[1·1+3·2, 0+3·1, -1+0], [2·1+4·2, 0+4·1, -2+0]] = [[7, 3, -1], [10, 4, -2]];
    // dX = dY·W = [[1+8, 2+10, 3+12], [3+16, 6+20, 9+24]] = [[9, 12, 15], [19, 26, 33]];
    // db = column sums of dY = [4, 6].
    let w = Var::new(&[[1f32, 2., 3.], [4., 5., 6.]], &dev)?;
    let b = Var::new(&[10f32, 20.], &dev)?;
    let x = Var::new(&[[1f32, 0., -1.], [2., 1., 0.]], &dev)?;
    let lin = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
    let y = lin.forward(x.as_tensor())?;
    assert_eq!(y.to_vec2::<f32>()?, vec![vec![8., 18.], vec![14., 33.]]);
    let dy = Tensor::new(&[[1f32, 2.], [3., 4.]], &dev)?;
    let grads = (y * dy)?.sum_all()?.backward()?;
    let get = |t: &Tensor| grads.get(t).expect("gradient").clone();
    assert_eq!(get(w.as_tensor()).to_vec2::<f32>()?, vec![vec![7., 3., -1.], vec![10., 4., -2.]]);
    assert_eq!(get(x.as_tensor()).to_vec2::<f32>()?, vec![vec![9., 12., 15.], vec![19., 26., 33.]]);
    assert_eq!(get(b.as_tensor()).to_vec1::<f32>()?, vec![4., 6.]);
    Ok(())
}

/// Against candle_nn::Linear (an independent implementation) on random data with shapes
/// that are not multiples of the gemm tiles: values and gradients within f32 rounding.
#[test]
fn matches_candle_nn_linear() -> Result<()> {
    let dev = Device::Cpu;
    let w = Var::from_tensor(&Tensor::randn(0f32, 0.1, (37, 53), &dev)?)?;
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (29, 53), &dev)?)?;
    let ours = Linear::new(w.as_tensor().clone(), None).forward(x.as_tensor())?;
    let reference = candle_nn::Linear::new(w.as_tensor().clone(), None).forward(x.as_tensor())?;
    assert!(max_diff(&ours, &reference)? < 1e-5);
    let g_ours = ours.sqr()?.sum_all()?.backward()?;
    let g_ref = reference.sqr()?.sum_all()?.backward()?;
    for v in [&w, &x] {
        let (a, b) = grads_of(v, &g_ours, &g_ref);
        assert_eq!(a.dims(), b.dims());
        assert!(max_diff(a, b)? < 1e-4, "gradient differs by {}", max_diff(a, b)?);
    }
    Ok(())
}

#[test]
fn data_inputs_get_no_gradient() -> Result<()> {
    let dev = Device::Cpu;
    let w = Var::new(&[[1f32, 2.], [3., 4.]], &dev)?;
    let x = Tensor::new(&[[1f32, 1.]], &dev)?; // plain data, not a variable
    let grads = Linear::new(w.as_tensor().clone(), None).forward(&x)?.sum_all()?.backward()?;
    assert!(grads.get(&x).is_none());
    // dW = dYᵀ·x with dY = [[1, 1]]: every entry 1.
    assert_eq!(grads.get(w.as_tensor()).expect("dW").to_vec2::<f32>()?, vec![vec![1., 1.], vec![1., 1.]]);
    Ok(())
}

/// Random `W (d_out, d_in)`, `b (d_out,)`, input `x (batch, d_in)` as variables, and a fixed
/// `(batch, d_out)` weighting of the outputs whose sum is the test loss.
fn random_layer(d_out: usize, d_in: usize, batch: usize) -> Result<(Var, Var, Var, Tensor)> {
    let dev = Device::Cpu;
    Ok((
        Var::from_tensor(&Tensor::randn(0f32, 0.1, (d_out, d_in), &dev)?)?,
        Var::from_tensor(&Tensor::randn(0f32, 0.5, d_out, &dev)?)?,
        Var::from_tensor(&Tensor::randn(0f32, 1.0, (batch, d_in), &dev)?)?,
        Tensor::randn(0f32, 1.0, (batch, d_out), &dev)?,
    ))
}

/// `forward_act` (bias and activation fused into the op) against the composition
/// `candle_nn::Linear` + candle's activation: values and the gradients of `x`, `W` and `b`,
/// with 300 outputs (more than one column block of the bias gradient).
#[test]
fn fused_bias_and_activation_match_the_composition() -> Result<()> {
    let (w, b, x, mix) = random_layer(300, 53, 29)?;
    let silu: fn(&Tensor) -> Result<Tensor> = |t| t.silu();
    let leaky: fn(&Tensor) -> Result<Tensor> = |t| candle_nn::ops::leaky_relu(t, 0.01);
    for (act, reference) in
        [(Act::Silu, silu), (Act::LeakyRelu(0.01), leaky), (Act::Identity, |t: &Tensor| Ok(t.clone()))]
    {
        let ours = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone())).forward_act(x.as_tensor(), act)?;
        let lin = candle_nn::Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let theirs = reference(&lin.forward(x.as_tensor())?)?;
        assert!(max_diff(&ours, &theirs)? < 1e-5, "{act:?}: values differ by {}", max_diff(&ours, &theirs)?);
        let g_ours = (ours * &mix)?.sum_all()?.backward()?;
        let g_theirs = (theirs * &mix)?.sum_all()?.backward()?;
        for v in [&w, &b, &x] {
            let (a, c) = grads_of(v, &g_ours, &g_theirs);
            assert_eq!(a.dims(), c.dims());
            assert!(max_diff(a, c)? < 1e-4, "{act:?}: gradient differs by {}", max_diff(a, c)?);
        }
    }
    Ok(())
}

/// A layer on detached weights builds no autograd graph.
#[test]
fn detached_layer_tracks_nothing() -> Result<()> {
    let dev = Device::Cpu;
    let w = Var::new(&[[1f32, 2.], [3., 4.]], &dev)?;
    let lin = Linear::new(w.as_tensor().clone(), None);
    let x = Tensor::new(&[[1f32, 1.]], &dev)?;
    assert!(lin.forward_act(&x, Act::Silu)?.track_op());
    let y = lin.detached().forward_act(&x, Act::Silu)?;
    assert!(!y.track_op());
    // silu(3) = 3/(1+e^-3) = 2.8577224, silu(7) = 7/(1+e^-7) = 6.9936226
    let v = y.to_vec2::<f32>()?;
    assert!((v[0][0] - 2.857_722).abs() < 1e-6 && (v[0][1] - 6.993_623).abs() < 1e-6, "{v:?}");
    Ok(())
}

/// `forward_shift_act` against `silu(x·Wᵀ + b + shift)` built from candle ops, for a full
/// `(batch, out)` shift and a one-row `(1, out)` shift: values and every gradient.
#[test]
fn shifted_layer_matches_the_composition() -> Result<()> {
    let dev = Device::Cpu;
    let (w, b, x, mix) = random_layer(40, 23, 9)?;
    for rows in [9, 1] {
        let shift = Var::from_tensor(&Tensor::randn(0f32, 1.0, (rows, 40), &dev)?)?;
        let lin = Linear::new(w.as_tensor().clone(), Some(b.as_tensor().clone()));
        let ours = lin.forward_shift_act(x.as_tensor(), shift.as_tensor(), Act::Silu)?;
        let theirs = x
            .as_tensor()
            .matmul(&w.as_tensor().t()?)?
            .broadcast_add(b.as_tensor())?
            .broadcast_add(shift.as_tensor())?
            .silu()?;
        assert!(max_diff(&ours, &theirs)? < 1e-5);
        let g_ours = (ours * &mix)?.sum_all()?.backward()?;
        let g_theirs = (theirs * &mix)?.sum_all()?.backward()?;
        for v in [&w, &b, &x, &shift] {
            let (a, c) = grads_of(v, &g_ours, &g_theirs);
            assert_eq!(a.dims(), c.dims());
            assert!(max_diff(a, c)? < 1e-4, "shift rows {rows}: gradient differs by {}", max_diff(a, c)?);
        }
    }
    Ok(())
}
