//! `--on-bad-image`: `fixtures/dataset/with_bad.csv` is `manifest.csv` plus a corrupt JPEG
//! (row 3), an empty file (row 8) and a missing file (row 13). The CMYK JPEG, greyscale PNG and
//! RGBA PNG of the good rows must decode.

mod extract_common;

use extract_common::*;
use marnet_extract::pipeline::read_bad_inputs;

#[test]
fn fail_names_the_file_and_keeps_finished_parts() {
    let out = tempfile::tempdir().unwrap();
    // Parts of 2 rows: part 0 = a0, b0 (good); part 1 starts with corrupt.jpg.
    let err = run(
        &dataset("with_bad.csv"),
        out.path(),
        &["--rows-per-part", "2"],
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("corrupt.jpg") && msg.contains("--on-bad-image skip"),
        "{msg}"
    );
    assert_eq!(part_files(out.path()), ["part-00000-of-00008.parquet"]);
    assert!(
        marnet_data::cache::read_cache(out.path()).is_err(),
        "7 of 8 parts are missing: the cache must not read as complete"
    );
    // The finished part stays valid: a rerun with `skip` keeps it (not rewritten) and completes.
    let part0 = out.path().join("part-00000-of-00008.parquet");
    let before = std::fs::metadata(&part0).unwrap().modified().unwrap();
    run(
        &dataset("with_bad.csv"),
        out.path(),
        &["--rows-per-part", "2", "--on-bad-image", "skip"],
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(&part0).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(read(out.path()).rows.ids, IDS);
}

#[test]
fn skip_lists_bad_samples_and_keeps_the_good_rows_unchanged() {
    let (good, bad) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(
        &dataset("manifest.csv"),
        good.path(),
        &["--rows-per-part", "4"],
    )
    .unwrap();
    run(
        &dataset("with_bad.csv"),
        bad.path(),
        &[
            "--rows-per-part",
            "4",
            "--on-bad-image",
            "skip",
            "--batch-size",
            "5",
        ],
    )
    .unwrap();
    let listed = read_bad_inputs(bad.path()).unwrap();
    let ids: Vec<&str> = listed.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "images/corrupt.jpg",
            "images/empty.jpg",
            "images/missing.jpg"
        ]
    );
    assert!(
        listed
            .iter()
            .all(|b| b.path.ends_with(&b.id) && !b.reason.is_empty()),
        "{listed:?}"
    );
    // The 13 good rows, in order and bit for bit as extracted without the bad files (the part
    // boundaries differ: 16 rows in parts of 4 vs 13), so nothing of a bad row leaks in.
    let (g, b) = (read(good.path()), read(bad.path()));
    assert_eq!(b.rows.ids, IDS);
    assert_same_rows(&g, &b);

    // Resuming a finished cache keeps the list as it is (no duplicates).
    run(
        &dataset("with_bad.csv"),
        bad.path(),
        &["--rows-per-part", "4", "--on-bad-image", "skip"],
    )
    .unwrap();
    assert_eq!(read_bad_inputs(bad.path()).unwrap().len(), 3);
}
