//! Image decoding to 8-bit RGB (DESIGN.md sections 4 and 5): any format the `image` crate
//! reads, with decoder limits against decompression bombs. Images with an alpha channel (RGBA,
//! LA, palette with a transparency table, which the PNG decoder expands to RGBA) are composited
//! onto white exactly as PIL's `Image.alpha_composite(white, img)` does, which is what
//! transformers' `convert_to_rgb` runs; greyscale and CMYK become RGB.
//!
//! JPEGs go through zune-jpeg (the `image` crate's own JPEG decoder) in strict mode first: the
//! `image` crate runs it leniently, which fills a file cut off inside the compressed scan with
//! grey and reports success, so truncated photos entered the cache. A strict decode that fails
//! for lack of data is reported as a truncated image; one that fails for another reason (a
//! quirk that lenient decoders accept) falls back to the `image` crate as before. For complete
//! files both paths are the same decoder with the same output colour space, so pixels are equal
//! (test).
//!
//! Images stored inside Parquet files or tar shards are decoded from their bytes in memory by
//! the same code ([`decode_rgb_bytes`]), so a file and the same bytes in a shard give equal
//! pixels.
//!
//! The EXIF orientation (all 8 values) is applied after decoding, as Pillow's
//! `ImageOps.exif_transpose` in transformers' `load_image` and torchvision's
//! `apply_exif_orientation` do, so a phone photo stored sideways with `Orientation = 6` is seen
//! upright. The value is read by the `image` crate (`ImageDecoder::orientation`; for the strict
//! JPEG path, `Orientation::from_exif_chunk` on the EXIF block zune-jpeg found) and applied with
//! `DynamicImage::apply_orientation`. An absent, corrupt or out-of-range EXIF block means
//! upright, never an error. ICC profiles are not applied (neither Pillow nor transformers does).

use anyhow::{bail, Context, Result};
use image::metadata::Orientation;
use image::{DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};
use std::io::Cursor;
use std::path::Path;
use zune_core::bytestream::ZCursor;
use zune_core::colorspace::ColorSpace;
use zune_core::options::DecoderOptions;
use zune_jpeg::errors::DecodeErrors;

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation, in bytes (1 GiB).
pub const MAX_ALLOC: u64 = 1 << 30;

/// Value recorded as `"exif_orientation"` in the preprocessing metadata of caches whose images
/// were turned upright by their EXIF orientation. Caches without it were extracted
/// by older builds that ignored the tag.
pub const EXIF_ORIENTATION: &str = "applied";

/// Decodes the file at `path` to 8-bit RGB (alpha composited on white), turned upright by its
/// EXIF orientation (module docs).
///
/// Errors name the file: unreadable, unknown format, corrupt or truncated data (a JPEG cut off
/// anywhere, see the module docs), or larger than [`MAX_SIDE`] / [`MAX_ALLOC`].
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    Ok(to_rgb(decode_upright(path)?))
}

/// Decodes the file at `path` in its own pixel layout (RGB8, RGBA16, Luma8, ...) with its EXIF
/// orientation applied: width and height are swapped for orientations 5 to 8.
///
/// Errors: as [`decode_rgb`]. A missing or unreadable EXIF block is not an error (upright).
pub fn decode_upright(path: &Path) -> Result<DynamicImage> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot open image {}", path.display()))?;
    decode_upright_bytes(&bytes, &path.display().to_string(), Some(path))
}

/// Decodes encoded image bytes (a Parquet cell, a tar member) to 8-bit RGB, as [`decode_rgb`]
/// does for files: same decoders, same EXIF handling, so the same bytes give the same pixels.
/// `name` (e.g. `shard.tar:000001.jpg`) is used in errors and its extension, when it has one,
/// picks the format if the magic bytes are unknown.
///
/// Errors: as [`decode_rgb`], naming `name`.
pub fn decode_rgb_bytes(bytes: &[u8], name: &str) -> Result<RgbImage> {
    Ok(to_rgb(decode_upright_bytes(bytes, name, Some(Path::new(name)))?))
}

