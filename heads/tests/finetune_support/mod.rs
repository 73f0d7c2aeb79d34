//! Shared fixtures of the fine-tune tests: a tiny image dataset generated into a temporary folder
//! (PNG files + `manifest.csv`, no binary files in git) and the tiny HF checkpoints the encoder
//! parity tests keep under `extract/tests/fixtures/tiny/` (ViT and BERT, hidden 32, 2 blocks).
#![allow(dead_code)]

use candle_core::{Device, Tensor};
use marnet_heads::finetune::FinetuneOptions;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Folder of a tiny checkpoint (`vit`, `clip`, `bert`).
pub fn tiny_model(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../extract/tests/fixtures/tiny").join(name).display().to_string()
}

/// Class colours: red, green, blue.
const COLOURS: [(&str, [u8; 3]); 3] = [("red", [200, 40, 40]), ("green", [40, 180, 60]), ("blue", [40, 60, 200])];

/// Writes 5 images per class (3 train, 1 val, 1 test; 40×36 and 30×44 PNGs, class colour
/// with a stripe pattern whose phase varies per image) and `manifest.csv` into `dir`.
/// Returns the dataset spec `manifest:<dir>/manifest.csv`.
pub fn write_dataset(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut csv = String::from("file_name,text,label,split\n");
    for (c, (name, rgb)) in COLOURS.iter().enumerate() {
        for i in 0..5u32 {
            let (w, h) = if i % 2 == 0 { (40, 36) } else { (30, 44) };
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let stripe = ((x + y * (c as u32 + 1) + i * 3) / 4) & 1 == 0;
                let k = if stripe { 1.0 } else { 0.55 };
                image::Rgb([(rgb[0] as f32 * k) as u8, (rgb[1] as f32 * k) as u8, (rgb[2] as f32 * k) as u8])
            });
            let file = format!("images/{name}_{i}.png");
            img.save(dir.join(&file)).unwrap();
            let split = match i {
                0..=2 => "train",
                3 => "val",
                _ => "test",
            };
            csv.push_str(&format!("{file},\"a {name} thing, number {i}\",{name},{split}\n"));
        }
    }
    std::fs::write(dir.join("manifest.csv"), csv).unwrap();
    format!("manifest:{}", dir.join("manifest.csv").display())
}

/// Options for a short CPU run on the tiny dataset: tiny ViT + tiny BERT, small heads
/// (d 16, hidden 32, T 10), 3 micro-batches of 3 rows per epoch, no warmup.
pub fn tiny_options(dataset: &str, out: PathBuf) -> FinetuneOptions {
    let mut o = FinetuneOptions::new(dataset, &tiny_model("vit"), Some(&tiny_model("bert")), out);
    for (k, v) in
        [("d", "16"), ("hidden", "32"), ("temb_dim", "8"), ("timesteps", "10"), ("lr", "1e-2"), ("warmup", "0")]
    {
        o.cfg.apply_override(k, v).unwrap();
    }
    o.batch_size = 3;
    o.epochs = 3;
    o.backbone_lr = 1e-3;
    o.eval_batch = 4;
    o
}

/// Tensors of a safetensors file (CPU).
pub fn read_tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// Largest absolute difference between two tensors of the same shape (as f32).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let a = a.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap();
    let b = b.to_dtype(candle_core::DType::F32).unwrap().flatten_all().unwrap();
    (a - b).unwrap().abs().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}
