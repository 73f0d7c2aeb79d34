//! Manifests in CSV, TSV, JSONL (folder with metadata.jsonl + classes.txt) and Parquet.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, Int64Array, RecordBatch, StringArray};
use marnet_data::{load_dataset, DatasetKind, Split};
use parquet::arrow::ArrowWriter;

use crate::common::{err_text, fixture};

type Row<'a> = (&'a str, u32, Option<&'a str>, Split);

fn rows(ds: &marnet_data::Dataset) -> Vec<Row<'_>> {
    ds.samples.iter().map(|s| (s.id.as_str(), s.label, s.text.as_deref(), s.split)).collect()
}

#[test]
fn csv_manifest_with_class_names_and_split_synonyms() {
    let file = fixture("manifest").join("manifest.csv");
    let ds = load_dataset(&format!("manifest:{}", file.display())).unwrap();
    assert_eq!(ds.kind, DatasetKind::Manifest);
    assert_eq!(ds.root, fixture("manifest"));
    // labels soup, cake, soup, bread -> sorted unique classes bread=0, cake=1, soup=2
    assert_eq!(ds.class_names, ["bread", "cake", "soup"]);
    let expected: Vec<Row> = vec![
        ("images/a.jpg", 2, Some("tomato soup, hot"), Split::Train),
        ("images/b.jpg", 1, None, Split::Val), // split "validation", empty text
        ("images/c.jpg", 2, Some("clear broth"), Split::Train), // "./" stripped, empty split = train
        ("images/d.jpg", 0, Some("rye bread"), Split::Test), // split "eval"
    ];
    assert_eq!(rows(&ds), expected);
    assert_eq!(ds.samples[3].image_path, fixture("manifest").join("images/d.jpg"));
    assert!(ds.missing_files().is_empty());
}

#[test]
fn tsv_manifest_with_integer_labels_and_a_missing_image() {
    let file = fixture("manifest").join("manifest.tsv");
    let ds = load_dataset(&format!("manifest:{}", file.display())).unwrap();
    // integer labels 2, 0, 2, 1 -> K = 3 classes named "0", "1", "2"
    assert_eq!(ds.class_names, ["0", "1", "2"]);
    let expected: Vec<Row> = vec![
        ("images/a.jpg", 2, Some("tomato soup"), Split::Train),
        ("images/b.jpg", 0, None, Split::Val),
        ("images/c.jpg", 2, Some("clear broth"), Split::Test),
        ("images/missing.jpg", 1, Some("ghost"), Split::Train),
    ];
    assert_eq!(rows(&ds), expected);
    assert_eq!(ds.missing_files(), vec![fixture("manifest").join("images/missing.jpg")]);
    let err = err_text(ds.check_images_exist());
    assert!(err.contains("1 of 4 image files"), "{err}");
    assert!(err.contains("images/missing.jpg"), "{err}");
}

#[test]
fn jsonl_manifest_folder_uses_classes_txt() {
    // The folder holds metadata.jsonl and classes.txt (zebra, apple, mango).
    let ds = load_dataset(&format!("manifest:{}", fixture("manifest_jsonl").display())).unwrap();
    assert_eq!(ds.class_names, ["zebra", "apple", "mango"]);
    let expected: Vec<Row> = vec![
        ("img/p.png", 0, Some("striped"), Split::Train), // label index 0 -> zebra
        ("img/q.png", 2, None, Split::Test),             // label name "mango", text null
        ("img/r.png", 1, None, Split::Train),            // text "  " -> None; no split -> train
    ];
    assert_eq!(rows(&ds), expected);
}

#[test]
fn folder_with_two_manifests_is_ambiguous() {
    let err = err_text(load_dataset(&format!("manifest:{}", fixture("manifest").display())));
    assert!(err.contains("several manifests"), "{err}");
    assert!(err.contains("manifest.csv") && err.contains("manifest.tsv"), "{err}");
}

#[test]
fn parquet_manifest_with_dictionary_split_and_int64_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("metadata.parquet");
    let split_keys = arrow_array::Int32Array::from(vec![0, 1, 2]);
    let split_values = StringArray::from(vec!["train", "test", "dev"]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("file_name", Arc::new(StringArray::from(vec!["x.jpg", "sub/y.jpg", "z.jpg"]))),
        ("text", Arc::new(StringArray::from(vec![Some("one"), None, Some("three")]))),
        ("label", Arc::new(Int64Array::from(vec![1, 0, 1]))),
        ("split", Arc::new(DictionaryArray::<Int32Type>::try_new(split_keys, Arc::new(split_values)).unwrap())),
    ];
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();

    let ds = load_dataset(&format!("manifest:{}", tmp.path().display())).unwrap();
    assert_eq!(ds.class_names, ["0", "1"]);
    let expected: Vec<Row> = vec![
        ("x.jpg", 1, Some("one"), Split::Train),
        ("sub/y.jpg", 0, None, Split::Test),
        ("z.jpg", 1, Some("three"), Split::Val),
    ];
    assert_eq!(rows(&ds), expected);
    assert_eq!(ds.missing_files().len(), 3);
}
