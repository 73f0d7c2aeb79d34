//! Image decoding to 8-bit RGB (DESIGN.md sections 4 and 5): any format the `image` crate
//! reads, with decoder limits against decompression bombs. Images with an alpha channel (RGBA,
//! LA, palette with a transparency table, which the PNG decoder expands to RGBA) are composited
//! onto white exactly as PIL's `Image.alpha_composite(white, img)` does, which is what
//! transformers' `convert_to_rgb` runs; greyscale and CMYK become RGB.

use anyhow::{Context, Result};
use image::{DynamicImage, ImageReader, Limits, RgbImage};
use std::path::Path;

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation, in bytes (1 GiB).
pub const MAX_ALLOC: u64 = 1 << 30;

/// Decodes the file at `path` to 8-bit RGB (alpha composited on white).
///
/// Errors name the file: unreadable, unknown format, corrupt data, or larger than
/// [`MAX_SIDE`] / [`MAX_ALLOC`].
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    let mut reader = ImageReader::open(path)
        .with_context(|| format!("cannot open image {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("cannot read image {}", path.display()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let img = reader.decode().with_context(|| format!("cannot decode image {}", path.display()))?;
    Ok(to_rgb(img))
}

/// Converts any decoded image to RGB8: alpha is composited on white, other layouts are
/// converted by the `image` crate (grey replicated; 16-bit and float scaled to 8 bits).
pub fn to_rgb(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return match img {
            DynamicImage::ImageRgb8(rgb) => rgb,
            other => other.to_rgb8(),
        };
    }
    let rgba = img.to_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
        let a = src.0[3] as u32;
        for c in 0..3 {
            dst.0[c] = composite_on_white(src.0[c] as u32, a);
        }
    }
    out
}

/// One channel of PIL's `ImagingAlphaComposite` (libImaging/AlphaComposite.c) with an opaque
/// white destination: integer maths with 7 precision bits, so results match PIL bit for bit.
fn composite_on_white(src: u32, alpha: u32) -> u8 {
    const PRECISION_BITS: u32 = 7;
    if alpha == 0 {
        return 255;
    }
    let blend = 255 * (255 - alpha);
    let outa255 = alpha * 255 + blend;
    let coef1 = alpha * 255 * 255 * (1 << PRECISION_BITS) / outa255;
    let coef2 = 255 * (1 << PRECISION_BITS) - coef1;
    let tmp = src * coef1 + 255 * coef2 + (0x80 << PRECISION_BITS);
    let div255 = ((tmp >> 8) + tmp) >> 8;
    (div255 >> PRECISION_BITS) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_matches_hand_values() {
        // Opaque keeps the colour, fully transparent is white.
        assert_eq!(composite_on_white(10, 255), 10);
        assert_eq!(composite_on_white(10, 0), 255);
        // Half alpha: 0*128/255 + 255*127/255 = 127.0 -> PIL gives 127.
        assert_eq!(composite_on_white(0, 128), 127);
    }

    #[test]
    fn greyscale_becomes_three_equal_channels() {
        let img = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(2, 1, image::Luma([77])));
        let rgb = to_rgb(img);
        assert_eq!(rgb.get_pixel(1, 0).0, [77, 77, 77]);
    }

    #[test]
    fn unreadable_file_error_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.png");
        std::fs::write(&p, b"not an image").unwrap();
        let err = format!("{:#}", decode_rgb(&p).unwrap_err());
        assert!(err.contains("bad.png"), "{err}");
    }
}
