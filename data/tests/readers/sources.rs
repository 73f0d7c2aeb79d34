//! `hf:` and `webdataset:` on the fixtures of `tests/fixtures/sources/`, written by
//! `datasets`, `webdataset.ShardWriter` and pyarrow (tools/make_dataset_fixtures.py). Expected
//! values come from that script's table of 12 images (6 train, 3 val, 3 test; classes apple,
//! bread, curry; b1.png has no text), not from the readers.

use std::path::PathBuf;

use marnet_data::image_bytes::ImageBytesReader;
use marnet_data::{load_dataset, load_dataset_with, Dataset, DatasetOptions, ImageSource, Sample, Split};
use sha2::{Digest, Sha256};

use crate::common::fixture;

fn src(rel: &str) -> PathBuf {
    fixture("sources").join(rel)
}

fn err_text<T: std::fmt::Debug>(r: anyhow::Result<T>) -> String {
    format!("{:#}", r.unwrap_err())
}

/// The image bytes of a sample, read as extraction reads them.
fn bytes_of(reader: &mut ImageBytesReader, s: &Sample) -> Vec<u8> {
    match s.source {
        ImageSource::File => std::fs::read(&s.image_path).unwrap(),
        _ => reader.read(s).unwrap_or_else(|e| panic!("{}: {e:#}", s.id)),
    }
}

