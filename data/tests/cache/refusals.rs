//! Caches that must not be mixed or read: other models, other widths, missing parts, NaN,
//! another schema version.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, Field, Schema};
use marnet_data::cache::{part_file_name, read_cache, CacheMetadata, CacheWriter, ITEM_FIELD};
use marnet_data::Split;
use parquet::arrow::ArrowWriter;

use crate::common::{err_text, lcg_rows, metadata};

/// Writes one part of `total` with `meta` into its own folder and moves it into `dir`.
fn foreign_part(dir: &std::path::Path, meta: CacheMetadata, index: usize, total: usize) {
    let other = tempfile::tempdir().unwrap();
    let (d_v, d_s) = (meta.d_v, meta.d_s);
    let w = CacheWriter::create_or_resume(other.path(), meta, total).unwrap();
    w.write_part(index, &lcg_rows(100, 3, d_v, d_s, 7)).unwrap();
    let name = part_file_name(index, total);
    std::fs::copy(other.path().join(&name), dir.join(&name)).unwrap();
}

#[test]
fn writer_refuses_a_folder_of_other_models_or_dims() {
    let tmp = tempfile::tempdir().unwrap();
    let w = CacheWriter::create_or_resume(tmp.path(), metadata(8, 4), 2).unwrap();
    w.write_part(0, &lcg_rows(0, 3, 8, 4, 1)).unwrap();

    let mut other_model = metadata(8, 4);
    other_model.image_model = "openai/clip-vit-base-patch16".into();
    let err = err_text(CacheWriter::create_or_resume(tmp.path(), other_model, 2));
    assert!(err.contains("refusing to mix"), "{err}");
    assert!(err.contains("marnet.image_model:"), "{err}");
    assert!(err.contains("openai/clip-vit-base-patch16"), "{err}");
    assert!(!err.contains("tool_version"), "{err}");

    let err = err_text(CacheWriter::create_or_resume(tmp.path(), metadata(16, 4), 2));
    assert!(err.contains("marnet.d_v: \"8\" vs \"16\""), "{err}");

    let err = err_text(CacheWriter::create_or_resume(tmp.path(), metadata(8, 4), 3));
    assert!(err.contains("2 parts, not 3"), "{err}");

    // With .manifest.json gone, the part files themselves still refuse.
    std::fs::remove_file(tmp.path().join(".manifest.json")).unwrap();
    let mut other_text = metadata(8, 4);
    other_text.text_model_sha256 = "cc".repeat(32);
    let err = err_text(CacheWriter::create_or_resume(tmp.path(), other_text, 2));
    assert!(err.contains("part-00000-of-00002.parquet") && err.contains("marnet.text_model_sha256"), "{err}");
}

/// A cache written before EXIF orientation was applied (no `exif_orientation` in its
/// preprocessing) is refused by a build that applies it, and the message says why.
#[test]
fn writer_refuses_a_cache_that_ignored_exif_orientation() {
    let tmp = tempfile::tempdir().unwrap();
    let old = metadata(8, 4);
    assert!(old.preprocess.get("exif_orientation").is_none());
    let w = CacheWriter::create_or_resume(tmp.path(), old.clone(), 1).unwrap();
    w.write_part(0, &lcg_rows(0, 3, 8, 4, 1)).unwrap();
    let mut new = old;
    new.preprocess["exif_orientation"] = "applied".into();
    let err = err_text(CacheWriter::create_or_resume(tmp.path(), new, 1));
    assert!(err.contains("refusing to mix") && err.contains("marnet.preprocess:"), "{err}");
    assert!(err.contains("ignored the images' EXIF orientation") && err.contains("re-extract"), "{err}");
    assert!(!err.contains('\n'), "{err}");
}

#[test]
fn reader_refuses_parts_of_other_models_dims_or_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let w = CacheWriter::create_or_resume(tmp.path(), metadata(8, 4), 2).unwrap();
    w.write_part(0, &lcg_rows(0, 3, 8, 4, 1)).unwrap();

    let mut other_model = metadata(8, 4);
    other_model.text_model = "bert-base-uncased".into();
    foreign_part(tmp.path(), other_model, 1, 2);
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("part-00001-of-00002.parquet") && err.contains("marnet.text_model:"), "{err}");
    assert!(err.contains("refusing to mix"), "{err}");

    foreign_part(tmp.path(), metadata(12, 4), 1, 2);
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("marnet.d_v: \"8\" vs \"12\""), "{err}");

    std::fs::remove_file(tmp.path().join(part_file_name(1, 2))).unwrap();
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("1 of 2 parts missing: part-00001-of-00002.parquet"), "{err}");

    foreign_part(tmp.path(), metadata(8, 4), 1, 3);
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("mixes caches of 2 and 3 parts"), "{err}");
}

