//! `--on-bad-image`: `fixtures/dataset/with_bad.csv` is `manifest.csv` plus a corrupt JPEG
//! (row 3), an empty file (row 8), a missing file (row 13) and a truncated JPEG (row 17: the
//! first 900 of c3.jpg's 1,153 bytes, cut inside the compressed scan that starts at byte 609;
//! the `image` crate alone decodes it without an error). The CMYK JPEG, greyscale PNG and RGBA
//! PNG of the good rows must decode.

mod extract_common;

use extract_common::*;
use marnet_extract::pipeline::read_bad_inputs;

#[test]
fn fail_names_the_file_and_keeps_finished_parts() {
    let out = tempfile::tempdir().unwrap();
    // Parts of 2 rows: part 0 = a0, b0 (good); part 1 starts with corrupt.jpg.
    let err = run(&dataset("with_bad.csv"), out.path(), &["--rows-per-part", "2"]).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("corrupt.jpg") && msg.contains("--on-bad-image skip"), "{msg}");
    assert_eq!(part_files(out.path()), ["part-00000-of-00009.parquet"]);
    assert!(
        marnet_data::cache::read_cache(out.path()).is_err(),
        "8 of 9 parts are missing: the cache must not read as complete"
    );
    // The finished part stays valid: a rerun with `skip` keeps it (not rewritten) and completes.
    let part0 = out.path().join("part-00000-of-00009.parquet");
    let before = std::fs::metadata(&part0).unwrap().modified().unwrap();
    run(&dataset("with_bad.csv"), out.path(), &["--rows-per-part", "2", "--on-bad-image", "skip"]).unwrap();
    assert_eq!(std::fs::metadata(&part0).unwrap().modified().unwrap(), before);
    assert_eq!(read(out.path()).rows.ids, IDS);
}

#[test]
fn skip_lists_bad_samples_and_keeps_the_good_rows_unchanged() {
    let (good, bad) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&dataset("manifest.csv"), good.path(), &["--rows-per-part", "4"]).unwrap();
    run(&dataset("with_bad.csv"), bad.path(), &["--rows-per-part", "4", "--on-bad-image", "skip", "--batch-size", "5"])
        .unwrap();
    let listed = read_bad_inputs(bad.path()).unwrap();
    let ids: Vec<&str> = listed.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["images/corrupt.jpg", "images/empty.jpg", "images/missing.jpg", "images/truncated.jpg"]);
    assert!(listed.iter().all(|b| b.path.ends_with(&b.id) && !b.reason.is_empty()), "{listed:?}");
    assert!(listed[1].reason.contains("empty file"), "{:?}", listed[1]);
    assert!(listed[3].reason.contains("truncated JPEG"), "{:?}", listed[3]);
    // The 13 good rows, in order and bit for bit as extracted without the bad files (the part
    // boundaries differ: 17 rows in parts of 4 vs 13), so nothing of a bad row leaks in.
    let (g, b) = (read(good.path()), read(bad.path()));
    assert_eq!(b.rows.ids, IDS);
    assert_same_rows(&g, &b);

    // Resuming a finished cache keeps the list as it is (no duplicates).
    run(&dataset("with_bad.csv"), bad.path(), &["--rows-per-part", "4", "--on-bad-image", "skip"]).unwrap();
    assert_eq!(read_bad_inputs(bad.path()).unwrap().len(), 4);
}
