//! BERT parity against transformers' `BertModel` + `BertTokenizerFast` with sentence-transformers
//! mean pooling and `Normalize` (golden outputs written by tools/make_reference.py).

mod parity_support;

use candle_core::{DType, Device, IndexOp, Tensor};
use marnet_extract::tokenize::TextTokenizer;
use marnet_extract::{load_text_model, Pooling};
use parity_support::*;

fn texts() -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("golden/texts.json")).unwrap()).unwrap();
    v["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
}

#[test]
fn tokenization_matches_transformers() {
    let g = golden("bert");
    let t = TextTokenizer::from_file(&fixture("bert/tokenizer.json"), 48, 0).unwrap();
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let b = t.encode(&refs, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&b.input_ids.to_dtype(DType::F32).unwrap(), &g["input_ids"]), 0.0);
    assert_eq!(max_abs_diff(&b.attention_mask.to_dtype(DType::F32).unwrap(), &g["attention_mask"]), 0.0);
    // Only the 600-word text exceeds 48 tokens.
    assert_eq!(b.truncated, 1);
}

#[test]
fn bert_sentence_transformers_defaults_match_transformers() {
    let g = golden("bert");
    let m = load_text_model(fixture("bert").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    // modules.json: mean pooling + Normalize; sentence_bert_config.json: max_seq_length 48 (< 64 positions).
    assert_eq!((m.info.pooling, m.normalize(), m.max_tokens(), m.dim()), (Pooling::Mean, true, 48, 32));
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (h, _) = m.last_hidden_state(&refs).unwrap();
    assert_close("bert last_hidden_state", &h, &g["last_hidden_state"], 1e-4);
    let (f, truncated) = m.embed(&refs).unwrap();
    assert_eq!(truncated, 1, "the 600-word text is truncated and counted, not an error");
    assert_close("bert mean+normalize", &f, &g["mean_normalized"], 1e-4);
    let cls = load_text_model(fixture("bert").to_str().unwrap(), Some(Pooling::Cls), &Device::Cpu, DType::F32).unwrap();
    assert_close("bert cls (normalised)", &cls.embed(&refs).unwrap().0, &l2(&g["cls"]), 1e-4);
}

fn l2(x: &Tensor) -> Tensor {
    marnet_extract::encoders::pooling::l2_normalize(x).unwrap()
}

#[test]
fn text_alone_equals_text_in_batch_with_long_text() {
    let m = load_text_model(fixture("bert").to_str().unwrap(), None, &Device::Cpu, DType::F32).unwrap();
    let long = texts()[4].clone();
    let (alone, n0) = m.embed(&["hello"]).unwrap();
    let (batch, n1) = m.embed(&[long.as_str(), "hello", ""]).unwrap();
    assert_eq!((n0, n1), (0, 1));
    let d = max_abs_diff(&alone.i(0).unwrap(), &batch.i(1).unwrap());
    assert!(d <= 1e-5, "batch composition changed a text's vector by {d}");
    assert_eq!(m.embed(&[]).unwrap().0.dims(), &[0, 32]);
}

#[test]
fn gelu_is_exact_erf() {
    // torch.nn.functional.gelu(3.0) = 2.9959503 (erf form; tanh form gives 2.9963627).
    let g = golden("bert");
    let x = Tensor::new(&[3f32, -1.0, 0.5], &Device::Cpu).unwrap();
    let ours = x.apply(&candle_nn::Activation::Gelu).unwrap();
    assert_close("gelu", &ours, &g["gelu_3"], 1e-6);
    assert!((ours.to_vec1::<f32>().unwrap()[0] - 2.995_950_3).abs() < 1e-6);
}

#[test]
fn bert_half_precision_has_no_nan_from_padding_mask() {
    let g = golden("bert");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    // bf16 on the CPU runs the host layers (next test); f16 runs candle's ops with the mask cast.
    let m = load_text_model(fixture("bert").to_str().unwrap(), None, &Device::Cpu, DType::F16).unwrap();
    let (f, _) = m.embed(&refs).unwrap();
    assert_eq!(f.dtype(), DType::F32);
    // Unit vectors: f16 rounding moves components by well under 0.05.
    assert_close("bert f16", &f, &g["mean_normalized"], 0.05);
}

/// `--dtype bf16` on the CPU (the encoder layers' Linear products with bf16 weights and inputs,
/// f32 accumulation; embeddings, LayerNorm, softmax, GELU in f32): every token row of
/// `last_hidden_state` (padding included) and every mean+normalize feature keeps cosine ≥ 0.999
/// to transformers' f32 output, and differs from it (the bf16 products did run). CPUs without
/// AVX-512 BF16 get the one-line refusal instead, and the test says it skipped.
#[test]
fn bert_bf16_products_keep_cosine_0999_to_the_f32_golden() {
    let g = golden("bert");
    let loaded = load_text_model(fixture("bert").to_str().unwrap(), None, &Device::Cpu, DType::BF16);
    if !marnet_extract::kernels::has_avx512_bf16() {
        let err = format!("{:#}", loaded.err().unwrap());
        assert!(err.contains("needs AVX-512 BF16") && !err.contains('\n'), "{err}");
        eprintln!("skipped: this CPU lacks avx512_bf16, so --dtype bf16 is refused on the CPU");
        return;
    }
    let m = loaded.unwrap();
    assert_eq!(m.info.dtype_name(), "bf16");
    let texts = texts();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (h, _) = m.last_hidden_state(&refs).unwrap();
    assert_rows_cosine("bert bf16 last_hidden_state", &h, &g["last_hidden_state"], 0.999);
    let (f, truncated) = m.embed(&refs).unwrap();
    assert_eq!(truncated, 1);
    assert_rows_cosine("bert bf16 mean+normalize", &f, &g["mean_normalized"], 0.999);
}
