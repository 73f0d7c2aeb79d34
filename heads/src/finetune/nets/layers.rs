//! Differentiable building blocks of the trainable encoders.
//!
//! candle-nn's fused `LayerNorm` forward (contiguous input with bias: `ops::layer_norm`) and
//! `ops::softmax_last_dim` are recorded without a backward pass (`apply_op*_no_bwd`), so
//! gradients stop at them and the candle-transformers ViT/CLIP/BERT used by `marnet_extract`
//! cannot be fine-tuned (only their heads would move). These blocks use plain tensor ops, all
//! of which candle differentiates, and compute LayerNorm and softmax in f32 (as transformers
//! does for half precision). Where nothing needs a gradient (input and weights are not
//! variables and carry no graph, e.g. in frozen blocks), or inside [`inference`], the fused
//! candle kernels are used.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use std::cell::Cell;

thread_local! {
    static INFERENCE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the fused (non-differentiable) LayerNorm and softmax kernels on this thread,
/// like `torch.no_grad()` for evaluation: results equal the differentiable path within float
/// rounding, and nothing computed inside may be back-propagated through those ops.
pub fn inference<T>(f: impl FnOnce() -> T) -> T {
    let old = INFERENCE.with(|c| c.replace(true));
    let out = f();
    INFERENCE.with(|c| c.set(old));
    out
}

fn fused_ok(ts: &[&Tensor]) -> bool {
    INFERENCE.with(|c| c.get()) || ts.iter().all(|t| !t.track_op())
}

/// `LayerNorm` over the last dimension: `(x − mean) / sqrt(var + eps) · weight + bias`
/// (population variance, statistics in f32; output in the input dtype).
#[derive(Debug, Clone)]
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

impl Norm {
    /// Reads `weight` and `bias` `(dim,)` under `vb`.
    pub fn new(dim: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self { weight: vb.get(dim, "weight")?, bias: vb.get(dim, "bias")?, eps })
    }
}

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if fused_ok(&[x, &self.weight, &self.bias]) {
            // Nothing to differentiate (frozen block): candle's fused kernel is faster.
            return candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps as f32);
        }
        let dtype = x.dtype();
        let x = x.to_dtype(DType::F32)?;
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + self.eps)?.sqrt()?)?;
        normed
            .broadcast_mul(&self.weight.to_dtype(DType::F32)?)?
            .broadcast_add(&self.bias.to_dtype(DType::F32)?)?
            .to_dtype(dtype)
    }
}

/// Softmax over the last dimension in f32 (the row maximum is subtracted as a constant).
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    if fused_ok(&[x]) {
        return candle_nn::ops::softmax_last_dim(&x.contiguous()?);
    }
    let x32 = x.to_dtype(DType::F32)?;
    let max = x32.max_keepdim(D::Minus1)?.detach();
    let e = x32.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?.to_dtype(x.dtype())
}

/// Linear layer `in → out` (weight `(out, in)`), with or without `bias`.
pub fn linear(vb: VarBuilder, in_dim: usize, out_dim: usize, bias: bool) -> Result<Linear> {
    let w = vb.get((out_dim, in_dim), "weight")?;
    let b = if bias { Some(vb.get(out_dim, "bias")?) } else { None };
    Ok(Linear::new(w, b))
}

/// Activation functions of the supported configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Exact erf GELU (`"gelu"`).
    GeluErf,
    /// tanh-approximate GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// CLIP's `quick_gelu`: `x·σ(1.702x)`.
    QuickGelu,
    Relu,
    Silu,
}

impl Act {
    /// Applies the activation.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Act::GeluErf => x.gelu_erf(),
            Act::GeluTanh => x.gelu(),
            Act::QuickGelu => x.mul(&((x * -1.702)?.exp()? + 1.0)?.recip()?),
            Act::Relu => x.relu(),
            Act::Silu => x.silu(),
        }
    }
}

/// Multi-head attention core: `q`, `k`, `v` `(batch, seq, heads·head_dim)` → same shape;
/// `mask` (optional, additive, broadcast to `(batch, heads, seq, seq)`).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize, mask: Option<&Tensor>) -> Result<Tensor> {
    let (b, n, width) = q.dims3()?;
    let hd = width / heads;
    let split = |t: &Tensor| t.reshape((b, n, heads, hd))?.transpose(1, 2)?.contiguous();
    let (q, k, v) = (split(q)?, split(k)?, split(v)?);
    let mut scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
    if let Some(m) = mask {
        scores = scores.broadcast_add(&m.to_dtype(scores.dtype())?)?;
    }
    let probs = softmax_last(&scores)?;
    probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, n, width))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    #[test]
    fn norm_and_softmax_values_and_gradients() {
        let dev = Device::Cpu;
        // [1, 2, 3]: mean 2, var 2/3, normalised [-1.2247449, 0, 1.2247449].
        let x = Var::from_tensor(&Tensor::new(&[[1f32, 2., 3.]], &dev).unwrap()).unwrap();
        let vb = VarBuilder::from_tensors(
            [
                ("weight".to_string(), Tensor::new(&[1f32, 1., 1.], &dev).unwrap()),
                ("bias".to_string(), Tensor::new(&[0f32, 0., 0.], &dev).unwrap()),
            ]
            .into_iter()
            .collect(),
            DType::F32,
            &dev,
        );
        let y = Norm::new(3, 0.0, vb).unwrap().forward(x.as_tensor()).unwrap();
        let v = y.to_vec2::<f32>().unwrap()[0].clone();
        assert!((v[0] + 1.224_744_9).abs() < 1e-6 && v[1].abs() < 1e-6 && (v[2] - 1.224_744_9).abs() < 1e-6, "{v:?}");
        // softmax([0, ln 3]) = [0.25, 0.75].
        let s = softmax_last(&Tensor::new(&[[0f32, 3f32.ln()]], &dev).unwrap()).unwrap().to_vec2::<f32>().unwrap();
        assert!((s[0][0] - 0.25).abs() < 1e-6 && (s[0][1] - 0.75).abs() < 1e-6);
        // Gradients flow through both (the fused candle ops give none).
        let loss = softmax_last(&y).unwrap().narrow(1, 2, 1).unwrap().sum_all().unwrap();
        assert!(loss.backward().unwrap().get(x.as_tensor()).is_some());
    }
}
