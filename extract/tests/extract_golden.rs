//! The values in the cache are the reference encoders' outputs for the right rows: a dataset
//! of the parity-fixture images and texts (`fixtures/tiny/images`, `golden/texts.json`) is
//! extracted and each row compared with the golden outputs that transformers 4.46.3 /
//! sentence-transformers wrote (`fixtures/tiny/golden/{clip,bert}.safetensors`, see
//! extract/tests/parity_support): CLIP `image_embeds` row i belongs to image i of the sorted
//! image list, BERT `mean_normalized` row j to text j of texts.json.

mod extract_common;

use candle_core::Device;
use extract_common::*;

/// (image, index in the golden image batch, text index in texts.json or None, split). The golden
/// batch holds the sorted fixture images: cmyk_32x32.jpg, exact_32x32.png, gradient_64x48.png,
/// grey_40x30.png, palette_24x20.png, photo_96x80.jpg, photo_96x80.png, rgba_50x50.png,
/// wide_448x224.png (extract/tests/parity_support `IMAGES`).
const ROWS: [(&str, usize, Option<usize>, &str); 6] = [
    ("exact_32x32.png", 1, Some(0), "train"),
    ("gradient_64x48.png", 2, Some(1), "train"),
    ("grey_40x30.png", 3, Some(3), "val"),
    ("palette_24x20.png", 4, Some(4), "train"), // text 4 is longer than max_seq_length: truncated
    ("rgba_50x50.png", 7, None, "train"),
    ("wide_448x224.png", 8, Some(0), "test"), // test rows get no x_s even with a text
];

fn golden(name: &str) -> std::collections::HashMap<String, candle_core::Tensor> {
    candle_core::safetensors::load(fixture(&format!("tiny/golden/{name}.safetensors")), &Device::Cpu).unwrap()
}

#[test]
fn cached_features_match_the_reference_encoders_row_by_row() {
    let texts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("tiny/golden/texts.json")).unwrap()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("img")).unwrap();
    let mut manifest = String::new();
    for (i, (image, _, text, split)) in ROWS.iter().enumerate() {
        std::fs::copy(fixture(&format!("tiny/images/{image}")), dir.path().join("img").join(image)).unwrap();
        let text = text.map_or("", |t| texts["texts"][t].as_str().unwrap());
        let row =
            serde_json::json!({"file_name": format!("img/{image}"), "text": text, "label": i % 2, "split": split});
        manifest.push_str(&format!("{row}\n"));
    }
    std::fs::write(dir.path().join("manifest.jsonl"), manifest).unwrap();
    let out = dir.path().join("cache");
    let spec = format!("manifest:{}", dir.path().join("manifest.jsonl").display());
    run(&spec, &out, &["--batch-size", "4", "--rows-per-part", "4", "--image-pooling", "image_embeds"]).unwrap();
    let cache = read(&out);

    let image_embeds = golden("clip")["image_embeds"].to_vec2::<f32>().unwrap();
    let text_embeds = golden("bert")["mean_normalized"].to_vec2::<f32>().unwrap();
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    for (row, (image, g, text, split)) in ROWS.iter().enumerate() {
        assert_eq!(cache.rows.ids[row], format!("img/{image}"));
        let d = max_diff(cache.rows.x_v.row(row).as_slice().unwrap(), &image_embeds[*g]);
        assert!(d < 1e-4, "{image}: x_v differs from transformers image_embeds by {d}");
        let wants_text = text.is_some() && *split != "test";
        assert_eq!(cache.rows.has_text[row], wants_text, "{image}");
        if wants_text {
            let d = max_diff(cache.rows.x_s.row(row).as_slice().unwrap(), &text_embeds[text.unwrap()]);
            assert!(d < 1e-4, "{image}: x_s differs from sentence-transformers by {d}");
        }
    }
}