/// The decoding behind [`decode_upright`] and [`decode_rgb_bytes`]: `name` appears in errors,
/// `hint` (a file name) gives the format when the magic bytes do not.
fn decode_upright_bytes(bytes: &[u8], name: &str, hint: Option<&Path>) -> Result<DynamicImage> {
    if bytes.is_empty() {
        bail!("cannot decode image {name}: empty file (0 bytes)");
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .with_context(|| format!("cannot read image {name}"))?;
    if reader.format().is_none() {
        // Unknown magic bytes: try the extension, as `ImageReader::open` does.
        if let Some(format) = hint.and_then(|p| ImageFormat::from_path(p).ok()) {
            reader.set_format(format);
        }
    }
    if reader.format() == Some(ImageFormat::Jpeg) {
        if let Some((mut img, orientation)) =
            decode_jpeg_strict(bytes).with_context(|| format!("cannot decode image {name}"))?
        {
            img.apply_orientation(orientation);
            return Ok(img);
        }
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    // The image crate's error text already ends with its cause, so the cause is not chained
    // again (anyhow would print it twice).
    let failed = |e: image::ImageError| anyhow::anyhow!("cannot decode image {name}: {}", e.to_string().trim());
    let mut decoder = reader.into_decoder().map_err(failed)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    if decoder.total_bytes() > MAX_ALLOC {
        let (w, h) = decoder.dimensions();
        bail!("cannot decode image {name}: {w}x{h} needs more than {MAX_ALLOC} bytes decoded");
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(failed)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// The orientation an EXIF block (TIFF header first, as zune-jpeg returns it) asks for;
/// upright when there is none or it cannot be read.
fn exif_orientation(exif: Option<&Vec<u8>>) -> Orientation {
    exif.and_then(|chunk| Orientation::from_exif_chunk(chunk)).unwrap_or(Orientation::NoTransforms)
}

/// A JPEG decoded by zune-jpeg in strict mode with the output colour space the `image` crate
/// asks for (RGB, RGBA, Luma, LumaA kept; CMYK, YCCK and others converted to RGB), and the
/// orientation of its EXIF block (not yet applied).
///
/// `Ok(None)`: the strict decoder refused the file for a reason other than missing data; the
/// caller decodes it leniently. Errors: truncated data, or larger than [`MAX_SIDE`] /
/// [`MAX_ALLOC`].
fn decode_jpeg_strict(bytes: &[u8]) -> Result<Option<(DynamicImage, Orientation)>> {
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(MAX_SIDE as usize)
        .set_max_height(MAX_SIDE as usize);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    if let Err(e) = decoder.decode_headers() {
        return refused(e);
    }
    let (Some((w, h)), Some(input)) = (decoder.dimensions(), decoder.input_colorspace()) else {
        return Ok(None);
    };
    let out = match input {
        ColorSpace::RGB | ColorSpace::RGBA | ColorSpace::Luma | ColorSpace::LumaA => input,
        _ => ColorSpace::RGB,
    };
    if (w * h * out.num_components()) as u64 > MAX_ALLOC {
        bail!("{w}x{h} JPEG needs more than {MAX_ALLOC} bytes decoded");
    }
    let orientation = exif_orientation(decoder.exif());
    decoder.set_options(decoder.options().jpeg_set_out_colorspace(out));
    let pixels = match decoder.decode() {
        Ok(p) => p,
        Err(e) => return refused(e),
    };
    let (w, h) = (w as u32, h as u32);
    let img = match out {
        ColorSpace::RGBA => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgba8),
        ColorSpace::Luma => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLuma8),
        ColorSpace::LumaA => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageLumaA8),
        _ => ImageBuffer::from_raw(w, h, pixels).map(DynamicImage::ImageRgb8),
    };
    Ok(img.map(|img| (img, orientation)))
}

/// A strict-mode failure: missing data (the file ends inside the headers or the compressed
/// scan) is an error; anything else is left to the lenient decoder (`Ok(None)`).
fn refused<T>(e: DecodeErrors) -> Result<Option<T>> {
    let truncated = match &e {
        DecodeErrors::ExhaustedData | DecodeErrors::IoErrors(_) => true,
        DecodeErrors::FormatStatic(msg) => msg.contains("Premature end"),
        _ => false,
    };
    if truncated {
        bail!("truncated JPEG: the file ends before the image data does ({})", e.to_string().trim());
    }
    Ok(None)
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

    /// The full error text of decoding a file `name` holding `bytes` (which must fail).
    fn decode_error(name: &str, bytes: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        format!("{:#}", decode_rgb(&p).unwrap_err())
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    /// Complete JPEGs (YCbCr photos and CMYK) decode to exactly what the `image` crate's own
    /// decoder gives (the independent reference: its lenient path).
    #[test]
    fn strict_jpeg_path_equals_the_image_crate() {
        for name in [
            "tiny/images/photo_96x80.jpg",
            "tiny/images/cmyk_32x32.jpg",
            "dataset/images/a1.jpg",
            "dataset/images/b3_cmyk.jpg",
        ] {
            let p = fixture(name);
            let reference = to_rgb(image::open(&p).unwrap());
            let ours = decode_rgb(&p).unwrap();
            assert_eq!(ours.dimensions(), reference.dimensions(), "{name}");
            assert!(ours == reference, "{name}: pixels differ");
        }
    }

    /// c3.jpg cut at byte 900 of 1,153 (its scan starts at byte 609), and cut at byte 300
    /// (inside the headers): both are errors naming the file and saying truncated.
    #[test]
    fn truncated_jpeg_is_an_error() {
        let full = std::fs::read(fixture("dataset/images/c3.jpg")).unwrap();
        for cut in [900, 300] {
            let err = decode_error(&format!("cut{cut}.jpg"), &full[..cut]);
            assert!(err.contains(&format!("cut{cut}.jpg")) && err.contains("truncated JPEG"), "{err}");
        }
    }

    #[test]
    fn empty_file_says_so() {
        let err = decode_error("nothing.jpg", b"");
        assert!(err.contains("nothing.jpg") && err.contains("empty file"), "{err}");
    }

    #[test]
    fn unreadable_file_error_names_it() {
        let err = decode_error("bad.png", b"not an image");
        assert!(err.contains("bad.png"), "{err}");
    }

    /// A text file named .jpeg: one line, and the decoder's cause appears once (the `image`
    /// crate's message already includes it; chaining it again printed it twice).
    #[test]
    fn decode_error_states_its_cause_once() {
        let err = decode_error("text.jpeg", b"not a photo at all");
        assert!(err.contains("text.jpeg") && !err.contains('\n'), "{err}");
        let cause = err.rsplit(": ").next().unwrap_or_default();
        assert_eq!(err.matches(cause).count(), 1, "{err}");
    }
}
