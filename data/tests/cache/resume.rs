//! Resumable writing: done parts, .manifest.json content, stale temp files, several writers.

use marnet_data::cache::{part_file_name, read_cache, CacheManifest, CacheWriter};
use sha2::{Digest, Sha256};

use crate::common::{lcg_rows, metadata};

fn sha256_hex(path: &std::path::Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn resume_skips_done_parts_and_manifest_tracks_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cache");
    let writer = CacheWriter::create_or_resume(&dir, metadata(8, 4), 3).unwrap();
    assert!(!writer.is_part_done(1));
    writer.write_part(1, &lcg_rows(5, 5, 8, 4, 3)).unwrap();
    assert!(writer.is_part_done(1));
    assert_eq!(writer.missing_parts(), [0, 2]);

    let manifest = CacheManifest::read(&dir).unwrap().unwrap();
    assert_eq!(manifest.total_parts, 3);
    assert!(!manifest.completed);
    assert_eq!(manifest.parts.len(), 1);
    let p = &manifest.parts[0];
    assert_eq!((p.file.as_str(), p.index, p.rows, p.completed), ("part-00001-of-00003.parquet", 1, 5, true));
    let part1 = dir.join(part_file_name(1, 3));
    assert_eq!(p.sha256, sha256_hex(&part1));
    assert_eq!(p.bytes, std::fs::metadata(&part1).unwrap().len());
    assert_eq!(manifest.metadata["marnet.d_v"], "8");
    assert_eq!(manifest.metadata["marnet.class_names"], r#"["soup","cake","bread"]"#);

    // A dead writer's temp file (pid 4294967295 cannot exist) is removed on resume; a newer
    // tool_version may resume the same cache (a second shard process, say).
    let stale = dir.join(format!(".{}.4294967295.tmp", part_file_name(0, 3)));
    std::fs::write(&stale, b"half a part").unwrap();
    let mut newer = metadata(8, 4);
    newer.tool_version = "0.2.0".into();
    let second = CacheWriter::create_or_resume(&dir, newer, 3).unwrap();
    assert!(!stale.exists());
    assert!(second.is_part_done(1));
    second.write_part(0, &lcg_rows(0, 5, 8, 4, 2)).unwrap();
    writer.write_part(2, &lcg_rows(10, 2, 8, 4, 4)).unwrap();
    writer.finish().unwrap();

    let manifest = CacheManifest::read(&dir).unwrap().unwrap();
    assert!(manifest.completed);
    let indices: Vec<usize> = manifest.parts.iter().map(|p| p.index).collect();
    assert_eq!(indices, [0, 1, 2]);
    let rows: Vec<usize> = manifest.parts.iter().map(|p| p.rows).collect();
    assert_eq!(rows, [5, 5, 2]);
    for p in &manifest.parts {
        assert_eq!(p.sha256, sha256_hex(&dir.join(&p.file)), "{}", p.file);
    }
    let cache = read_cache(&dir).unwrap();
    let ids: Vec<String> = (0..12).map(|i| format!("img/{i}.jpg")).collect();
    assert_eq!(cache.rows.ids, ids);
    // no temp file is left behind
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
