//! Pooling of `last_hidden_state` `(batch, seq, hidden)` into one vector per sample
//! (DESIGN.md section 5): `cls` takes token 0; `mean` averages the image patch tokens (token 0
//! excluded; SigLIP has no class token, so all of them) or, for text, the tokens whose attention
//! mask is 1 (sentence-transformers' `pooling_mode_mean_tokens`); `cls_mean` (DINOv2) is the
//! class token and the patch mean side by side. Which poolings an image architecture offers and
//! what its `cls` default means: [`resolve_pooling`].

use anyhow::{bail, Result};
use candle_core::{DType, IndexOp, Tensor, D};
use std::fmt;
use std::str::FromStr;

/// How token states become one feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// The first token (`[CLS]`, ViT class token after the final LayerNorm). For CLIP it stands
    /// for [`CLIP_CLS_DEFAULT`] and is resolved by [`resolve_image_pooling`].
    #[default]
    Cls,
    /// Mean over patch tokens (images) or over unmasked tokens (text).
    Mean,
    /// CLIP only: HF `pooler_output` = `post_layernorm(last_hidden_state[:, 0])`, before
    /// `visual_projection` (`hidden_size`, 768 for ViT-B/16): the feature of CLIP's own
    /// linear-probe results (Radford et al. 2021, appendix A.3).
    PoolerOutput,
    /// CLIP only: HF `image_embeds` = `visual_projection(pooler_output)` (`projection_dim`, 512
    /// for ViT-B/16), the contrastive embedding.
    ImageEmbeds,
    /// DINOv2 only: `[last_hidden_state[:, 0] | mean of last_hidden_state[:, 1:]]`
    /// (`2·hidden_size`), the feature of DINOv2's own linear evaluation (Oquab et al. 2023).
    ClsMean,
}

/// The image architectures, as far as pooling is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFamily {
    /// `vit`: `cls`, `mean`.
    Vit,
    /// `clip_vision_model` / `clip`: `cls` (= `pooler_output`), `mean`, `pooler_output`,
    /// `image_embeds`.
    Clip,
    /// `dinov2`: `cls` (= HF `pooler_output`; that name is accepted and recorded as `cls`),
    /// `mean`, `cls_mean`.
    Dinov2,
    /// `siglip_vision_model` / `siglip`: `cls` (= `pooler_output`, the attention-pooling head,
    /// or `mean` when the config has `vision_use_head: false`), `pooler_output`, `mean`.
    Siglip {
        /// Whether the checkpoint has the attention-pooling `head`.
        head: bool,
    },
}

impl ImageFamily {
    /// Name in error messages.
    fn name(self) -> &'static str {
        match self {
            ImageFamily::Vit => "vit",
            ImageFamily::Clip => "clip",
            ImageFamily::Dinov2 => "dinov2",
            ImageFamily::Siglip { .. } => "siglip",
        }
    }
}

/// What `cls` (the default) means for CLIP image models (chosen by the 3-seed val top-1 of
/// `probe` and `fusion` on the demo; docs/extraction.md "Encoders").
pub const CLIP_CLS_DEFAULT: Pooling = Pooling::PoolerOutput;

impl Pooling {
    /// `"cls"`, `"mean"`, `"pooler_output"` or `"image_embeds"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
            Pooling::PoolerOutput => "pooler_output",
            Pooling::ImageEmbeds => "image_embeds",
            Pooling::ClsMean => "cls_mean",
        }
    }
}

/// The image pooling an encoder runs: `requested` (default `cls`) with `cls` resolved to
/// [`CLIP_CLS_DEFAULT`] for CLIP, so that a cache records what its `x_v` really is.
///
/// # Errors
/// `pooler_output` or `image_embeds` for a model that is not CLIP.
pub fn resolve_image_pooling(requested: Option<Pooling>, clip: bool) -> Result<Pooling> {
    resolve_pooling(requested, if clip { ImageFamily::Clip } else { ImageFamily::Vit })
}

/// The pooling an image encoder of `family` runs: `requested` (default `cls`) with `cls`
/// resolved to what it means for the family (CLIP: [`CLIP_CLS_DEFAULT`]; SigLIP:
/// `pooler_output`, or `mean` without a head) and DINOv2's `pooler_output` recorded as the `cls`
/// it is, so that a cache records what its `x_v` really is.
///
/// # Errors
/// A pooling the family does not have, naming the ones it has.
pub fn resolve_pooling(requested: Option<Pooling>, family: ImageFamily) -> Result<Pooling> {
    use ImageFamily::*;
    use Pooling::*;
    let p = requested.unwrap_or_default();
    let (resolved, offered) = match (family, p) {
        (Clip, Cls) => (Some(CLIP_CLS_DEFAULT), "cls, mean, pooler_output, image_embeds"),
        (Clip, Mean | PoolerOutput | ImageEmbeds) => (Some(p), ""),
        (Vit, Cls | Mean) => (Some(p), ""),
        (Dinov2, Cls | PoolerOutput) => (Some(Cls), ""),
        (Dinov2, Mean | ClsMean) => (Some(p), ""),
        (Siglip { head: true }, Cls | PoolerOutput) => (Some(PoolerOutput), ""),
        (Siglip { head: false }, Cls) => (Some(Mean), ""),
        (Siglip { .. }, Mean) => (Some(Mean), ""),
        (Vit, _) => (None, "cls, mean"),
        (Clip, ClsMean) => (None, "cls, mean, pooler_output, image_embeds"),
        (Dinov2, _) => (None, "cls, mean, cls_mean"),
        (Siglip { head: true }, _) => (None, "cls (= pooler_output), mean"),
        (Siglip { head: false }, _) => (None, "mean (the config has vision_use_head: false)"),
    };
    match resolved {
        Some(r) => Ok(r),
        None => bail!("image pooling {p} is not available for {} models (available: {offered})", family.name()),
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Pooling {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cls" => Ok(Pooling::Cls),
            "mean" => Ok(Pooling::Mean),
            "pooler_output" | "pooler" => Ok(Pooling::PoolerOutput),
            "image_embeds" | "projected" => Ok(Pooling::ImageEmbeds),
            "cls_mean" | "cls+mean" => Ok(Pooling::ClsMean),
            other => bail!("unknown pooling {other:?}: expected cls, mean, pooler_output, image_embeds or cls_mean"),
        }
    }
}

