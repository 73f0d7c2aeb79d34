//! The heads' Linear layer, `y = x · Wᵀ + b` with `W` `(out, in)` in the PyTorch/HF layout (as
//! `heads.safetensors` stores it), with a forward and backward that keep candle's gemm on its
//! fast, row-major path.
//!
//! `candle_nn::Linear` multiplies by the view `W.t()`: a column-major right-hand side, which
//! candle's gemm runs at about 55 % speed for batch-sized `m` (f32, AVX-512, 2 threads,
//! `(256 × 1024) · (1024 × 1024)`: 4.6 ms against 2.6 ms), and its backward produces the weight
//! gradient as `(in, out)`, which autograd then adds into `W`'s layout with a strided copy
//! (2.9 ms for 1024 × 1024). On the CPU this layer instead runs one custom op:
//! - forward: `Wᵀ` transposed into a contiguous buffer by the cache-blocked `transpose` crate
//!   in parallel column blocks (0.32 ms for 1024 × 1024 on 2 cores), then `x · Wᵀ` with both operands row-major, by the same
//!   `gemm` call candle makes (no copies of `x` or `y`);
//! - the bias is added by gemm itself (the output starts as the bias rows and gemm accumulates
//!   onto it), and [`Linear::forward_act`] applies the activation in the same op
//!   ([`crate::nn::activation`]), keeping the pre-activation only when a gradient will be needed;
//! - backward: `dZ = dY·act'(Z)`, `dX = dZ · W` (row-major) and `dW = dZᵀ · X`, which comes out
//!   `(out, in)` contiguous, and `db` = column sums of `dZ` in one cache-friendly pass; `dX` is
//!   skipped when `x` does not need a gradient (the heads' first layers read the cached
//!   features). One op per layer instead of four (matmul, bias add, activation, and their
//!   backward), each of which costs candle's autograd a zero tensor and an add per input.
//!
//! Under [`crate::nn::precision::Precision::Bf16`] the same op rounds each product's inputs to
//! bf16 and accumulates in f32 on the bf16 kernel ([`bf16`]); its outputs and gradients stay f32.
//!
//! Other devices and dtypes use the plain `x.matmul(&W.t())`.

mod bf16;
mod host;

use crate::nn::activation::{contiguous_f32, Act, ActGrad};
use crate::nn::precision::{self, Precision};
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};
use host::{gemm_row_major, new_product, repeat_rows, transposed, ColumnSums, LinearGrad};
use std::sync::Mutex;

/// A fully connected layer; see the module docs.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// `weight` `(out, in)`, `bias` `(out,)` (usually the tensors of candle `Var`s).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Self { weight, bias }
    }

    /// The same layer on detached weights: no autograd graph is built through it (sampling and
    /// evaluation loops, where nothing is differentiated).
    pub fn detached(&self) -> Self {
        Self { weight: self.weight.detach(), bias: self.bias.as_ref().map(|b| b.detach()) }
    }

    /// `act(x · Wᵀ + b)`: `x` `(batch, in)` → `(batch, out)`. On CPU f32 tensors the bias and the
    /// activation are fused into the one op (see [`crate::nn::activation`]).
    pub fn forward_act(&self, x: &Tensor, act: Act) -> Result<Tensor> {
        self.forward_with(x, self.bias.clone(), act)
    }

    /// `act(x · Wᵀ + b + shift)` with `shift` `(batch, out)` or `(1, out)`: `x` `(batch, in)` →
    /// `(batch, out)`.
    /// The denoiser's first layer, whose other inputs' terms arrive precomputed. On CPU f32
    /// tensors `shift` seeds gemm's output, so the sum and the activation cost no extra op.
    pub fn forward_shift_act(&self, x: &Tensor, shift: &Tensor, act: Act) -> Result<Tensor> {
        let mut shift = match &self.bias {
            Some(b) => shift.broadcast_add(b)?,
            None => shift.clone(),
        };
        if shift.rank() == 2 && shift.dim(0)? == 1 && x.dim(0)? != 1 {
            shift = shift.flatten_all()?; // one row for every input row: a bias
        }
        self.forward_with(x, Some(shift), act)
    }

    /// `act(x · Wᵀ + shift)`: the custom op for 2-D f32 CPU tensors (the activation outside it when
    /// it has no fused kernel), candle's matmul and broadcast add otherwise.
    fn forward_with(&self, x: &Tensor, shift: Option<Tensor>, act: Act) -> Result<Tensor> {
        let cpu_f32 = x.device().is_cpu()
            && x.rank() == 2
            && x.dtype() == DType::F32
            && self.weight.dtype() == DType::F32
            && shift.as_ref().is_none_or(|s| s.dtype() == DType::F32);
        if !cpu_f32 {
            let y = x.matmul(&self.weight.t()?)?;
            let y = match &shift {
                Some(s) => y.broadcast_add(s)?,
                None => y,
            };
            return crate::nn::activation::apply(&y, act);
        }
        if act.is_fused() {
            self.apply(x, shift.as_ref(), act)
        } else {
            crate::nn::activation::apply(&self.apply(x, shift.as_ref(), Act::Identity)?, act)
        }
    }

    /// The custom op on `x`, `W` and an optional shift (`(out,)` bias or `(batch, out)` matrix).
    fn apply(&self, x: &Tensor, shift: Option<&Tensor>, act: Act) -> Result<Tensor> {
        let needs_grad = x.track_op() || self.weight.track_op() || shift.is_some_and(|b| b.track_op());
        let keep_z = needs_grad && act != Act::Identity;
        let op = LinearOp { act, keep_z, precision: precision::current(), z: Mutex::new(None) };
        let (x, w) = (x.contiguous()?, self.weight.contiguous()?);
        match shift {
            Some(b) => x.apply_op3(&w, &b.contiguous()?, op),
            None => x.apply_op2(&w, op),
        }
    }
}

