//! Evaluation on val and test through the image-only path (test rows have no text, DESIGN §3):
//! images with the model's normal preprocessing → backbone (fused kernels, [`inference`]) →
//! heads' logits per mode
//! ([`FinetuneHeads::eval_logits`](super::heads_model::FinetuneHeads::eval_logits)). Metrics are
//! those of `marnet-heads train` (`crate::train::metrics`: top-1/top-5 in percent).

use super::nets::layers::inference;
use super::session::Session;
use crate::train::metrics::topk;
use crate::train::Mode;
use anyhow::{bail, Result};
use candle_core::Tensor;

/// Backbone features `(rows, D)` f32 (detached) of `rows`, `eval_batch` images at a time.
pub fn embed_rows(s: &Session, rows: &[u32]) -> Result<Tensor> {
    if rows.is_empty() {
        bail!("no rows to evaluate");
    }
    let mut parts = Vec::new();
    for chunk in rows.chunks(s.opts.eval_batch) {
        let paths: Vec<_> = chunk.iter().map(|&r| &s.rows.paths[r as usize]).collect();
        let pixels = s.loader.eval_batch(&paths, &s.opts.device)?;
        parts.push(inference(|| s.image.encoder.embed(&pixels))?.detach());
    }
    Ok(Tensor::cat(&parts, 0)?)
}

/// Logits `(rows, K)` of every mode, in table order.
pub type ModeLogits = Vec<(Mode, Tensor)>;

/// Logits `(rows, K)` per mode for `rows`.
pub fn logits_of(s: &Session, rows: &[u32]) -> Result<ModeLogits> {
    let x_v = embed_rows(s, rows)?;
    s.heads.eval_logits(&x_v, &s.opts.cfg, s.opts.cfg.run.seed)
}

/// Val top-1 (percent) per mode, and the val logits per mode.
pub fn val_top1(s: &Session) -> Result<(Vec<(Mode, f64)>, ModeLogits)> {
    let f = &s.rows.features;
    let labels = f.labels_of(&f.val);
    let logits = logits_of(s, &f.val)?;
    let tops = logits
        .iter()
        .map(|(m, l)| Ok((*m, topk(&l.flatten_all()?.to_vec1::<f32>()?, f.num_classes(), &labels, 1))))
        .collect::<Result<Vec<_>>>()?;
    Ok((tops, logits))
}
