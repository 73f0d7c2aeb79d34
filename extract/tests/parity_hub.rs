//! Hub-id resolution through a local Hugging Face cache laid out like `huggingface_hub` writes
//! it (`models--org--name/refs/main`, `snapshots/<hash>/...`), with no network.

mod parity_support;

use candle_core::{DType, Device};
use marnet_extract::{load_image_model, resolve_model};
use parity_support::*;

#[test]
fn hub_id_resolves_from_hf_hub_cache_offline() {
    let cache = tempfile::tempdir().unwrap();
    let repo = cache.path().join("models--tiny-org--tiny-vit");
    let snap = repo.join("snapshots/0123456789abcdef");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123456789abcdef").unwrap();
    for f in ["config.json", "model.safetensors", "preprocessor_config.json"] {
        std::fs::copy(fixture(&format!("vit/{f}")), snap.join(f)).unwrap();
    }
    // Only this test in this binary touches the environment.
    std::env::set_var("HF_HUB_CACHE", cache.path());
    let files = resolve_model("tiny-org/tiny-vit").unwrap();
    assert_eq!(files.root, snap);
    // The recorded hash is the weight file's sha256, as Python's hashlib computed it.
    let hashes: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden/sha256.json")).unwrap()).unwrap();
    assert_eq!(files.sha256, hashes["vit"].as_str().unwrap());
    let m = load_image_model("tiny-org/tiny-vit", None, &Device::Cpu, DType::F32).unwrap();
    assert_eq!(m.info.spec, "tiny-org/tiny-vit");
    let err = resolve_model("tiny-org/absent").unwrap_err().to_string();
    assert!(err.contains(&cache.path().display().to_string()), "{err}");
}
