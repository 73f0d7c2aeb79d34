//! Interrupted and sharded extraction: a run stopped after one part (`--stop-after-parts`, the
//! deterministic stand-in for a kill) and resumed, and `--shard 0/2` + `--shard 1/2` into one
//! folder, both give exactly the cache of one uninterrupted run.

mod extract_common;

use extract_common::*;

#[test]
fn killed_then_resumed_equals_uninterrupted() {
    let (full, resumed) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let flags = ["--rows-per-part", "4", "--batch-size", "3"];
    run(&dataset("manifest.csv"), full.path(), &flags).unwrap();

    let mut stop = flags.to_vec();
    stop.extend(["--stop-after-parts", "1"]);
    let err = run(&dataset("manifest.csv"), resumed.path(), &stop).unwrap_err();
    assert!(format!("{err:#}").contains("stop-after-parts"), "{err:#}");
    // 13 rows in parts of 4 = 4 parts; only the first was written.
    assert_eq!(part_files(resumed.path()), ["part-00000-of-00004.parquet"]);
    assert!(marnet_data::cache::read_cache(resumed.path()).is_err(), "an incomplete cache must not read as complete");

    // A leftover temp file of a dead writer, as a kill during a part write leaves it.
    std::fs::write(resumed.path().join(".part-00001-of-00004.parquet.999999.tmp"), b"half a part").unwrap();
    run(&dataset("manifest.csv"), resumed.path(), &flags).unwrap();
    assert_eq!(part_files(resumed.path()).len(), 4);
    assert_same_rows(&read(full.path()), &read(resumed.path()));
}

#[test]
fn two_shards_into_one_folder_equal_the_unsharded_run() {
    let (full, sharded) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(&dataset("manifest.csv"), full.path(), &["--rows-per-part", "3"]).unwrap();
    // 13 rows in parts of 3 = 5 parts: shard 0/2 owns parts 0, 2, 4; shard 1/2 owns 1, 3.
    run(&dataset("manifest.csv"), sharded.path(), &["--rows-per-part", "3", "--shard", "0/2"]).unwrap();
    assert_eq!(
        part_files(sharded.path()),
        ["part-00000-of-00005.parquet", "part-00002-of-00005.parquet", "part-00004-of-00005.parquet"]
    );
    run(&dataset("manifest.csv"), sharded.path(), &["--rows-per-part", "3", "--shard", "1/2"]).unwrap();
    assert_eq!(part_files(sharded.path()).len(), 5);
    assert_same_rows(&read(full.path()), &read(sharded.path()));
}