/// Token 0 of `(batch, seq, hidden)` → `(batch, hidden)`.
pub fn cls(hidden: &Tensor) -> candle_core::Result<Tensor> {
    hidden.i((.., 0, ..))
}

/// Mean of tokens `1..seq` (image patch tokens) → `(batch, hidden)`, accumulated in f32.
pub fn mean_patches(hidden: &Tensor) -> candle_core::Result<Tensor> {
    let seq = hidden.dim(1)?;
    hidden.i((.., 1..seq, ..))?.to_dtype(DType::F32)?.mean(1)
}

/// Mean of all tokens of `(batch, seq, hidden)` → `(batch, hidden)` f32 (SigLIP, which has no
/// class token).
pub fn mean_all(hidden: &Tensor) -> candle_core::Result<Tensor> {
    hidden.to_dtype(DType::F32)?.mean(1)
}

/// `[token 0 | mean of tokens 1..seq]` of `(batch, seq, hidden)` → `(batch, 2·hidden)` f32.
pub fn cls_mean(hidden: &Tensor) -> candle_core::Result<Tensor> {
    let c = cls(hidden)?.to_dtype(DType::F32)?;
    Tensor::cat(&[c, mean_patches(hidden)?], 1)
}

/// Masked mean over tokens: `sum(h * m) / max(sum(m), 1e-9)` with `mask` `(batch, seq)` of
/// 0/1 (any dtype) → `(batch, hidden)` f32, as sentence-transformers computes it.
pub fn masked_mean(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let h = hidden.to_dtype(DType::F32)?;
    let m = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
    let summed = h.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    summed.broadcast_div(&counts)
}

/// Row-wise L2 normalisation `x / max(||x||, 1e-12)` of `(batch, dim)` (torch
/// `F.normalize`, used by the sentence-transformers `Normalize` module).
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn masked_mean_ignores_padding() {
        // Row 0: tokens [1,2] and [3,4] kept, [100,100] masked -> mean [2, 3].
        let h = Tensor::new(&[[[1f32, 2.], [3., 4.], [100., 100.]]], &Device::Cpu).unwrap();
        let m = Tensor::new(&[[1u32, 1, 0]], &Device::Cpu).unwrap();
        assert_eq!(masked_mean(&h, &m).unwrap().to_vec2::<f32>().unwrap(), vec![vec![2., 3.]]);
        // Patch mean skips token 0: ([3,4] + [100,100]) / 2 = [51.5, 52].
        assert_eq!(mean_patches(&h).unwrap().to_vec2::<f32>().unwrap(), vec![vec![51.5, 52.]]);
        // All tokens: ([1,2] + [3,4] + [100,100]) / 3 = [104/3, 106/3]; cls_mean = [1, 2, 51.5, 52].
        let all = mean_all(&h).unwrap().to_vec2::<f32>().unwrap();
        assert!((all[0][0] - 104.0 / 3.0).abs() < 1e-5 && (all[0][1] - 106.0 / 3.0).abs() < 1e-5);
        assert_eq!(cls_mean(&h).unwrap().to_vec2::<f32>().unwrap(), vec![vec![1., 2., 51.5, 52.]]);
    }

    #[test]
    fn what_cls_means_per_family_and_refusals() {
        use ImageFamily::*;
        let r = |p, f| resolve_pooling(p, f).map_err(|e| e.to_string());
        assert_eq!(r(None, Clip), Ok(Pooling::PoolerOutput));
        assert_eq!(r(None, Dinov2), Ok(Pooling::Cls));
        assert_eq!(r(Some(Pooling::PoolerOutput), Dinov2), Ok(Pooling::Cls));
        assert_eq!(r(Some(Pooling::ClsMean), Dinov2), Ok(Pooling::ClsMean));
        assert_eq!(r(None, Siglip { head: true }), Ok(Pooling::PoolerOutput));
        assert_eq!(r(None, Siglip { head: false }), Ok(Pooling::Mean));
        let err = r(Some(Pooling::ClsMean), Siglip { head: true }).unwrap_err();
        assert!(err.contains("cls_mean is not available for siglip"), "{err}");
        let err = r(Some(Pooling::ImageEmbeds), Dinov2).unwrap_err();
        assert!(err.contains("available: cls, mean, cls_mean"), "{err}");
        assert!(r(Some(Pooling::PoolerOutput), Vit).is_err());
        assert_eq!("cls_mean".parse::<Pooling>().unwrap(), Pooling::ClsMean);
    }

    #[test]
    fn l2_of_3_4_is_0_6_0_8() {
        let x = Tensor::new(&[[3f32, 4.]], &Device::Cpu).unwrap();
        let y = l2_normalize(&x).unwrap().to_vec2::<f32>().unwrap();
        assert!((y[0][0] - 0.6).abs() < 1e-7 && (y[0][1] - 0.8).abs() < 1e-7);
        assert_eq!("MEAN".parse::<Pooling>().unwrap(), Pooling::Mean);
        assert!("max".parse::<Pooling>().is_err());
    }
}