/// (split, class index, text, SHA-256 of the image bytes) of every sample, sorted: what must
/// agree between the forms of the same data (apple, bread, curry are 0, 1, 2 in every form:
/// ClassLabel order, `.cls` values, sorted names).
fn contents(ds: &Dataset, with_split: bool) -> Vec<(String, u32, Option<String>, String)> {
    let mut reader = ImageBytesReader::new();
    let mut v: Vec<_> = ds
        .samples
        .iter()
        .map(|s| {
            let split = if with_split { s.split.as_str().to_string() } else { String::new() };
            let digest = hex::encode(Sha256::digest(bytes_of(&mut reader, s)));
            (split, s.label, s.text.clone(), digest)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn hf_parquet_reads_the_hub_layout() {
    let ds = load_dataset(&format!("hf:{}", src("hf").display())).unwrap();
    assert_eq!(ds.kind.as_str(), "hf");
    assert_eq!(ds.class_names, ["apple", "bread", "curry"], "ClassLabel names");
    // Files sorted by path: test-, train-, validation-.
    assert_eq!((ds.count(Split::Train), ds.count(Split::Val), ds.count(Split::Test)), (6, 3, 3));
    assert_eq!(ds.samples[0].id, "data/test-00000-of-00001.parquet/0");
    assert_eq!(ds.samples[0].split, Split::Test);
    assert_eq!(ds.samples[3].id, "data/train-00000-of-00001.parquet/0");
    assert_eq!(ds.samples[9].split, Split::Val);
    let labels: Vec<u32> = ds.samples.iter().map(|s| s.label).collect();
    // test a3 b3 c3, train a0 b0 c0 a1 b1 c1, val a2 b2 c2
    assert_eq!(labels, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
    assert_eq!(ds.samples[7].text, None, "b1.png has no text");
    assert_eq!(ds.count_with_text(), 11);
    match &ds.samples[4].source {
        ImageSource::Parquet { column, row_group, row, .. } => {
            assert_eq!((column.as_str(), *row_group, *row), ("image", 0, 1))
        }
        other => panic!("{other:?}"),
    }
    assert!(ds.warnings.is_empty(), "{:?}", ds.warnings);
}

#[test]
fn files_parquet_tar_and_img2dataset_give_the_same_samples() {
    let files = load_dataset(&format!("manifest:{}", src("files/manifest.csv").display())).unwrap();
    let hf = load_dataset(&format!("hf:{}", src("hf").display())).unwrap();
    let wds = load_dataset(&format!("webdataset:{}", src("wds").display())).unwrap();
    assert_eq!(files.samples.len(), 12);
    assert_eq!(contents(&files, true), contents(&hf, true));
    assert_eq!(contents(&files, true), contents(&wds, true));
    // img2dataset has no split (all train); its `label` column holds names, sorted as classes.
    let i2d = load_dataset(&format!("hf:{}", src("img2dataset").display())).unwrap();
    assert_eq!(i2d.class_names, ["apple", "bread", "curry"]);
    assert_eq!(i2d.samples[0].id, "00000.parquet/000000000", "img2dataset's key column");
    assert_eq!(i2d.count(Split::Train), 12);
    assert_eq!(contents(&files, false), contents(&i2d, false));
}

#[test]
fn webdataset_keys_patterns_and_json_keys() {
    let ds = load_dataset(&format!("webdataset:{}", src("wds").display())).unwrap();
    // Shards sorted: test-000000 (keys 9..11), train-000000 (0..3), train-000001 (4, 5), val.
    assert_eq!(ds.samples[0].id, "test-000000.tar/000009");
    assert_eq!(ds.samples[7].id, "train-000001.tar/000004");
    assert_eq!(ds.class_names, ["0", "1", "2"], ".cls holds 0-based indices");
    match &ds.samples[3].source {
        ImageSource::Tar { member, size, .. } => assert_eq!((member.as_str(), *size), ("000000.png", 1224)),
        other => panic!("{other:?}"),
    }
    let spec = format!(
        "webdataset:{}::{}",
        src("wds/train-{000000..000001}.tar").display(),
        src("wds/val-000000.tar").display()
    );
    let options =
        DatasetOptions { label_key: Some("food".into()), text_key: Some("caption".into()), ..Default::default() };
    let ds = load_dataset_with(&spec, &options).unwrap();
    assert_eq!(ds.samples.len(), 9);
    assert_eq!(ds.class_names, ["apple", "bread", "curry"], "names from the JSON key, sorted");
    assert_eq!(ds.samples[1].text.as_deref(), Some("sliced white bread"));
    assert_eq!(ds.samples[4].text, None, "b1's caption is empty");
    assert_eq!(ds.samples[6].split, Split::Val);
    let err = err_text(load_dataset_with(
        &format!("webdataset:{}", src("wds").display()),
        &DatasetOptions { label_key: Some("nope".into()), ..Default::default() },
    ));
    assert!(err.contains("test-000000.tar member 1 (key 000009)") && err.contains("\"nope\""), "{err}");
}

#[test]
fn bad_members_fail_one_by_one_when_read() {
    let ds = load_dataset(&format!("webdataset:{}", src("bad/bad-000000.tar").display())).unwrap();
    let ids: Vec<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        ["bad-000000.tar/000000", "bad-000000.tar/000001", "bad-000000.tar/000002", "bad-000000.tar/000003"]
    );
    let mut reader = ImageBytesReader::new();
    // The corrupt JPEG is read as its 300 bytes (decoding rejects it later).
    assert_eq!(reader.read(&ds.samples[1]).unwrap().len(), 300);
    let err = err_text(reader.read(&ds.samples[2]));
    assert!(
        err.contains("key 000002") && err.contains("no jpg/jpeg/png/webp member") && err.contains("000002.txt"),
        "{err}"
    );
    assert_eq!(reader.read(&ds.samples[3]).unwrap().len(), 1358, "a1.jpg after the bad ones");

    // Cut inside 000002.png: the two samples before it read, it fails naming the member.
    let ds = load_dataset(&format!("webdataset:{}", src("bad/cut-000000.tar").display())).unwrap();
    assert_eq!(ds.samples.len(), 3);
    assert_eq!(reader.read(&ds.samples[1]).unwrap().len(), 1276, "b0.jpg");
    let err = err_text(reader.read(&ds.samples[2]));
    assert!(err.contains("cut off inside member 000002.png"), "{err}");

    let ds = load_dataset(&format!("hf:{}", src("bad/empty_bytes.parquet").display())).unwrap();
    assert_eq!(reader.read(&ds.samples[0]).unwrap().len(), 1224, "a0.png");
    let err = err_text(reader.read(&ds.samples[1]));
    assert!(err.contains("empty image bytes"), "{err}");
}

#[test]
fn repeated_tar_key_names_both_members() {
    // dup-000000.tar: k1 (2 members), k2 (2 members), k1 again at member 5.
    let err = err_text(load_dataset(&format!("webdataset:{}", src("bad/dup-000000.tar").display())));
    assert!(err.contains("member 5") && err.contains("\"k1\" repeats member 1"), "{err}");
}

#[test]
fn hf_flags_are_checked() {
    let hf = format!("hf:{}", src("hf").display());
    let opts = DatasetOptions { label_column: Some("food".into()), ..Default::default() };
    let err = err_text(load_dataset_with(&hf, &opts));
    assert!(err.contains("--label-column \"food\": no such column") && err.contains("image, label, text"), "{err}");
    let opts = DatasetOptions { label_key: Some("food".into()), ..Default::default() };
    let err = err_text(load_dataset_with(&hf, &opts));
    assert!(err.contains("--label-key applies to --dataset webdataset"), "{err}");
    // Text from an explicit column: the text column itself.
    let opts = DatasetOptions { text_column: Some("text".into()), ..Default::default() };
    assert_eq!(load_dataset_with(&hf, &opts).unwrap().count_with_text(), 11);
}

#[test]
fn save_to_disk_folders_point_to_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("data-00000-of-00001.arrow"), b"x").unwrap();
    let err = err_text(load_dataset(&format!("hf:{}", dir.path().display())));
    assert!(err.contains("save_to_disk") && err.contains("to_parquet"), "{err}");
}