impl Module for Linear {
    /// `x` `(batch, in)` → `(batch, out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_act(x, Act::Identity)
    }
}

/// `act(x · Wᵀ + b)` with `x` `(b, in)`, `W` `(out, in)`, `b` `(out,)` (optional), all contiguous
/// f32 on the CPU. Keeps the pre-activation `z` for the backward when a gradient is needed.
struct LinearOp {
    act: Act,
    keep_z: bool,
    /// The arithmetic of the forward and backward products, read when the op is built.
    precision: Precision,
    /// Pre-activation `z = x·Wᵀ + b` (b, out), set by the forward when `keep_z`.
    z: Mutex<Option<Tensor>>,
}

impl LinearOp {
    fn forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        bias: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (b, d_in) = x.1.shape().dims2()?;
        let (d_out, w_in) = w.1.shape().dims2()?;
        if d_in != w_in {
            candle_core::bail!("linear: input has {d_in} features, the weight expects {w_in}");
        }
        let xs = contiguous_f32(x.0, x.1, "linear")?;
        let ws = contiguous_f32(w.0, w.1, "linear")?;
        // (b, out): the shift (the bias in every row, or a full matrix) that x·Wᵀ is added onto.
        let shift = match bias {
            Some((s, l)) => {
                let bs = contiguous_f32(s, l, "linear")?;
                if bs.len() == b * d_out && l.shape().rank() == 2 {
                    Some(bs.to_vec())
                } else if bs.len() == d_out && l.shape().rank() == 1 {
                    Some(repeat_rows(bs, b))
                } else {
                    candle_core::bail!("linear: shift of shape {:?}, expected ({d_out},) or ({b}, {d_out})", l.shape());
                }
            }
            None => None,
        };
        let mut z = match (self.precision, shift) {
            (Precision::Bf16, shift) => {
                let mut z = shift.unwrap_or_else(|| vec![0f32; b * d_out]);
                bf16::add_x_wt(&mut z, xs, ws, b, d_in, d_out);
                z
            }
            (Precision::F32, Some(mut z)) => {
                let w_t = transposed(ws, d_out, d_in);
                // SAFETY: z is b×out and holds the shift, w_t is Wᵀ (in, out); see `gemm_row_major`.
                unsafe { gemm_row_major(z.as_mut_ptr(), true, xs, &w_t, b, d_in, d_out) };
                z
            }
            (Precision::F32, None) => new_product(xs, &transposed(ws, d_out, d_in), b, d_in, d_out),
        };
        let y = if self.act == Act::Identity {
            z
        } else if self.keep_z {
            let mut y = z.clone();
            self.act.forward_in_place(&mut y);
            let saved = Tensor::from_vec(z, (b, d_out), &candle_core::Device::Cpu)?;
            *self.z.lock().map_err(|_| candle_core::Error::Msg("linear: poisoned lock".into()))? = Some(saved);
            y
        } else {
            self.act.forward_in_place(&mut z);
            z
        };
        Ok((CpuStorage::F32(y), Shape::from((b, d_out))))
    }

    /// `(dX, dW, db)` from `dY`: `dZ = dY·act'(z)`, `dX = dZ·W`, `dW = dZᵀ·X` (already `(out, in)`),
    /// `db` = column sums of `dZ`; each only for an input that needs it.
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dz = if self.act == Act::Identity {
            dy
        } else {
            let z = self.z.lock().map_err(|_| candle_core::Error::Msg("linear: poisoned lock".into()))?;
            match z.as_ref() {
                Some(z) => dy.apply_op2_no_bwd(z, &ActGrad(self.act))?,
                None => candle_core::bail!("linear: backward without a saved pre-activation"),
            }
        };
        let p = self.precision;
        let dx = if x.track_op() { Some(dz.apply_op2_no_bwd(w, &LinearGrad::Input(p))?) } else { None }; // (b, out)·(out, in)
        let dw = if w.track_op() { Some(dz.apply_op2_no_bwd(&x.contiguous()?, &LinearGrad::Weight(p))?) } else { None }; // (out, b)·(b, in)
        let db = match bias {
            Some(b) if b.track_op() && b.rank() == 1 => Some(dz.apply_op1_no_bwd(&ColumnSums)?),
            Some(b) if b.track_op() => Some(dz.clone()), // a (b, out) shift: its gradient is dZ
            _ => None,
        };
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for LinearOp {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        self.forward((s1, l1), (s2, l2), None)
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.backward(x, w, None, dy)?;
        Ok((dx, dw))
    }
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "linear-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.forward((s1, l1), (s2, l2), Some((s3, l3)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _y: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        self.backward(x, w, Some(b), dy)
    }
}

#[cfg(test)]
mod tests;
