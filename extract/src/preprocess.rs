//! Image preprocessing from `preprocessor_config.json` (DESIGN.md section 5), following
//! transformers 4.46 `ViTImageProcessor` / `CLIPImageProcessor` / `BitImageProcessor` (DINOv2) /
//! `SiglipImageProcessor` ([`Style`]): optional resize (ViT, SigLIP: straight to
//! `size.height × size.width`; CLIP, Bit: `size.shortest_edge`, long side `int(s * long / short)`) with
//! Pillow's resampler (ported in [`resample`]), optional centre crop (`top = (h - ch) / 2`),
//! rescale `(u8 as f64 * rescale_factor) as f32` and `(x - mean) / std` in f32, CHW layout.

pub mod resample;

use crate::image_io;
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use image::{DynamicImage, RgbImage};
use resample::Filter;
use serde_json::{json, Value};
use std::path::Path;

/// How the image is resized before any crop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Resize {
    /// Straight to (height, width), aspect ratio not kept (ViT).
    Exact { height: u32, width: u32 },
    /// Shorter side to `edge`, the longer scaled by `int(edge * long / short)` (CLIP).
    ShortestEdge { edge: u32 },
    /// No resize.
    None,
}

/// Whose defaults fill the keys a `preprocessor_config.json` leaves out (and, without the
/// file, all of them). The file's `image_processor_type` wins over the model's style:
/// `CLIPImageProcessor` and `BitImageProcessor` (whose defaults are CLIP's) → [`Style::Clip`],
/// `SiglipImageProcessor` → [`Style::Siglip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `ViTImageProcessor`: exact resize, bilinear, no crop, mean = std = 0.5.
    Vit,
    /// `CLIPImageProcessor` / `BitImageProcessor`: shortest edge, bicubic, centre crop, CLIP mean/std.
    Clip,
    /// `SiglipImageProcessor`: exact resize (a squash), bicubic, never a crop, mean = std = 0.5.
    Siglip,
    /// A `dinov2` model without a `preprocessor_config.json`: the hub checkpoints' file
    /// (`BitImageProcessor`, shortest edge 256, bicubic, centre crop 224, ImageNet mean/std).
    Dinov2,
}

/// A preprocessor for one image model; cheap to clone, `Send + Sync`.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessor {
    /// Resize step.
    pub resize: Resize,
    /// Pillow filter used for the resize.
    pub filter: Filter,
    /// Centre crop `(height, width)`, if any.
    pub crop: Option<(u32, u32)>,
    /// Rescale factor applied to u8 values (usually 1/255); 1.0 when `do_rescale` is false.
    pub rescale: f64,
    /// Per-channel mean and std (RGB); `None` when `do_normalize` is false.
    pub mean_std: Option<([f32; 3], [f32; 3])>,
}

