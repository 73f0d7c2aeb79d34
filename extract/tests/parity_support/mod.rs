//! Shared helpers of the parity tests: fixture paths and golden tensors written by
//! tools/make_reference.py (transformers 4.46.3, float32, eager attention).
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

/// `extract/tests/fixtures/tiny/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny").join(rel)
}

/// Golden tensors of `golden/<name>.safetensors` on the CPU.
pub fn golden(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(&format!("golden/{name}.safetensors")), &Device::Cpu)
        .unwrap_or_else(|e| panic!("golden {name}: {e}"))
}

/// Largest |a - b| over all elements; panics on a shape mismatch.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shape mismatch");
    let a = a.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The fixture images, in the order of the golden batch (sorted names).
pub const IMAGES: [&str; 9] = [
    "cmyk_32x32.jpg",
    "exact_32x32.png",
    "gradient_64x48.png",
    "grey_40x30.png",
    "palette_24x20.png",
    "photo_96x80.jpg",
    "photo_96x80.png",
    "rgba_50x50.png",
    "wide_448x224.png",
];

/// Golden key of an image's pixel_values.
pub fn pv_key(name: &str) -> String {
    format!("pixel_values.{}", name.replace('.', "_"))
}

/// Asserts `|a - b| <= tol` everywhere and returns the max diff (printed with `label`).
pub fn assert_close(label: &str, a: &Tensor, b: &Tensor, tol: f32) -> f32 {
    let d = max_abs_diff(a, b);
    println!("{label}: max abs diff {d:.3e}");
    assert!(d <= tol, "{label}: max abs diff {d} > {tol}");
    d
}

/// Allowed |diff| of pixel_values per image: PNGs decode identically and the Pillow resampler
/// is ported exactly (1e-6); JPEG decoders differ (libjpeg-turbo in PIL vs zune-jpeg in the
/// image crate) by up to 2 levels of 255 (measured: YCbCr 96x80 resized 0.0157 ViT / 0.0292
/// CLIP; CMYK 32x32 0.0078 ViT / 0.0150 CLIP), so 0.035 for JPEGs.
pub fn jpeg_tolerance(name: &str) -> f32 {
    if name.ends_with(".jpg") {
        0.035
    } else {
        1e-6
    }
}

/// The golden pixel_values of all [`IMAGES`] of `g` stacked into `(9, 3, H, W)`.
pub fn image_batch(g: &HashMap<String, Tensor>) -> Tensor {
    let items: Vec<Tensor> = IMAGES.iter().map(|n| g[&pv_key(n)].clone()).collect();
    Tensor::stack(&items, 0).unwrap()
}

/// The model's preprocessing of every fixture image against the golden pixel_values of `g`
/// (`(3, size, size)` each): PNGs within 1e-6, JPEGs within `jpeg_tol` (2 levels of 255 over
/// the smallest std: 0.035 for std 0.5, 0.036 for ImageNet's 0.224).
pub fn assert_preprocessing(
    label: &str,
    p: &marnet_extract::Preprocessor,
    g: &HashMap<String, Tensor>,
    size: usize,
    jpeg_tol: f32,
) {
    for name in IMAGES {
        let ours = p.load(&fixture(&format!("images/{name}"))).unwrap();
        let ours = Tensor::from_vec(ours, (3, size, size), &Device::Cpu).unwrap();
        let tol = if name.ends_with(".jpg") { jpeg_tol } else { 1e-6 };
        assert_close(&format!("{label} pixel_values {name}"), &ours, &g[&pv_key(name)], tol);
    }
}

/// Asserts every row (last dimension) of `got` has cosine ≥ `min` to the same row of `want`
/// and that `got` is not equal to `want` (so a lower-precision path did run).
pub fn assert_rows_cosine(name: &str, got: &Tensor, want: &Tensor, min: f64) {
    let rows = |t: &Tensor| -> Vec<Vec<f32>> {
        let d = *t.dims().last().unwrap();
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().chunks(d).map(<[f32]>::to_vec).collect()
    };
    let (got, want) = (rows(got), rows(want));
    assert_eq!(got.len(), want.len(), "{name}: rows");
    assert!(got != want, "{name}: equal to the reference bit for bit");
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
        let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
        let c = dot / (n(a) * n(b));
        assert!(c >= min, "{name} row {i}: cosine {c}");
    }
}

/// Loads `fixture(name)` with `--dtype bf16` on the CPU; `None` (after checking the one-line
/// refusal) on CPUs without AVX-512 BF16.
pub fn load_bf16(name: &str, pooling: Option<marnet_extract::Pooling>) -> Option<marnet_extract::ImageModel> {
    let spec = fixture(name);
    let loaded =
        marnet_extract::load_image_model(spec.to_str().unwrap(), pooling, &Device::Cpu, candle_core::DType::BF16);
    if !marnet_extract::kernels::has_avx512_bf16() {
        let err = format!("{:#}", loaded.err().unwrap());
        assert!(err.contains("needs AVX-512 BF16") && !err.contains('\n'), "{err}");
        return None;
    }
    let m = loaded.unwrap();
    assert_eq!(m.info.dtype_name(), "bf16");
    Some(m)
}
