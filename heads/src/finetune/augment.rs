//! Training-time image augmentation: torchvision's `RandomResizedCrop` (scale (0.08, 1), ratio
//! (3/4, 4/3), bilinear resize to the model's input size) and `RandomHorizontalFlip` (p = 0.5),
//! then the model's rescale and normalisation. Val and test images get the model's normal
//! preprocessing (`Preprocessor::process_rgb`), no augmentation.
//!
//! `RandomResizedCrop.get_params` (torchvision 0.20, transforms.py), reproduced here: ten tries of
//! `area·U(scale)` and `exp(U(log ratio))`, `w = round(sqrt(area·r))`, `h = round(sqrt(area/r))`
//! (Python's round: half to even), accepted when `0 < w ≤ W` and `0 < h ≤ H`, with the corner
//! uniform over the valid positions; otherwise a centre crop clamped to the ratio range.
//! Random draws come from the seeded [`HostRng`], so a seed fixes every crop.

use crate::nn::rng::HostRng;
use image::RgbImage;
use marnet_extract::preprocess::resample::Filter;
use marnet_extract::preprocess::Resize;
use marnet_extract::Preprocessor;
use rand::Rng;

/// A crop window in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CropBox {
    /// First row.
    pub top: u32,
    /// First column.
    pub left: u32,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
}

/// torchvision's `RandomResizedCrop` parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomResizedCrop {
    /// Range of the crop area as a fraction of the image area.
    pub scale: (f64, f64),
    /// Range of the crop aspect ratio width/height.
    pub ratio: (f64, f64),
}

impl Default for RandomResizedCrop {
    /// scale (0.08, 1), ratio (3/4, 4/3): torchvision's defaults.
    fn default() -> Self {
        Self { scale: (0.08, 1.0), ratio: (3.0 / 4.0, 4.0 / 3.0) }
    }
}

impl RandomResizedCrop {
    /// Draws a crop window for a `width × height` image (torchvision `get_params`).
    pub fn get_params(&self, width: u32, height: u32, rng: &mut HostRng) -> CropBox {
        let area = (width as f64) * (height as f64);
        let (lr0, lr1) = (self.ratio.0.ln(), self.ratio.1.ln());
        for _ in 0..10 {
            let target = area * uniform(rng, self.scale.0, self.scale.1);
            let r = uniform(rng, lr0, lr1).exp();
            let w = (target * r).sqrt().round_ties_even();
            let h = (target / r).sqrt().round_ties_even();
            if w > 0.0 && h > 0.0 && w <= width as f64 && h <= height as f64 {
                let (w, h) = (w as u32, h as u32);
                let top = rng.0.random_range(0..=height - h);
                let left = rng.0.random_range(0..=width - w);
                return CropBox { top, left, height: h, width: w };
            }
        }
        // Fallback: centre crop with the aspect ratio clamped to the range.
        let in_ratio = width as f64 / height as f64;
        let (w, h) = if in_ratio < self.ratio.0 {
            (width, ((width as f64 / self.ratio.0).round_ties_even() as u32).clamp(1, height))
        } else if in_ratio > self.ratio.1 {
            (((height as f64 * self.ratio.1).round_ties_even() as u32).clamp(1, width), height)
        } else {
            (width, height)
        };
        CropBox { top: (height - h) / 2, left: (width - w) / 2, height: h, width: w }
    }
}

/// `U[lo, hi)`; `lo` when the range is empty.
fn uniform(rng: &mut HostRng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.0.random_range(lo..hi)
    } else {
        lo
    }
}

/// One image's random choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AugmentDraw {
    /// Crop window.
    pub crop: CropBox,
    /// Mirror left-right.
    pub flip: bool,
}

/// Random resized crop + horizontal flip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augmentation {
    /// Crop parameters.
    pub crop: RandomResizedCrop,
    /// Flip probability (0.5).
    pub flip_p: f64,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self { crop: RandomResizedCrop::default(), flip_p: 0.5 }
    }
}