/// ImageNet-standard mean/std of transformers (`IMAGENET_STANDARD_MEAN`), used by ViT.
pub const STANDARD_MEAN_STD: ([f32; 3], [f32; 3]) = ([0.5; 3], [0.5; 3]);
/// `IMAGENET_DEFAULT_MEAN` / `IMAGENET_DEFAULT_STD` of transformers (DINOv2's processor).
pub const IMAGENET_MEAN_STD: ([f32; 3], [f32; 3]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
/// `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` of transformers (digits as written there).
#[allow(clippy::excessive_precision)]
pub const CLIP_MEAN_STD: ([f32; 3], [f32; 3]) =
    ([0.481_454_66, 0.457_827_5, 0.408_210_73], [0.268_629_54, 0.261_302_58, 0.275_777_11]);

impl Preprocessor {
    /// transformers' `ViTImageProcessor` defaults for a `size × size` model.
    pub fn vit_default(size: u32) -> Self {
        Preprocessor {
            resize: Resize::Exact { height: size, width: size },
            filter: Filter::Bilinear,
            crop: None,
            rescale: 1.0 / 255.0,
            mean_std: Some(STANDARD_MEAN_STD),
        }
    }

    /// transformers' `CLIPImageProcessor` defaults for a `size × size` model.
    pub fn clip_default(size: u32) -> Self {
        Preprocessor {
            resize: Resize::ShortestEdge { edge: size },
            filter: Filter::Bicubic,
            crop: Some((size, size)),
            rescale: 1.0 / 255.0,
            mean_std: Some(CLIP_MEAN_STD),
        }
    }

    /// transformers' `SiglipImageProcessor` defaults for a `size × size` model.
    pub fn siglip_default(size: u32) -> Self {
        Preprocessor { filter: Filter::Bicubic, ..Self::vit_default(size) }
    }

    /// The `preprocessor_config.json` of the hub's `facebook/dinov2-*` checkpoints.
    pub fn dinov2_default() -> Self {
        Preprocessor {
            resize: Resize::ShortestEdge { edge: 256 },
            filter: Filter::Bicubic,
            crop: Some((224, 224)),
            rescale: 1.0 / 255.0,
            mean_std: Some(IMAGENET_MEAN_STD),
        }
    }

    /// The defaults of `style` for a `size × size` model.
    pub fn defaults(style: Style, size: u32) -> Self {
        match style {
            Style::Vit => Self::vit_default(size),
            Style::Clip => Self::clip_default(size),
            Style::Siglip => Self::siglip_default(size),
            Style::Dinov2 => Self::dinov2_default(),
        }
    }

    /// Reads `preprocessor_config.json`; `clip_style` picks the defaults for missing keys
    /// (CLIP: shortest edge + bicubic + crop; otherwise ViT). Errors name the file and key.
    pub fn from_json_file(path: &Path, clip_style: bool, image_size: u32) -> Result<Self> {
        Self::from_json_file_styled(path, if clip_style { Style::Clip } else { Style::Vit }, image_size)
    }

    /// Reads `preprocessor_config.json` with `style`'s defaults for missing keys (overridden by
    /// the file's `image_processor_type`, [`Style`]). Errors name the file and key.
    pub fn from_json_file_styled(path: &Path, style: Style, image_size: u32) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let v: Value = serde_json::from_str(&text).with_context(|| format!("parsing {} as JSON", path.display()))?;
        Self::from_json_styled(&v, style, image_size).with_context(|| format!("in {}", path.display()))
    }

    /// Like [`Preprocessor::from_json_file`] on a parsed value.
    pub fn from_json(v: &Value, clip_style: bool, image_size: u32) -> Result<Self> {
        Self::from_json_styled(v, if clip_style { Style::Clip } else { Style::Vit }, image_size)
    }

    /// Like [`Preprocessor::from_json_file_styled`] on a parsed value.
    pub fn from_json_styled(v: &Value, style: Style, image_size: u32) -> Result<Self> {
        let kind = v
            .get("image_processor_type")
            .or_else(|| v.get("feature_extractor_type"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let style = match kind {
            k if k.starts_with("CLIP") || k.starts_with("Bit") => Style::Clip,
            k if k.starts_with("Siglip") => Style::Siglip,
            _ => style,
        };
        let clip_style = matches!(style, Style::Clip | Style::Dinov2);
        let mut p = Self::defaults(style, image_size);
        let flag = |key: &str, default: bool| v.get(key).and_then(Value::as_bool).unwrap_or(default);
        if !flag("do_resize", true) {
            p.resize = Resize::None;
        } else if let Some(size) = v.get("size") {
            p.resize = parse_size(size, !clip_style).context("key \"size\"")?;
        }
        if let Some(r) = v.get("resample").filter(|r| !r.is_null()) {
            let code = r.as_u64().context("key \"resample\": expected a PIL filter integer 0-5")?;
            p.filter =
                Filter::from_pil(code).with_context(|| format!("key \"resample\": unknown PIL filter {code}"))?;
        }
        if style == Style::Siglip || !flag("do_center_crop", clip_style) {
            p.crop = None;
        } else if let Some(c) = v.get("crop_size").filter(|c| !c.is_null()) {
            p.crop = match parse_size(c, true).context("key \"crop_size\"")? {
                Resize::Exact { height, width } => Some((height, width)),
                _ => bail!("key \"crop_size\": expected height and width"),
            };
        }
        p.rescale = if flag("do_rescale", true) {
            v.get("rescale_factor").and_then(Value::as_f64).unwrap_or(1.0 / 255.0)
        } else {
            1.0
        };
        if !flag("do_normalize", true) {
            p.mean_std = None;
        } else {
            let (dm, ds) = p.mean_std.unwrap_or(STANDARD_MEAN_STD);
            let mean = triple(v.get("image_mean"), dm).context("key \"image_mean\"")?;
            let std = triple(v.get("image_std"), ds).context("key \"image_std\"")?;
            p.mean_std = Some((mean, std));
        }
        Ok(p)
    }

    /// Output `(height, width)`, when it does not depend on the input (crop or exact resize).
    pub fn output_size(&self) -> Option<(u32, u32)> {
        match (self.crop, self.resize) {
            (Some(c), _) => Some(c),
            (None, Resize::Exact { height, width }) => Some((height, width)),
            _ => None,
        }
    }

    /// JSON description for the cache metadata: size, resize, resample, crop, rescale, mean, std,
    /// and `"exif_orientation": "applied"` ([`image_io::EXIF_ORIENTATION`]: images are turned
    /// upright before preprocessing; caches without the key predate it and are refused
    /// on resume).
    pub fn describe(&self) -> Value {
        let resize = match self.resize {
            Resize::Exact { height, width } => json!({"mode": "exact", "height": height, "width": width}),
            Resize::ShortestEdge { edge } => json!({"mode": "shortest_edge", "edge": edge}),
            Resize::None => json!({"mode": "none"}),
        };
        let mut description = json!({
            "size": self.output_size().map(|(h, w)| vec![h, w]),
            "resize": resize,
            "resample": self.filter.name(),
            "crop": self.crop.map(|(h, w)| vec![h, w]),
            "rescale": self.rescale,
            "mean": self.mean_std.map(|m| m.0.to_vec()),
            "std": self.mean_std.map(|m| m.1.to_vec()),
        });
        description[marnet_data::cache::EXIF_ORIENTATION_KEY] = json!(image_io::EXIF_ORIENTATION);
        description
    }

    /// Decodes and preprocesses one file: `(3, H, W)` f32, CHW order. Errors name the file.
    pub fn load(&self, path: &Path) -> Result<Vec<f32>> {
        Ok(self.process_rgb(&image_io::decode_rgb(path)?))
    }

    /// Decodes and preprocesses encoded image bytes (a Parquet cell, a tar member; `name`
    /// says where they came from, for errors): `(3, H, W)` f32, CHW order, equal to
    /// [`Preprocessor::load`] of a file holding the same bytes.
    pub fn load_bytes(&self, bytes: &[u8], name: &str) -> Result<Vec<f32>> {
        Ok(self.process_rgb(&image_io::decode_rgb_bytes(bytes, name)?))
    }

    /// Preprocesses a decoded image (alpha composited on white first): `(3, H, W)` f32.
    pub fn from_image(&self, img: DynamicImage) -> Vec<f32> {
        self.process_rgb(&image_io::to_rgb(img))
    }

    /// Resize + crop only, the u8 image the model sees before rescale/normalise.
    pub fn resize_and_crop(&self, img: &RgbImage) -> RgbImage {
        let (w, h) = img.dimensions();
        let resized = match self.resize {
            Resize::Exact { height, width } => resample::resize(img, width, height, self.filter),
            Resize::ShortestEdge { edge } => {
                let (short, long) = if w <= h { (w, h) } else { (h, w) };
                let new_long = (edge as f64 * long as f64 / short.max(1) as f64) as u32;
                let (nw, nh) = if w <= h { (edge, new_long) } else { (new_long, edge) };
                resample::resize(img, nw, nh, self.filter)
            }
            Resize::None => img.clone(),
        };
        match self.crop {
            Some((ch, cw)) => center_crop(&resized, ch, cw),
            None => resized,
        }
    }

    /// Full pipeline on an RGB image: `(3, H, W)` f32.
    pub fn process_rgb(&self, img: &RgbImage) -> Vec<f32> {
        let img = self.resize_and_crop(img);
        let (w, h) = img.dimensions();
        let plane = (w * h) as usize;
        let mut out = vec![0f32; 3 * plane];
        let (mean, std) = self.mean_std.unwrap_or(([0.0; 3], [1.0; 3]));
        for (i, p) in img.pixels().enumerate() {
            for c in 0..3 {
                let x = (p.0[c] as f64 * self.rescale) as f32;
                out[c * plane + i] = (x - mean[c]) / std[c];
            }
        }
        out
    }

    /// Stacks preprocessed images into `(B, 3, H, W)` f32 on `device`. All items must have the
    /// same size (`3 * H * W` values) and `(H, W)` must be known ([`Preprocessor::output_size`]).
    pub fn batch(&self, items: &[Vec<f32>], device: &Device) -> Result<Tensor> {
        let (h, w) = self.output_size().context(
            "preprocessor output size varies with the input (shortest-edge resize without crop): cannot batch",
        )?;
        let n = 3 * (h * w) as usize;
        if let Some(bad) = items.iter().position(|v| v.len() != n) {
            bail!("item {bad} has {} values, expected 3*{h}*{w} = {n}", items[bad].len());
        }
        let flat: Vec<f32> = items.concat();
        Ok(Tensor::from_vec(flat, (items.len(), 3, h as usize, w as usize), device)?)
    }
}

/// `size` / `crop_size` in any of transformers' forms: int, `{"height","width"}`,
/// `{"shortest_edge"}`. An int means a square when `int_is_square`, else the shortest edge.
fn parse_size(v: &Value, int_is_square: bool) -> Result<Resize> {
    if let Some(n) = v.as_u64() {
        let n = n as u32;
        return Ok(if int_is_square {
            Resize::Exact { height: n, width: n }
        } else {
            Resize::ShortestEdge { edge: n }
        });
    }
    let get = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as u32);
    match (get("height"), get("width"), get("shortest_edge")) {
        (Some(height), Some(width), _) => Ok(Resize::Exact { height, width }),
        (_, _, Some(edge)) => Ok(Resize::ShortestEdge { edge }),
        _ => bail!("expected an integer, {{\"height\", \"width\"}} or {{\"shortest_edge\"}}, got {v}"),
    }
}

fn triple(v: Option<&Value>, default: [f32; 3]) -> Result<[f32; 3]> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
        Some(Value::Array(a)) if a.len() == 3 => {
            let mut out = [0f32; 3];
            for (o, x) in out.iter_mut().zip(a) {
                *o = x.as_f64().with_context(|| format!("expected numbers, got {x}"))? as f32;
            }
            Ok(out)
        }
        Some(other) => bail!("expected a number or 3 numbers, got {other}"),
    }
}

