//! `--dtype bf16` on the CPU: the tiny CLIP's and the tiny BERT's Linear products in bf16
//! (AVX-512 BF16), the dtype recorded in the cache metadata, and an f32 run refused on a bf16
//! cache.

mod extract_common;

use extract_common::*;
use marnet_extract::kernels::has_avx512_bf16;

/// Cosine of two rows (f64 sums).
fn cosine(a: ndarray::ArrayView1<f32>, b: ndarray::ArrayView1<f32>) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: ndarray::ArrayView1<f32>| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn bf16_cache_is_close_to_f32_records_its_dtype_and_is_never_mixed() {
    let (f32_dir, bf16_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--rows-per-part", "5"];
    let bf16_flags = ["--rows-per-part", "5", "--dtype", "bf16"];
    if !has_avx512_bf16() {
        let err = run(&dataset("manifest.csv"), bf16_dir.path(), &bf16_flags).unwrap_err();
        assert!(format!("{err:#}").contains("needs AVX-512 BF16"), "{err:#}");
        eprintln!("skipped: this CPU lacks avx512_bf16, so --dtype bf16 is refused on the CPU");
        return;
    }
    run(&dataset("manifest.csv"), f32_dir.path(), &flags).unwrap();
    run(&dataset("manifest.csv"), bf16_dir.path(), &bf16_flags).unwrap();
    let (a, b) = (read(f32_dir.path()), read(bf16_dir.path()));
    assert_eq!((a.metadata.dtype.as_str(), b.metadata.dtype.as_str()), ("f32", "bf16"));
    assert_eq!(a.rows.ids, b.rows.ids);
    // x_v: bf16 products move every row a little (not bit-equal) but keep its direction.
    assert!(a.rows.x_v != b.rows.x_v, "the bf16 run gave the f32 features bit for bit");
    for (i, (ra, rb)) in a.rows.x_v.rows().into_iter().zip(b.rows.x_v.rows()).enumerate() {
        let c = cosine(ra, rb);
        assert!(c >= 0.999, "x_v row {i}: cosine {c}");
    }
    // x_s: the BERT tower's products run in bf16 too (train and val rows; test rows have no
    // text in either cache).
    assert_eq!(a.rows.has_text, b.rows.has_text);
    assert!(a.rows.x_s != b.rows.x_s, "the bf16 run gave the f32 text features bit for bit");
    let mut texts = 0;
    for (i, (ra, rb)) in a.rows.x_s.rows().into_iter().zip(b.rows.x_s.rows()).enumerate() {
        if !a.rows.has_text[i] {
            continue;
        }
        let c = cosine(ra, rb);
        assert!(c >= 0.999, "x_s row {i}: cosine {c}");
        texts += 1;
    }
    assert!(texts > 0, "no text rows compared");
    // Resuming the bf16 cache with f32 features is refused, naming the dtype.
    let err = run(&dataset("manifest.csv"), bf16_dir.path(), &flags).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("refusing to mix caches") && msg.contains("dtype"), "{msg}");
}

/// The tiny ViT as the image tower: its bf16 host layers keep every `x_v` row within cosine
/// 0.999 of the f32 run (candle-transformers' ViT layers) and the cache records bf16.
#[test]
fn bf16_vit_cache_is_close_to_f32() {
    if !has_avx512_bf16() {
        eprintln!("skipped: this CPU lacks avx512_bf16, so --dtype bf16 is refused on the CPU");
        return;
    }
    let (f32_dir, bf16_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let vit = fixture("tiny/vit");
    run_with_image_model(&vit, &dataset("manifest.csv"), f32_dir.path(), &[]).unwrap();
    run_with_image_model(&vit, &dataset("manifest.csv"), bf16_dir.path(), &["--dtype", "bf16"]).unwrap();
    let (a, b) = (read(f32_dir.path()), read(bf16_dir.path()));
    assert_eq!((a.metadata.dtype.as_str(), b.metadata.dtype.as_str()), ("f32", "bf16"));
    assert!(a.rows.x_v != b.rows.x_v, "the bf16 run gave the f32 features bit for bit");
    for (i, (ra, rb)) in a.rows.x_v.rows().into_iter().zip(b.rows.x_v.rows()).enumerate() {
        let c = cosine(ra, rb);
        assert!(c >= 0.999, "x_v row {i}: cosine {c}");
    }
}