#[test]
fn writer_refuses_nan_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let w = CacheWriter::create_or_resume(tmp.path(), metadata(8, 4), 1).unwrap();
    let mut rows = lcg_rows(0, 3, 8, 4, 1);
    rows.x_v[[2, 5]] = f32::NAN;
    let err = err_text(w.write_part(0, &rows));
    assert!(err.contains("row \"img/2.jpg\": x_v[5] is NaN"), "{err}");
    assert!(!w.is_part_done(0));
    // x_s of a text-less row (3 % 4 == 3) is not stored: a NaN there is accepted, read as 0
    let mut rows = lcg_rows(0, 4, 8, 4, 1);
    rows.x_s[[3, 1]] = f32::NAN;
    w.write_part(0, &rows).unwrap();
    let cache = marnet_data::cache::read_cache(tmp.path()).unwrap();
    assert!(!cache.rows.has_text[3]);
    assert_eq!(cache.rows.x_s.row(3).to_vec(), [0.0; 4]);
    rows.labels[1] = 3;
    let err = err_text(w.write_part(0, &rows));
    assert!(err.contains("label 3 out of range for 3 classes"), "{err}");
}

/// Writes a part by hand, bypassing the writer's checks, in the DESIGN.md §3 layout: no
/// `has_text` column and `x_s` null where a row has no text. Rows a.jpg, b.jpg, c.jpg (c has
/// no text); `x_s_b` is b.jpg's text feature.
fn hand_written_part(path: &std::path::Path, kv: HashMap<String, String>, x_s_b: [f32; 2]) {
    let item = Arc::new(Field::new(ITEM_FIELD, DataType::Float32, true));
    let list_type = DataType::FixedSizeList(item.clone(), 2);
    let schema = Arc::new(Schema::new_with_metadata(
        vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("split", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
            Field::new("label", DataType::Int32, false),
            Field::new("x_v", list_type.clone(), false),
            Field::new("x_s", list_type, true),
        ],
        kv,
    ));
    let list = |v: Vec<f32>, nulls: Option<NullBuffer>| -> ArrayRef {
        Arc::new(FixedSizeListArray::try_new(item.clone(), 2, Arc::new(Float32Array::from(v)), nulls).unwrap())
    };
    let split = DictionaryArray::<Int32Type>::try_new(
        Int32Array::from(vec![0, 0, 1]),
        Arc::new(StringArray::from(vec!["train", "val"])),
    )
    .unwrap();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec!["a.jpg", "b.jpg", "c.jpg"])),
        Arc::new(split),
        Arc::new(Int32Array::from(vec![0, 1, 2])),
        list(vec![0.5, 0.25, 1.0, 2.0, -1.0, 8.0], None),
        list(vec![1.0, 2.0, x_s_b[0], x_s_b[1], 0.0, 0.0], Some(NullBuffer::from(vec![true, true, false]))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut writer = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn reader_refuses_nan_and_other_schema_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let mut meta = metadata(2, 2);
    meta.class_names = vec!["a".into(), "b".into(), "c".into()];
    let kv: HashMap<String, String> = meta.to_kv().into_iter().collect();
    let path = tmp.path().join(part_file_name(0, 1));
    hand_written_part(&path, kv.clone(), [3.0, f32::INFINITY]);
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("part-00000-of-00001.parquet"), "{err}");
    assert!(err.contains("row \"b.jpg\": column x_s[1] is inf"), "{err}");

    // The nullable-x_s variant reads: null row = no text, zeros.
    hand_written_part(&path, kv.clone(), [3.0, 4.0]);
    let cache = read_cache(tmp.path()).unwrap();
    assert_eq!(cache.rows.x_s.as_slice().unwrap(), [1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
    assert_eq!(cache.rows.x_v.as_slice().unwrap(), [0.5, 0.25, 1.0, 2.0, -1.0, 8.0]);
    assert_eq!(cache.rows.has_text, [true, true, false]);
    assert_eq!(cache.rows.splits, [Split::Train, Split::Train, Split::Val]);

    let mut future = kv;
    future.insert("marnet.schema_version".into(), "3".into());
    hand_written_part(&path, future, [3.0, 4.0]);
    let err = err_text(read_cache(tmp.path()));
    assert!(err.contains("cache schema version 3, but this build reads versions 1 to 2"), "{err}");
}
