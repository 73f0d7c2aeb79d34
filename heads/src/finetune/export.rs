//! `--export-backbone DIR`: the fine-tuned backbone as a Hugging Face model folder that
//! `marnet-extract run --image-model DIR` (and transformers) loads like the original
//! (DESIGN §5 "local folder"):
//!
//! - `model.safetensors`: every tensor of the source weights under its source name and dtype,
//!   with the fine-tuned values for the trained ones (metadata `format = pt`, as transformers
//!   writes, plus `marnet.finetuned_from` and `marnet.source_sha256`);
//! - every other top-level file of the source folder copied (`config.json`,
//!   `preprocessor_config.json`, tokenizer files, ...), except weight files (`*.safetensors`,
//!   the shard index, `*.bin`, `*.h5`, `*.msgpack`, `*.onnx`, `*.ot`, `*.pt`, `*.pth`).
//!
//! Files are written to temporary names and renamed.

use crate::report::write_atomic;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{Device, Tensor};
use marnet_extract::ModelFiles;
use std::collections::HashMap;
use std::path::Path;

const WEIGHT_SUFFIXES: [&str; 8] = [".safetensors", ".index.json", ".bin", ".h5", ".msgpack", ".onnx", ".ot", ".pt"];

fn is_weight_file(name: &str) -> bool {
    WEIGHT_SUFFIXES.iter().any(|s| name.ends_with(s)) || name.ends_with(".pth")
}

/// Writes the folder. `values` maps source tensor names to fine-tuned values (any dtype and
/// device; cast to the source dtype). Errors: `out` is the source folder, a value whose name
/// is not in the source or whose shape differs, I/O.
pub fn export_backbone(files: &ModelFiles, values: &HashMap<String, Tensor>, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let same = std::fs::canonicalize(out).ok() == std::fs::canonicalize(&files.root).ok();
    ensure!(!same, "--export-backbone {} is the source model folder; choose another folder", out.display());
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    for w in &files.weights {
        let map =
            candle_core::safetensors::load(w, &Device::Cpu).with_context(|| format!("reading {}", w.display()))?;
        tensors.extend(map);
    }
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let mut replaced = 0;
    for (name, t) in tensors.iter_mut() {
        if let Some(v) = values.get(name) {
            if v.dims() != t.dims() {
                bail!("fine-tuned {name} has shape {:?}, the source {:?}", v.dims(), t.dims());
            }
            *t = v.to_device(&Device::Cpu)?.to_dtype(t.dtype())?.contiguous()?;
            replaced += 1;
        }
    }
    if replaced != values.len() {
        let missing: Vec<&String> = values.keys().filter(|k| !tensors.iter().any(|(n, _)| n == *k)).collect();
        bail!("fine-tuned tensors {missing:?} are not in the source weights {:?}", files.weights);
    }
    let mut md = HashMap::new();
    md.insert("format".to_string(), "pt".to_string());
    md.insert("marnet.finetuned_from".to_string(), files.spec.clone());
    md.insert("marnet.source_sha256".to_string(), files.sha256.clone());
    let bytes = crate::report::safetensors_bytes(tensors.iter().map(|(n, t)| (n.as_str(), t)), md)
        .context("serialising the exported model.safetensors")?;
    write_atomic(&out.join("model.safetensors"), &bytes)?;
    let entries = std::fs::read_dir(&files.root).with_context(|| format!("listing {}", files.root.display()))?;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if !path.is_file() || is_weight_file(&name) || name.starts_with('.') {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        write_atomic(&out.join(&name), &bytes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_files_are_not_copied() {
        assert!(is_weight_file("model.safetensors") && is_weight_file("model.safetensors.index.json"));
        assert!(is_weight_file("pytorch_model.bin") && is_weight_file("x.pth"));
        assert!(
            !is_weight_file("config.json")
                && !is_weight_file("preprocessor_config.json")
                && !is_weight_file("tokenizer.json")
        );
    }
}