/// transformers' `center_crop`: `top = (h - ch) / 2`, `left = (w - cw) / 2` (integer division);
/// a side smaller than the crop is zero-padded symmetrically first, as transformers does.
fn center_crop(img: &RgbImage, ch: u32, cw: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (pw, ph) = (w.max(cw), h.max(ch));
    let (ox, oy) = ((pw - w) / 2, (ph - h) / 2);
    let (left, top) = ((pw - cw) / 2, (ph - ch) / 2);
    RgbImage::from_fn(cw, ch, |x, y| {
        let (px, py) = (x + left, y + top);
        if px >= ox && py >= oy && px - ox < w && py - oy < h {
            *img.get_pixel(px - ox, py - oy)
        } else {
            image::Rgb([0, 0, 0])
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_128_with_half_mean_std() {
        // (128/255 - 0.5) / 0.5 = 0.0039215686 (hand computation).
        let p = Preprocessor::vit_default(4);
        let out = p.process_rgb(&RgbImage::from_pixel(4, 4, image::Rgb([128; 3])));
        assert!(out.iter().all(|&x| (x - 0.003_921_568_6).abs() < 1e-7), "{:?}", &out[..3]);
    }

    #[test]
    fn crop_is_centred_with_floor() {
        // 5 wide, crop 2: left = (5-2)/2 = 1, so columns 1 and 2 survive.
        let img = RgbImage::from_fn(5, 1, |x, _| image::Rgb([x as u8; 3]));
        let c = center_crop(&img, 1, 2);
        assert_eq!((c.get_pixel(0, 0).0[0], c.get_pixel(1, 0).0[0]), (1, 2));
    }

    #[test]
    fn config_forms() {
        let v = json!({"image_processor_type": "CLIPImageProcessor", "size": {"shortest_edge": 30},
                       "crop_size": 28, "resample": 3, "do_center_crop": true});
        let p = Preprocessor::from_json(&v, false, 224).unwrap();
        assert_eq!(p.resize, Resize::ShortestEdge { edge: 30 });
        assert_eq!((p.crop, p.filter), (Some((28, 28)), Filter::Bicubic));
        assert_eq!(p.mean_std, Some(CLIP_MEAN_STD));
        let bad = Preprocessor::from_json(&json!({"resample": 9}), false, 224).unwrap_err();
        // BitImageProcessor's defaults are CLIP's (shortest edge, crop on, CLIP mean), whatever
        // the model; SiglipImageProcessor never crops and reads an int size as a square.
        let bit =
            Preprocessor::from_json_styled(&json!({"image_processor_type": "BitImageProcessor"}), Style::Dinov2, 518);
        assert_eq!(bit.unwrap(), Preprocessor::clip_default(518));
        let v = json!({"image_processor_type": "SiglipImageProcessor", "size": 384, "do_center_crop": true});
        let sig = Preprocessor::from_json_styled(&v, Style::Vit, 224).unwrap();
        assert_eq!(
            (sig.resize, sig.crop, sig.filter),
            (Resize::Exact { height: 384, width: 384 }, None, Filter::Bicubic)
        );
        assert!(format!("{bad:#}").contains("resample"));
    }
}
