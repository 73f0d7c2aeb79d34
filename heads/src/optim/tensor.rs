//! The AdamW update with candle tensor ops, for variables the fused CPU kernel does not take:
//! on an accelerator, or stored in bf16/f16 (updated through an f32 master copy). The ops are
//! `candle_nn::AdamW`'s, in its order, so an f32 variable gets candle_nn's result bit for bit.

use anyhow::Result;
use candle_core::{DType, Tensor, Var};

use super::Hyper;

/// Updates `var`, its f32 moments `m`, `v` and its f32 `master` copy (when the variable is not
/// f32) with the gradient `g` at learning rate `lr` and decoupled weight decay `weight_decay`.
///
/// # Errors
/// candle errors (shape or device mismatch).
#[allow(clippy::too_many_arguments)] // the variable, its three state tensors and the step's constants
pub(crate) fn update(
    var: &Var,
    g: &Tensor,
    m: &mut Tensor,
    v: &mut Tensor,
    master: &mut Option<Tensor>,
    h: &Hyper,
    lr: f64,
    weight_decay: f64,
) -> Result<()> {
    let g = g.to_dtype(DType::F32)?;
    let next_m = ((&*m * h.beta1)? + (&g * (1.0 - h.beta1))?)?;
    let next_v = ((&*v * h.beta2)? + (g.sqr()? * (1.0 - h.beta2))?)?;
    let m_hat = (&next_m * h.scale_m)?;
    let v_hat = (&next_v * h.scale_v)?;
    let theta = match master {
        Some(w) => w.clone(),
        None => var.as_tensor().detach(),
    };
    let decayed = (theta * (1.0 - lr * weight_decay))?;
    let adjusted = (m_hat / (v_hat.sqrt()? + h.eps)?)?;
    let next = (decayed - (adjusted * lr)?)?;
    *m = next_m;
    *v = next_v;
    match master {
        Some(w) => {
            var.set(&next.to_dtype(var.dtype())?)?;
            *w = next;
        }
        None => var.set(&next)?,
    }
    Ok(())
}
