//! A port of Pillow's separable convolution resampler (`libImaging/Resample.c`, Pillow 11) for
//! 8-bit RGB, so `Image.resize` as called by transformers' image processors is reproduced
//! bit for bit: horizontal pass then vertical pass, each rounding to u8; the filter support is
//! scaled by the downscale factor (antialiasing); coefficients are fixed point with 22 bits.

use image::RgbImage;

/// PIL resampling filters by their `PIL.Image.Resampling` integer (as stored in
/// `preprocessor_config.json` `resample`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// 0
    Nearest,
    /// 1
    Lanczos,
    /// 2
    Bilinear,
    /// 3
    Bicubic,
    /// 4
    Box,
    /// 5
    Hamming,
}

impl Filter {
    /// Maps the PIL integer; `None` for an unknown value.
    pub fn from_pil(code: u64) -> Option<Filter> {
        Some(match code {
            0 => Filter::Nearest,
            1 => Filter::Lanczos,
            2 => Filter::Bilinear,
            3 => Filter::Bicubic,
            4 => Filter::Box,
            5 => Filter::Hamming,
            _ => return None,
        })
    }

    /// Lower-case name, for metadata.
    pub fn name(self) -> &'static str {
        match self {
            Filter::Nearest => "nearest",
            Filter::Lanczos => "lanczos",
            Filter::Bilinear => "bilinear",
            Filter::Bicubic => "bicubic",
            Filter::Box => "box",
            Filter::Hamming => "hamming",
        }
    }

    fn support(self) -> f64 {
        match self {
            Filter::Nearest | Filter::Box => 0.5,
            Filter::Bilinear | Filter::Hamming => 1.0,
            Filter::Bicubic => 2.0,
            Filter::Lanczos => 3.0,
        }
    }

    fn eval(self, x: f64) -> f64 {
        fn sinc(x: f64) -> f64 {
            if x == 0.0 {
                1.0
            } else {
                let x = x * std::f64::consts::PI;
                x.sin() / x
            }
        }
        match self {
            Filter::Nearest | Filter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Filter::Bilinear => {
                let x = x.abs();
                if x < 1.0 {
                    1.0 - x
                } else {
                    0.0
                }
            }
            Filter::Hamming => {
                let x = x.abs();
                if x == 0.0 {
                    1.0
                } else if x >= 1.0 {
                    0.0
                } else {
                    let x = x * std::f64::consts::PI;
                    x.sin() / x * (0.54 + 0.46 * x.cos())
                }
            }
            Filter::Bicubic => {
                const A: f64 = -0.5;
                let x = x.abs();
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
            Filter::Lanczos => {
                if (-3.0..3.0).contains(&x) {
                    sinc(x) * sinc(x / 3.0)
                } else {
                    0.0
                }
            }
        }
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first input index, tap count, and fixed-point weights (`ksize` each).
struct Coeffs {
    ksize: usize,
    bounds: Vec<(usize, usize)>,
    weights: Vec<i32>,
}

/// `precompute_coeffs` + `normalize_coeffs_8bpc` of Resample.c for the full box `[0, in_size)`.
fn precompute(in_size: usize, out_size: usize, filter: Filter) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let mut bounds = Vec::with_capacity(out_size);
    let mut weights = vec![0i32; out_size * ksize];
    let mut k = vec![0f64; ksize];
    for xx in 0..out_size {
        let center = (xx as f64 + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C casts truncate toward zero; both values are >= -0.5 here, as in Pillow.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(xmax) {
            let w = filter.eval((x as f64 + xmin as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        for x in 0..ksize {
            let v = if x < xmax && ww != 0.0 {
                k[x] / ww
            } else if x < xmax {
                k[x]
            } else {
                0.0
            };
            let scaled = v * (1u32 << PRECISION_BITS) as f64;
            weights[xx * ksize + x] = if v < 0.0 { (-0.5 + scaled) as i32 } else { (0.5 + scaled) as i32 };
        }
        bounds.push((xmin, xmax));
    }
    Coeffs { ksize, bounds, weights }
}

fn clip8(v: i32) -> u8 {
    if v >= (1 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Nearest neighbour as Pillow's affine transform samples it: source index
/// `floor((x + 0.5) * in / out)`.
fn nearest(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (iw, ih) = img.dimensions();
    RgbImage::from_fn(w, h, |x, y| {
        let sx = (((x as f64 + 0.5) * iw as f64 / w as f64) as u32).min(iw - 1);
        let sy = (((y as f64 + 0.5) * ih as f64 / h as f64) as u32).min(ih - 1);
        *img.get_pixel(sx, sy)
    })
}

/// Resizes `img` to `(w, h)` like Pillow's `Image.resize((w, h), filter)` on an RGB image.
/// Returns a copy when the size is unchanged (as Pillow does).
pub fn resize(img: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    let (iw, ih) = img.dimensions();
    if (iw, ih) == (w, h) || w == 0 || h == 0 || iw == 0 || ih == 0 {
        return if (iw, ih) == (w, h) { img.clone() } else { RgbImage::new(w, h) };
    }
    if filter == Filter::Nearest {
        return nearest(img, w, h);
    }
    let mut cur = img.clone();
    if iw != w {
        let c = precompute(iw as usize, w as usize, filter);
        let src = cur.as_raw();
        let mut out = vec![0u8; w as usize * ih as usize * 3];
        for y in 0..ih as usize {
            let row = &src[y * iw as usize * 3..(y + 1) * iw as usize * 3];
            for (xx, &(xmin, xmax)) in c.bounds.iter().enumerate() {
                let k = &c.weights[xx * c.ksize..xx * c.ksize + xmax];
                let mut ss = [1i32 << (PRECISION_BITS - 1); 3];
                for (x, &kx) in k.iter().enumerate() {
                    let p = &row[(x + xmin) * 3..(x + xmin) * 3 + 3];
                    for ch in 0..3 {
                        ss[ch] += p[ch] as i32 * kx;
                    }
                }
                let o = (y * w as usize + xx) * 3;
                for ch in 0..3 {
                    out[o + ch] = clip8(ss[ch]);
                }
            }
        }
        cur = RgbImage::from_raw(w, ih, out).expect("buffer size matches");
    }
    if ih != h {
        let c = precompute(ih as usize, h as usize, filter);
        let src = cur.as_raw();
        let width = w as usize * 3;
        let mut out = vec![0u8; width * h as usize];
        for (yy, &(ymin, ymax)) in c.bounds.iter().enumerate() {
            let k = &c.weights[yy * c.ksize..yy * c.ksize + ymax];
            for i in 0..width {
                let mut ss = 1i32 << (PRECISION_BITS - 1);
                for (y, &ky) in k.iter().enumerate() {
                    ss += src[(y + ymin) * width + i] as i32 * ky;
                }
                out[yy * width + i] = clip8(ss);
            }
        }
        cur = RgbImage::from_raw(w, h, out).expect("buffer size matches");
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_image_stays_uniform() {
        // Normalised weights sum to 1 (±rounding), so a flat image keeps its value.
        let img = RgbImage::from_pixel(37, 23, image::Rgb([200, 13, 128]));
        for f in [Filter::Bilinear, Filter::Bicubic, Filter::Lanczos, Filter::Box, Filter::Hamming] {
            let out = resize(&img, 10, 41, f);
            assert!(out.pixels().all(|p| p.0 == [200, 13, 128]), "{f:?}");
        }
    }

    #[test]
    fn box_halving_averages_pairs() {
        // Box filter, 4 -> 2: each output is the mean of two inputs, (10+20)/2 = 15, (30+50)/2 = 40.
        let img = RgbImage::from_fn(4, 1, |x, _| image::Rgb([[10, 20, 30, 50][x as usize]; 3]));
        let out = resize(&img, 2, 1, Filter::Box);
        assert_eq!(out.get_pixel(0, 0).0[0], 15);
        assert_eq!(out.get_pixel(1, 0).0[0], 40);
    }
}
