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
//!   (about 0.3 ms for 1024 × 1024), then `x · Wᵀ` with both operands row-major, by the same
//!   `gemm` call candle makes (no copies of `x` or `y`);
//! - backward: `dX = dY · W` (row-major) and `dW = dYᵀ · X`, which comes out `(out, in)`
//!   contiguous; `dX` is skipped when `x` does not need a gradient (the heads' first layers read
//!   the cached features).
//!
//! Other devices and dtypes use the plain `x.matmul(&W.t())`.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Module, Result, Shape, Tensor};

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
}

impl Module for Linear {
    /// `x` `(batch, in)` → `(batch, out)`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let fused = x.device().is_cpu() && x.rank() == 2 && x.dtype() == DType::F32 && self.weight.dtype() == DType::F32;
        let y = if fused {
            x.contiguous()?.apply_op2(&self.weight.contiguous()?, XWt)?
        } else {
            x.matmul(&self.weight.t()?)?
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// `x` `(b, in)` · `Wᵀ`, `W` `(out, in)`, both contiguous f32 on the CPU.
struct XWt;

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&s.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("linear: expected a contiguous input"),
    }
}

impl CustomOp2 for XWt {
    fn name(&self) -> &'static str {
        "linear-x-wt"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, d_in) = l1.shape().dims2()?;
        let (d_out, w_in) = l2.shape().dims2()?;
        if d_in != w_in {
            candle_core::bail!("linear: input has {d_in} features, the weight expects {w_in}");
        }
        let x = contiguous_f32(s1, l1)?;
        let w = contiguous_f32(s2, l2)?;
        let mut w_t = vec![0f32; d_in * d_out];
        transpose::transpose(w, &mut w_t, d_in, d_out); // (out, in) -> (in, out)
        let mut y = vec![0f32; b * d_out]; // (b, out)
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
        // SAFETY: x is b×in, w_t in×out and y b×out, all row-major (column stride 1, row stride
        // = width) and exactly that long, so every index gemm forms is in bounds; y does not alias
        // the inputs. beta = 1, read_dst = false: y = x · w_t (as candle's own CPU matmul calls it).
        unsafe {
            gemm::gemm(
                b, d_out, d_in,
                y.as_mut_ptr(), 1, d_out as isize, false,
                x.as_ptr(), 1, d_in as isize,
                w_t.as_ptr(), 1, d_out as isize,
                0f32, 1f32, false, false, false, parallelism,
            );
        }
        Ok((CpuStorage::F32(y), Shape::from((b, d_out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, _y: &Tensor, dy: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx = if x.track_op() { Some(dy.matmul(w)?) } else { None }; // (b, out)·(out, in)
        let dw = if w.track_op() { Some(dy.t()?.matmul(x)?) } else { None }; // (out, b)·(b, in)
        Ok((dx, dw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

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
        let max_diff = |a: &Tensor, b: &Tensor| -> Result<f32> { (a - b)?.abs()?.flatten_all()?.max(0)?.to_scalar::<f32>() };
        assert!(max_diff(&ours, &reference)? < 1e-5);
        let g_ours = ours.sqr()?.sum_all()?.backward()?;
        let g_ref = reference.sqr()?.sum_all()?.backward()?;
        for v in [&w, &x] {
            let (a, b) = (g_ours.get(v.as_tensor()).expect("ours"), g_ref.get(v.as_tensor()).expect("reference"));
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
}
