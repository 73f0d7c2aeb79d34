//! A cache written before the sidecars were hidden (schema version 1) is still read,
//! and resuming it renames its sidecars without rewriting its parts.
//!
//! `fixtures/cache_v1/` was written by the schema version 1 build (commit 9192b7c) with, from
//! `extract/`: `marnet-extract run --dataset manifest:tests/fixtures/dataset/with_bad.csv
//! --image-model tests/fixtures/tiny/clip --text-model tests/fixtures/tiny/bert --out
//! tests/fixtures/cache_v1 --rows-per-part 5 --on-bad-image skip`. The model specs are relative
//! so that this test (run from `extract/`, as cargo runs tests) passes the same ones.

mod extract_common;

use clap::Parser;
use extract_common::*;
use marnet_data::cache::CacheManifest;
use marnet_extract::pipeline::read_bad_inputs;
use std::path::{Path, PathBuf};

const BAD: [&str; 4] = ["images/corrupt.jpg", "images/empty.jpg", "images/missing.jpg", "images/truncated.jpg"];

fn fixture_cache() -> PathBuf {
    PathBuf::from(fixture("cache_v1"))
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        if e.path().is_dir() {
            copy_tree(&e.path(), &dst.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn the_schema_1_fixture_has_the_old_names_and_reads() {
    let dir = fixture_cache();
    let mut expected = vec!["bad_inputs", "bad_inputs.jsonl", "extract_plan.json", "manifest.json"];
    let parts: Vec<String> = (0..4).map(|i| format!("part-{i:05}-of-00004.parquet")).collect();
    expected.extend(parts.iter().map(String::as_str));
    assert_eq!(names(&dir), expected);
    assert_eq!(read(&dir).rows.ids, IDS);
    let bad: Vec<String> = read_bad_inputs(&dir).unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(bad, BAD);
    let manifest = CacheManifest::read(&dir).unwrap().expect("manifest.json");
    assert_eq!((manifest.schema_version, manifest.total_parts, manifest.completed), (1, 4, true));
}

/// A schema-1 cache was written before EXIF orientation was applied and before CLIP's default
/// pooling became `pooler_output` (issues 16 and 13), so resuming it with this build is refused
/// (its features would not match new ones), with the EXIF hint; its parts stay as they were. (The sidecar migration on resume is covered in marnet-data's `legacy` test.)
#[test]
fn resuming_a_schema_1_cache_of_an_older_build_is_refused_and_leaves_it_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cache");
    copy_tree(&fixture_cache(), &out);
    // As if the shard owning part 2 had not finished.
    let part2 = "part-00002-of-00004.parquet";
    std::fs::remove_file(out.join(part2)).unwrap();
    let out_arg = out.display().to_string();
    let argv = [
        "marnet-extract",
        "run",
        "--dataset",
        "manifest:tests/fixtures/dataset/with_bad.csv",
        "--image-model",
        "tests/fixtures/tiny/clip",
        "--text-model",
        "tests/fixtures/tiny/bert",
        "--out",
        &out_arg,
        "--rows-per-part",
        "5",
        "--on-bad-image",
        "skip",
        "--quiet",
        "--image-pooling",
        "image_embeds",
    ];
    let err = marnet_extract::cli::Cli::try_parse_from(argv)
        .map_err(anyhow::Error::from)
        .and_then(marnet_extract::cli::run)
        .expect_err("an older build's cache must not be resumed");
    let e = format!("{err:#}");
    assert!(e.contains("refusing to mix") && e.contains("EXIF orientation"), "{e}");
    let parts: Vec<String> = (0..4).map(|i| format!("part-{i:05}-of-00004.parquet")).collect();
    for p in parts.iter().filter(|p| p.as_str() != part2) {
        assert!(
            std::fs::read(out.join(p)).unwrap() == std::fs::read(fixture_cache().join(p)).unwrap(),
            "{p} rewritten"
        );
    }
    assert!(!out.join(part2).exists(), "nothing extracted into a refused cache");
    // Still the cache it was: three parts of four, which the reader reports as such.
    let e = format!("{:#}", marnet_data::cache::read_cache(&out).unwrap_err());
    assert!(e.contains("1 of 4 parts missing: part-00002-of-00004.parquet"), "{e}");
}
