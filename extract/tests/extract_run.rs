//! `marnet-extract run` end to end on the fixture dataset with the tiny CLIP + BERT checkpoints:
//! cache contents (rows, dims, null text features, metadata), batch-size invariance and
//! refusal to mix caches.

mod extract_common;

use extract_common::*;
use marnet_data::Split;

#[test]
fn cache_has_every_row_with_dims_nulls_and_metadata() {
    let out = tempfile::tempdir().unwrap();
    run(&dataset("manifest.csv"), out.path(), &["--batch-size", "4", "--rows-per-part", "5"]).unwrap();
    // 13 rows in parts of 5: 3 parts.
    assert_eq!(
        part_files(out.path()),
        ["part-00000-of-00003.parquet", "part-00001-of-00003.parquet", "part-00002-of-00003.parquet"]
    );
    let cache = read(out.path());
    let r = &cache.rows;
    assert_eq!(r.ids, IDS);
    // Labels: sorted class names apple=0, bread=1, curry=2 (manifest.csv column `label`).
    assert_eq!(cache.metadata.class_names, ["apple", "bread", "curry"]);
    assert_eq!(r.labels, [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 2]);
    use Split::*;
    assert_eq!(r.splits, [Train, Train, Train, Train, Train, Train, Val, Val, Val, Test, Test, Test, Train]);
    // x_s only for train/val rows with a text: b1.png has an empty text, rows 9-11 are test.
    let expected_text = [true, true, true, true, false, true, true, true, true, false, false, false, true];
    assert_eq!(r.has_text, expected_text);
    // D_v = tiny CLIP hidden_size 32 (default pooling pooler_output, before the projection to
    // projection_dim 24), D_s = tiny BERT hidden_size 32 (their config.json).
    assert_eq!(r.x_v.dim(), (13, 32));
    assert_eq!(r.x_s.dim(), (13, 32));
    assert_eq!((cache.metadata.d_v, cache.metadata.d_s), (32, 32));
    for (i, has) in expected_text.iter().enumerate() {
        let norm: f32 = r.x_s.row(i).iter().map(|v| v * v).sum::<f32>().sqrt();
        // The tiny BERT ends in a sentence-transformers Normalize module: unit vectors.
        let want = if *has { 1.0 } else { 0.0 };
        assert!((norm - want).abs() < 1e-5, "row {i}: |x_s| = {norm}, expected {want}");
        assert!(r.x_v.row(i).iter().any(|v| *v != 0.0), "row {i}: x_v is all zero");
    }
    // Distinct images give distinct features (rows are not copies of one another).
    assert_ne!(r.x_v.row(0), r.x_v.row(1));
    let m = &cache.metadata;
    assert_eq!((m.image_model_type.as_str(), m.image_pooling.as_str()), ("clip_vision_model", "pooler_output"));
    assert_eq!((m.text_model_type.as_str(), m.text_pooling.as_str()), ("bert", "mean"));
    assert!(m.text_normalize);
    assert_eq!(m.dtype, "f32");
    assert_eq!(m.preprocess["resample"], "bicubic", "preprocess metadata: {}", m.preprocess);
    assert_eq!(m.preprocess["exif_orientation"], "applied", "the EXIF orientation is recorded in the preprocessing");
    assert_eq!(m.image_model_sha256.len(), 64);
    assert!(!out.path().join(".bad_inputs.jsonl").exists());
}

#[test]
fn batch_size_one_and_seven_give_identical_caches() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&dataset("manifest.csv"), a.path(), &["--batch-size", "1", "--rows-per-part", "6"]).unwrap();
    run(&dataset("manifest.csv"), b.path(), &["--batch-size", "7", "--rows-per-part", "6"]).unwrap();
    assert_same_rows(&read(a.path()), &read(b.path()));
}

#[test]
fn rerun_skips_finished_parts_and_other_settings_are_refused() {
    let out = tempfile::tempdir().unwrap();
    run(&dataset("manifest.csv"), out.path(), &["--rows-per-part", "5"]).unwrap();
    let part0 = out.path().join("part-00000-of-00003.parquet");
    let before = std::fs::metadata(&part0).unwrap().modified().unwrap();
    run(&dataset("manifest.csv"), out.path(), &["--rows-per-part", "5"]).unwrap();
    assert_eq!(std::fs::metadata(&part0).unwrap().modified().unwrap(), before, "a finished part was rewritten");

    let err =
        run(&dataset("manifest.csv"), out.path(), &["--rows-per-part", "5", "--image-pooling", "mean"]).unwrap_err();
    assert!(format!("{err:#}").contains("image_pooling"), "{err:#}");
    let err = run(&dataset("manifest.csv"), out.path(), &["--rows-per-part", "4"]).unwrap_err();
    assert!(format!("{err:#}").contains("parts"), "{err:#}");
    let err = run(&dataset("manifest.csv"), out.path(), &["--rows-per-part", "6"]).unwrap_err();
    assert!(format!("{err:#}").contains("rows-per-part"), "{err:#}");
    assert_eq!(read(out.path()).rows.ids, IDS, "the refused runs changed the cache");
}

#[test]
fn limit_takes_the_first_samples() {
    let out = tempfile::tempdir().unwrap();
    run(&dataset("manifest.csv"), out.path(), &["--limit", "4"]).unwrap();
    assert_eq!(read(out.path()).rows.ids, IDS[..4]);
}

#[test]
fn bad_flags_are_rejected() {
    let out = tempfile::tempdir().unwrap();
    for flags in [&["--shard", "2/2"][..], &["--on-bad-image", "ignore"], &["--batch-size", "0"], &["--dtype", "int8"]]
    {
        assert!(run(&dataset("manifest.csv"), out.path(), flags).is_err(), "{flags:?} accepted");
    }
    assert!(part_files(out.path()).is_empty());
}
