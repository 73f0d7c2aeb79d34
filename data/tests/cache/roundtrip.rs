//! 10,000 × 768 features written in two parts and read back bit for bit.

use std::fs::File;

use marnet_data::cache::{part_file_name, read_cache, CacheWriter, FeatureRows};
use ndarray::{concatenate, Axis};
use parquet::file::reader::{FileReader, SerializedFileReader};

use crate::common::{assert_bits_eq, lcg_rows, metadata};

fn cat<T: Clone>(x: &[T], y: &[T]) -> Vec<T> {
    x.iter().chain(y).cloned().collect()
}

fn concat(a: &FeatureRows, b: &FeatureRows) -> FeatureRows {
    FeatureRows {
        ids: cat(&a.ids, &b.ids),
        splits: cat(&a.splits, &b.splits),
        labels: cat(&a.labels, &b.labels),
        x_v: concatenate(Axis(0), &[a.x_v.view(), b.x_v.view()]).unwrap(),
        x_s: concatenate(Axis(0), &[a.x_s.view(), b.x_s.view()]).unwrap(),
        has_text: cat(&a.has_text, &b.has_text),
    }
}

#[test]
fn ten_thousand_rows_round_trip_bit_exact() {
    let (d_v, d_s) = (768, 384);
    let tmp = tempfile::tempdir().unwrap();
    let writer = CacheWriter::create_or_resume(tmp.path(), metadata(d_v, d_s), 2).unwrap();
    let part0 = lcg_rows(0, 6000, d_v, d_s, 1);
    let part1 = lcg_rows(6000, 4000, d_v, d_s, 2);
    // written out of order: the reader orders by part index
    writer.write_part(1, &part1).unwrap();
    writer.write_part(0, &part0).unwrap();
    writer.finish().unwrap();

    let cache = read_cache(tmp.path()).unwrap();
    let expected = concat(&part0, &part1);
    assert_eq!(cache.rows.len(), 10_000);
    assert_eq!(cache.rows.ids[0], "img/0.jpg");
    assert_eq!(cache.rows.ids[6000], "img/6000.jpg");
    assert_eq!(cache.rows.ids, expected.ids);
    assert_eq!(cache.rows.splits, expected.splits);
    assert_eq!(cache.rows.labels, expected.labels);
    // rows i % 4 == 3 have no text: 2,500 of 10,000
    assert_eq!(cache.rows.has_text.iter().filter(|t| !**t).count(), 2500);
    assert_eq!(cache.rows.has_text, expected.has_text);
    assert_bits_eq(&cache.rows.x_v, &expected.x_v);
    assert_bits_eq(&cache.rows.x_s, &expected.x_s);
    assert_eq!(cache.metadata, metadata(d_v, d_s));
    assert!(cache.rows.x_v.is_standard_layout());

    // The 6,000-row part spans two row groups (4,096 rows each at most) and, per row group,
    // several data pages of x_v (4,096 × 768 × 4 B ≈ 12 MiB against a 1 MiB page limit).
    let reader = SerializedFileReader::new(File::open(tmp.path().join(part_file_name(0, 2))).unwrap()).unwrap();
    let meta = reader.metadata();
    assert_eq!(meta.num_row_groups(), 2);
    assert_eq!(meta.row_group(0).num_rows(), 4096);
    let x_v_leaf = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.path().string().starts_with("x_v"))
        .unwrap();
    let pages = reader.get_row_group(0).unwrap().get_column_page_reader(x_v_leaf).unwrap().count();
    assert!(pages >= 4, "x_v in row group 0 has only {pages} pages");
}

#[test]
fn empty_part_and_zero_text_width_are_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let writer = CacheWriter::create_or_resume(tmp.path(), metadata(4, 3), 2).unwrap();
    writer.write_part(0, &FeatureRows::empty(4, 3)).unwrap();
    writer.write_part(1, &lcg_rows(0, 3, 4, 3, 9)).unwrap();
    let cache = read_cache(tmp.path()).unwrap();
    assert_eq!(cache.rows.ids, ["img/0.jpg", "img/1.jpg", "img/2.jpg"]);
    assert_eq!(cache.rows.x_v.dim(), (3, 4));
}
