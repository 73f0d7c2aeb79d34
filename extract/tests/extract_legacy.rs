//! A cache written before the sidecars were hidden (schema version 1, issue 15) is still read,
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

#[test]
fn resuming_a_schema_1_cache_renames_its_sidecars_and_keeps_its_parts() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cache");
    copy_tree(&fixture_cache(), &out);
    // As if the shard owning part 2 had not finished.
    let part2 = "part-00002-of-00004.parquet";
    std::fs::remove_file(out.join(part2)).unwrap();
    let out_arg = out.display().to_string();
    let argv = [
        "marnet-extract", "run", "--dataset", "manifest:tests/fixtures/dataset/with_bad.csv",
        "--image-model", "tests/fixtures/tiny/clip", "--text-model", "tests/fixtures/tiny/bert",
        "--out", &out_arg, "--rows-per-part", "5", "--on-bad-image", "skip", "--quiet",
    ];
    marnet_extract::cli::Cli::try_parse_from(argv)
        .map_err(anyhow::Error::from)
        .and_then(marnet_extract::cli::run)
        .unwrap_or_else(|e| panic!("resuming the schema 1 cache (run from {:?}): {e:#}", std::env::current_dir()));
    let mut expected = vec![".bad_inputs.jsonl"];
    let lists: Vec<String> = (0..4).map(|i| format!(".bad_inputs.part-{i:05}.jsonl")).collect();
    expected.extend(lists.iter().map(String::as_str));
    expected.extend([".extract_plan.json", ".manifest.json"]);
    let parts: Vec<String> = (0..4).map(|i| format!("part-{i:05}-of-00004.parquet")).collect();
    expected.extend(parts.iter().map(String::as_str));
    assert_eq!(names(&out), expected);
    // Parts 0, 1 and 3 are the fixture's files, byte for byte; part 2 was extracted again.
    for p in parts.iter().filter(|p| p.as_str() != part2) {
        assert!(std::fs::read(out.join(p)).unwrap() == std::fs::read(fixture_cache().join(p)).unwrap(), "{p} rewritten");
    }
    assert_same_rows(&read(&fixture_cache()), &read(&out));
    let bad: Vec<String> = read_bad_inputs(&out).unwrap().into_iter().map(|b| b.id).collect();
    assert_eq!(bad, BAD);
    let manifest = CacheManifest::read(&out).unwrap().unwrap();
    assert_eq!((manifest.schema_version, manifest.parts.len(), manifest.completed), (2, 4, true));
}
