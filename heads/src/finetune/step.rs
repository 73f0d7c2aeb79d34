//! One optimiser step: a group of `batch_size · accum_steps` train rows split into micro-batches;
//! per micro-batch the augmented images go through the backbone, the heads' loss is weighted by
//! the micro-batch's share of the rows and back-propagated, and the gradients are summed
//! ([`GradAccumulator`]); then one AdamW update with the learning-rate factor of the schedule
//! (linear warmup over `warmup·total` steps, cosine decay to 0 at `total`; the heads' `lr_at`).
//!
//! All randomness of step `s` derives from `(seed, s)`: the epoch's row order from
//! `(seed, epoch)`, the augmentation and the diffusion noise of micro-batch `j` from
//! `(seed, s, j)`. A run resumed at step `s` therefore continues exactly as if it had not stopped.

use super::session::Session;
use crate::nn::rng::HostRng;
use crate::optim::GradAccumulator;
use crate::train::trainer::lr_at;
use anyhow::{bail, Result};
use candle_core::{Tensor, Var};

/// Stream of the epoch shuffles.
const SHUFFLE_STREAM: u64 = 0xF17E_0000_0000;
/// Base stream of the per-micro-batch RNGs.
const STEP_STREAM: u64 = 0xF17E_1000_0000_0000;

/// Train rows in the order of `epoch` (0-based): a seeded shuffle.
pub fn epoch_order(rows: &[u32], seed: u64, epoch: u64) -> Vec<u32> {
    let mut order = rows.to_vec();
    HostRng::new(seed, SHUFFLE_STREAM ^ epoch).shuffle(&mut order);
    order
}

/// RNG of micro-batch `micro` of step `step` for `purpose` (1 = augmentation, 2 = noise/dropout).
pub fn step_rng(seed: u64, step: u64, micro: usize, purpose: u64) -> HostRng {
    HostRng::new(seed, STEP_STREAM ^ (step << 12) ^ ((micro as u64) << 4) ^ purpose)
}

/// Runs step `step` (0-based); returns the mean training loss of its rows.
/// Errors on a non-finite loss (naming the step) or unreadable images.
pub fn train_step(s: &mut Session, step: u64) -> Result<f64> {
    let spe = s.steps_per_epoch();
    let (epoch, pos) = (step / spe, (step % spe) as usize);
    let per_step = s.opts.batch_size * s.opts.accum_steps;
    let rows = s.rows.train_rows();
    let order = epoch_order(rows, s.opts.cfg.run.seed, epoch);
    let group: Vec<u32> = order[pos * per_step..((pos + 1) * per_step).min(order.len())].to_vec();
    let vars: Vec<Var> = s.params.iter().map(|(_, v)| v.clone()).collect();
    let dev = s.opts.device.clone();
    let f = &s.rows.features;
    let mut acc = GradAccumulator::new();
    let mut loss_sum = 0f64;
    for (j, micro) in group.chunks(s.opts.batch_size).enumerate() {
        let paths: Vec<_> = micro.iter().map(|&r| &s.rows.paths[r as usize]).collect();
        let pixels = s.loader.train_batch(&paths, &mut step_rng(s.opts.cfg.run.seed, step, j, 1), &dev)?;
        let mut x_v = s.image.encoder.embed(&pixels)?;
        if !s.opts.train_image_backbone {
            x_v = x_v.detach();
        }
        let idx = Tensor::from_slice(micro, micro.len(), &dev)?;
        let labels = f.labels_t.index_select(&idx, 0)?;
        let x_s = if !s.rows.with_text {
            None
        } else if s.text.is_some() {
            let texts: Vec<&str> = micro.iter().map(|&r| s.rows.texts[r as usize].as_deref().unwrap_or("")).collect();
            s.text_features(&texts)?
        } else {
            Some(f.x_s.index_select(&idx, 0)?)
        };
        let loss =
            s.heads.loss(&x_v, x_s.as_ref(), &labels, &s.opts.cfg, &mut step_rng(s.opts.cfg.run.seed, step, j, 2))?;
        let w = micro.len() as f64 / group.len() as f64;
        let grads = (&loss * w)?.backward()?;
        acc.add(&grads, &vars)?;
        let l = loss.to_dtype(candle_core::DType::F32)?.to_scalar::<f32>()? as f64;
        if !l.is_finite() {
            bail!("training loss became {l} at step {} (micro-batch {j}); lower --backbone-lr or lr", step + 1);
        }
        loss_sum += l * w;
    }
    let factor = lr_at(step as usize, s.total_steps() as usize, s.opts.cfg.budget.warmup, 1.0);
    s.optimizer.set_learning_rates(|peak| peak * factor);
    s.optimizer.step(&acc)?;
    Ok(loss_sum)
}
