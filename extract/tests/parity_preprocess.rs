//! Preprocessing checks with hand-computed expectations (no golden needed) plus decoding edge
//! cases: grey 128 → 0.00392 with mean = std = 0.5, alpha composited on white, a wide
//! 448×224 image through the CLIP path, and the Pillow resampler against the processor output.

mod parity_support;

use candle_core::{Device, Tensor};
use marnet_extract::preprocess::{resample, Preprocessor, Resize};
use marnet_extract::{decode_rgb, load_image_model};
use parity_support::*;

#[test]
fn uniform_grey_128_normalises_to_0_00392() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grey.png");
    image::RgbImage::from_pixel(70, 50, image::Rgb([128, 128, 128])).save(&p).unwrap();
    // ViT defaults: mean = std = 0.5, so (128/255 - 0.5)/0.5 = 1/255 = 0.0039215686.
    let v = Preprocessor::vit_default(32).load(&p).unwrap();
    assert_eq!(v.len(), 3 * 32 * 32);
    assert!(v.iter().all(|x| (x - 0.003_921_568_6).abs() < 1e-7));
}

#[test]
fn transparent_pixels_become_white_not_hidden_colour() {
    // fixtures/tiny/images/rgba_50x50.png has red (255, 0, 0) at alpha 0 in its top-left corner.
    let rgb = decode_rgb(&fixture("images/rgba_50x50.png")).unwrap();
    assert_eq!(rgb.get_pixel(0, 0).0, [255, 255, 255]);
    // Palette with tRNS: index 2 (blue) is transparent → white; index 0 stays (200, 30, 30).
    let pal = decode_rgb(&fixture("images/palette_24x20.png")).unwrap();
    assert_eq!(pal.get_pixel(0, 0).0, [200, 30, 30]);
    assert_eq!(pal.get_pixel(2, 0).0, [255, 255, 255]);
}

#[test]
fn wide_image_resampling_matches_pillow_exactly() {
    // 448x224 → CLIP: shortest edge 224→32, long side int(32*448/224) = 64, bicubic, crop 32.
    let g = golden("clip");
    let m = load_image_model(fixture("clip").to_str().unwrap(), None, &Device::Cpu, candle_core::DType::F32).unwrap();
    assert_eq!(m.preprocessor.resize, Resize::ShortestEdge { edge: 32 });
    let img = decode_rgb(&fixture("images/wide_448x224.png")).unwrap();
    let ours = Tensor::from_vec(m.preprocessor.process_rgb(&img), (3, 32, 32), &Device::Cpu).unwrap();
    assert_close("clip 448x224 pixel_values (ported Pillow bicubic)", &ours, &g[&pv_key("wide_448x224.png")], 1e-6);
    // For comparison only: the image crate's CatmullRom filter (no support scaling) differs a lot.
    let naive = image::imageops::resize(&img, 64, 32, image::imageops::FilterType::CatmullRom);
    let naive = image::imageops::crop_imm(&naive, 16, 0, 32, 32).to_image();
    let no_resize = Preprocessor { resize: Resize::None, crop: None, ..m.preprocessor.clone() };
    let naive = Tensor::from_vec(no_resize.process_rgb(&naive), (3, 32, 32), &Device::Cpu).unwrap();
    let d = max_abs_diff(&naive, &g[&pv_key("wide_448x224.png")]);
    println!("image::imageops CatmullRom vs processor: max abs diff {d:.3e}");
    assert!(d > 1e-2, "the naive filter unexpectedly matches ({d})");
}

#[test]
fn identity_resize_is_a_copy() {
    let img = decode_rgb(&fixture("images/exact_32x32.png")).unwrap();
    assert_eq!(resample::resize(&img, 32, 32, resample::Filter::Bicubic), img);
}
