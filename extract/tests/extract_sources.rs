//! `run` on images held in Parquet files and tar shards: the fixtures of
//! `data/tests/fixtures/sources/` (written by `datasets`, `webdataset.ShardWriter` and pyarrow
//! from the same 12 image files; tools/make_dataset_fixtures.py) give bit-identical `x_v` and
//! `x_s` to the plain files, resume and `--shard` work, and each bad input is either a one-line
//! error (finished parts kept) or a `.bad_inputs.jsonl` entry.

mod extract_common;

use extract_common::*;
use marnet_data::cache::FeatureCache;
use marnet_extract::pipeline::read_bad_inputs;
use std::path::Path;

fn src(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/sources").join(rel).display().to_string()
}

/// Row `i` of `from` as (id, split, label, has_text, x_v bits, x_s bits), ids left out.
fn row(c: &FeatureCache, i: usize) -> (marnet_data::Split, u32, bool, Vec<u32>, Vec<u32>) {
    let r = &c.rows;
    let bits = |x: ndarray::ArrayView1<f32>| x.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
    (r.splits[i], r.labels[i], r.has_text[i], bits(r.x_v.row(i)), bits(r.x_s.row(i)))
}

/// Manifest order is train a0 b0 c0 a1 b1 c1, val a2 b2 c2, test a3 b3 c3 (rows 0..12); the
/// Parquet files and shards sort as test, train, val: row k of them is manifest row ORDER[k].
const ORDER: [usize; 12] = [9, 10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8];

#[test]
fn files_parquet_and_tar_give_bit_identical_features() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let flags = ["--rows-per-part", "5"];
    run(&format!("manifest:{}", src("files/manifest.csv")), dirs[0].path(), &flags).unwrap();
    run(&format!("hf:{}", src("hf")), dirs[1].path(), &flags).unwrap();
    run(&format!("webdataset:{}", src("wds")), dirs[2].path(), &flags).unwrap();
    run(&format!("hf:{}", src("img2dataset")), dirs[3].path(), &flags).unwrap();
    let caches: Vec<FeatureCache> = dirs.iter().map(|d| read(d.path())).collect();
    let files = &caches[0];
    assert_eq!(files.rows.ids.len(), 12);
    for (name, cache) in [("hf", &caches[1]), ("webdataset", &caches[2])] {
        assert_eq!(cache.rows.ids.len(), 12, "{name}");
        for (k, &i) in ORDER.iter().enumerate() {
            assert!(
                row(cache, k) == row(files, i),
                "{name} row {k} ({}) differs from {}",
                cache.rows.ids[k],
                files.rows.ids[i]
            );
        }
    }
    assert_eq!(caches[1].rows.ids[0], "data/test-00000-of-00001.parquet/0");
    assert_eq!(caches[2].rows.ids[0], "test-000000.tar/000009");
    // img2dataset: manifest order, all train (x_s is then computed for the test images too).
    let i2d = &caches[3];
    for i in 0..12 {
        assert!(
            i2d.rows.x_v.row(i).iter().zip(files.rows.x_v.row(i)).all(|(a, b)| a.to_bits() == b.to_bits()),
            "img2dataset row {i}"
        );
    }
}

#[test]
fn webdataset_resume_and_shards_equal_one_run() {
    let spec = format!("webdataset:{}", src("wds"));
    let (full, resumed, sharded) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--rows-per-part", "4", "--batch-size", "3"];
    run(&spec, full.path(), &flags).unwrap();
    let mut stop = flags.to_vec();
    stop.extend(["--stop-after-parts", "1"]);
    assert!(run(&spec, resumed.path(), &stop).is_err());
    assert_eq!(part_files(resumed.path()), ["part-00000-of-00003.parquet"]);
    run(&spec, resumed.path(), &flags).unwrap();
    assert_same_rows(&read(full.path()), &read(resumed.path()));
    for share in ["1/2", "0/2"] {
        let mut f = flags.to_vec();
        f.extend(["--shard", share]);
        run(&spec, sharded.path(), &f).unwrap();
    }
    assert_same_rows(&read(full.path()), &read(sharded.path()));
}

#[test]
fn bad_tar_members_fail_in_one_line_or_are_listed() {
    let spec = format!("webdataset:{}", src("bad/bad-000000.tar"));
    let out = tempfile::tempdir().unwrap();
    // Parts of 1 row: part 0 (a0) is written, then the corrupt JPEG of key 000001 stops the run.
    let err = format!("{:#}", run(&spec, out.path(), &["--rows-per-part", "1"]).unwrap_err());
    assert!(err.contains("bad-000000.tar:000001.jpg") && err.contains("--on-bad-image skip"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert_eq!(part_files(out.path()), ["part-00000-of-00004.parquet"]);
    let part0 = out.path().join("part-00000-of-00004.parquet");
    let before = std::fs::metadata(&part0).unwrap().modified().unwrap();
    run(&spec, out.path(), &["--rows-per-part", "1", "--on-bad-image", "skip"]).unwrap();
    assert_eq!(std::fs::metadata(&part0).unwrap().modified().unwrap(), before, "the finished part is kept");
    assert_eq!(read(out.path()).rows.ids, ["bad-000000.tar/000000", "bad-000000.tar/000003"]);
    let bad = read_bad_inputs(out.path()).unwrap();
    let ids: Vec<&str> = bad.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["bad-000000.tar/000001", "bad-000000.tar/000002"]);
    assert!(bad[0].path.ends_with("bad-000000.tar:000001.jpg"), "{:?}", bad[0]);
    assert!(bad[1].reason.contains("no jpg/jpeg/png/webp member"), "{:?}", bad[1]);
}

#[test]
fn cut_shard_and_empty_bytes_are_listed_under_skip() {
    let out = tempfile::tempdir().unwrap();
    run(&format!("webdataset:{}", src("bad/cut-000000.tar")), out.path(), &["--on-bad-image", "skip"]).unwrap();
    let bad = read_bad_inputs(out.path()).unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].id, "cut-000000.tar/000002");
    assert!(bad[0].reason.contains("cut off inside member 000002.png"), "{:?}", bad[0]);
    assert_eq!(read(out.path()).rows.ids, ["cut-000000.tar/000000", "cut-000000.tar/000001"]);

    let out = tempfile::tempdir().unwrap();
    let spec = format!("hf:{}", src("bad/empty_bytes.parquet"));
    let err = format!("{:#}", run(&spec, out.path(), &[]).unwrap_err());
    assert!(err.contains("empty_bytes.parquet row group 0 row 1") && err.contains("empty image bytes"), "{err}");
    run(&spec, out.path(), &["--on-bad-image", "skip"]).unwrap();
    let bad = read_bad_inputs(out.path()).unwrap();
    assert_eq!(bad.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["empty_bytes.parquet/1"]);
    assert_eq!(read(out.path()).rows.ids, ["empty_bytes.parquet/0", "empty_bytes.parquet/2"]);
}

#[test]
fn inspect_takes_the_dataset_flags() {
    let argv = ["marnet-extract", "inspect", "--dataset", "x", "--label-key", "food", "--text-key", "caption"];
    assert!(<marnet_extract::cli::Cli as clap::Parser>::try_parse_from(argv).is_ok());
    let spec = format!("webdataset:{}", src("wds"));
    let out = tempfile::tempdir().unwrap();
    run(&spec, out.path(), &["--label-key", "food", "--text-key", "caption"]).unwrap();
    assert_eq!(read(out.path()).metadata.class_names, ["apple", "bread", "curry"]);
}