impl Augmentation {
    /// Draws the crop, then the flip (in that order, from `rng`).
    pub fn draw(&self, width: u32, height: u32, rng: &mut HostRng) -> AugmentDraw {
        let crop = self.crop.get_params(width, height, rng);
        let flip = rng.0.random::<f64>() < self.flip_p;
        AugmentDraw { crop, flip }
    }
}

/// Crops (and mirrors) `img` as drawn; the result is `crop.width × crop.height`.
pub fn apply(img: &RgbImage, d: &AugmentDraw) -> RgbImage {
    let c = d.crop;
    let mut out = image::imageops::crop_imm(img, c.left, c.top, c.width, c.height).to_image();
    if d.flip {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    out
}

/// The training preprocessor: the model's rescale and normalisation after a bilinear resize of
/// the crop straight to the model's input size (no further crop), as `RandomResizedCrop` outputs
/// `size × size`. `None` when the model preprocessor has no fixed output size.
pub fn train_preprocessor(model: &Preprocessor) -> Option<Preprocessor> {
    let (height, width) = model.output_size()?;
    let mut p = model.clone();
    p.resize = Resize::Exact { height, width };
    p.filter = Filter::Bilinear;
    p.crop = None;
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_is_ratio_clamped_centre_crop() {
        // 100×10 with scale (1, 1): every try needs h = round(sqrt(1000/r)) ≥ round(sqrt(750)) = 27
        // > 10, so the fallback runs: in_ratio 10 > 4/3 → h = 10, w = round(10·4/3) = 13,
        // left = (100 − 13) / 2 = 43, top = 0.
        let rrc = RandomResizedCrop { scale: (1.0, 1.0), ..Default::default() };
        let c = rrc.get_params(100, 10, &mut HostRng::new(0, 0));
        assert_eq!(c, CropBox { top: 0, left: 43, height: 10, width: 13 });
    }

    #[test]
    fn crops_stay_inside_and_respect_scale_and_ratio() {
        let rrc = RandomResizedCrop::default();
        let mut rng = HostRng::new(7, 1);
        for _ in 0..500 {
            let c = rrc.get_params(64, 48, &mut rng);
            assert!(c.top + c.height <= 48 && c.left + c.width <= 64, "{c:?}");
            let frac = (c.width * c.height) as f64 / (64.0 * 48.0);
            // Rounding of w and h moves area and ratio slightly beyond the sampled ranges.
            assert!(frac > 0.06 && frac <= 1.0, "{c:?} {frac}");
            let r = c.width as f64 / c.height as f64;
            assert!(r > 0.6 && r < 1.6, "{c:?} {r}");
        }
    }

    #[test]
    fn apply_crops_then_mirrors() {
        // Pixel value = column index: a crop at left 2, width 3 holds columns 2, 3, 4; mirrored
        // it reads 4, 3, 2.
        let img = RgbImage::from_fn(8, 4, |x, _| image::Rgb([x as u8; 3]));
        let crop = CropBox { top: 1, left: 2, height: 2, width: 3 };
        let plain = apply(&img, &AugmentDraw { crop, flip: false });
        let flipped = apply(&img, &AugmentDraw { crop, flip: true });
        assert_eq!(plain.dimensions(), (3, 2));
        let row = |im: &RgbImage| (0..3).map(|x| im.get_pixel(x, 0).0[0]).collect::<Vec<_>>();
        assert_eq!(row(&plain), vec![2, 3, 4]);
        assert_eq!(row(&flipped), vec![4, 3, 2]);
    }

    #[test]
    fn same_seed_same_draws() {
        let a = Augmentation::default();
        let d1: Vec<_> = {
            let mut r = HostRng::new(3, 9);
            (0..20).map(|_| a.draw(50, 40, &mut r)).collect()
        };
        let d2: Vec<_> = {
            let mut r = HostRng::new(3, 9);
            (0..20).map(|_| a.draw(50, 40, &mut r)).collect()
        };
        assert_eq!(d1, d2);
        assert!(d1.iter().any(|d| d.flip) && d1.iter().any(|d| !d.flip));
    }
}
