//! Caches written before the sidecars were hidden (schema version 1): their
//! `manifest.json` is still read, and a resuming writer renames every old sidecar.

use marnet_data::cache::sidecars::{existing_sidecar, migrate_legacy_sidecars, MANIFEST_FILE};
use marnet_data::cache::{CacheManifest, CacheMetadata, CacheWriter};

use crate::common::{err_text, lcg_rows, metadata, write_tree};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn old_sidecar_names_are_read_then_renamed_by_a_resuming_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let w = CacheWriter::create_or_resume(dir, metadata(8, 4), 2).unwrap();
    w.write_part(0, &lcg_rows(0, 3, 8, 4, 1)).unwrap();
    assert_eq!(names(dir), [".manifest.json", "part-00000-of-00002.parquet"]);
    // Lay the folder out as a schema version 1 writer did.
    std::fs::rename(dir.join(".manifest.json"), dir.join("manifest.json")).unwrap();
    write_tree(
        dir,
        &[
            ("extract_plan.json", b"{\"plan\": 1}\n"),
            ("bad_inputs.jsonl", b"{\"all\": 1}\n"),
            ("bad_inputs/part-00000.jsonl", b"{\"part\": 0}\n"),
        ],
    );
    let old = CacheManifest::read(dir).unwrap().expect("manifest.json is read");
    assert_eq!((old.total_parts, old.parts.len()), (2, 1));
    assert_eq!(existing_sidecar(dir, MANIFEST_FILE), Some(dir.join("manifest.json")));

    let w = CacheWriter::create_or_resume(dir, metadata(8, 4), 2).unwrap();
    assert_eq!(
        names(dir),
        [
            ".bad_inputs.jsonl",
            ".bad_inputs.part-00000.jsonl",
            ".extract_plan.json",
            ".manifest.json",
            "part-00000-of-00002.parquet"
        ]
    );
    // Moved, not rewritten.
    assert_eq!(std::fs::read_to_string(dir.join(".extract_plan.json")).unwrap(), "{\"plan\": 1}\n");
    assert_eq!(std::fs::read_to_string(dir.join(".bad_inputs.part-00000.jsonl")).unwrap(), "{\"part\": 0}\n");
    assert!(w.is_part_done(0));
    assert_eq!(CacheManifest::read(dir).unwrap().unwrap(), old);
    // Nothing left to move.
    assert_eq!(migrate_legacy_sidecars(dir).unwrap(), 0);
}

#[test]
fn where_both_names_exist_the_hidden_one_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_tree(
        dir,
        &[
            ("manifest.json", b"old"),
            (".manifest.json", b"new"),
            ("bad_inputs/part-00001.jsonl", b"old 1"),
            ("bad_inputs/part-00002.jsonl", b"old 2"),
            (".bad_inputs.part-00001.jsonl", b"new 1"),
        ],
    );
    // manifest.json removed; part-00001 removed (new wins), part-00002 moved; the folder removed.
    assert_eq!(migrate_legacy_sidecars(dir).unwrap(), 4);
    assert_eq!(names(dir), [".bad_inputs.part-00001.jsonl", ".bad_inputs.part-00002.jsonl", ".manifest.json"]);
    assert_eq!(std::fs::read_to_string(dir.join(".manifest.json")).unwrap(), "new");
    assert_eq!(std::fs::read_to_string(dir.join(".bad_inputs.part-00001.jsonl")).unwrap(), "new 1");
    assert_eq!(std::fs::read_to_string(dir.join(".bad_inputs.part-00002.jsonl")).unwrap(), "old 2");
}

#[test]
fn schema_versions_1_and_2_are_read_others_refused() {
    let kv_with = |version: &str| {
        let mut kv = metadata(8, 4).to_kv();
        kv.insert("marnet.schema_version".into(), version.into());
        kv
    };
    // to_kv writes the current version, 2.
    assert_eq!(metadata(8, 4).to_kv()["marnet.schema_version"], "2");
    for ok in ["1", "2"] {
        assert_eq!(CacheMetadata::from_kv(&kv_with(ok)).unwrap(), metadata(8, 4), "version {ok}");
    }
    for bad in ["0", "3"] {
        let err = err_text(CacheMetadata::from_kv(&kv_with(bad)));
        assert!(err.contains(&format!("cache schema version {bad}")) && err.contains("versions 1 to 2"), "{err}");
    }
}
