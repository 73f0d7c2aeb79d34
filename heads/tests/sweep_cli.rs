//! `marnet-heads sweep` and `sweep-report` end to end on a small cache: real training per trial,
//! resume on a second invocation, the merged report, and a bad key failing before the cache is
//! even read.

mod common;

use std::path::Path;
use std::process::Command;

use common::write_cache;

const SWEEP: &str = r#"
seeds = 2
mode = "ema"
[fixed]
hidden = 32
batch = 32
epochs = 2
log_every = 2
[grid]
d = [8, 16]
"#;

fn heads(args: &[&str], paths: &[(&str, &Path)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marnet-heads"));
    cmd.args(args);
    for (flag, p) in paths {
        cmd.arg(flag).arg(p);
    }
    cmd.output().unwrap()
}

#[test]
fn sweep_trains_resumes_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out, file) = (tmp.path().join("cache"), tmp.path().join("sweep"), tmp.path().join("s.toml"));
    write_cache(&cache);
    std::fs::write(&file, SWEEP).unwrap();
    let paths = [("--cache", cache.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())];

    let o = heads(&["sweep", "--jobs", "2"], &paths);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("4 runs in all") && err.contains("4 trained, 0 failed"), "{err}");
    let records = marnet_heads::sweep::load_records(&out).unwrap();
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.mode == "ema" && (0.0..=100.0).contains(&r.metrics.val_top1)));
    assert!(records.iter().all(|r| r.metrics.val_top5 >= r.metrics.val_top1));

    // Second invocation: everything is recorded, nothing trains.
    let o = heads(&["sweep", "--jobs", "1"], &paths);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("4 already done, 0 trained"), "{err}");

    let o = heads(&["sweep-report"], &[("--out", out.as_path())]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 4 runs:\n{csv}");
    assert!(csv.lines().next().unwrap().starts_with("mode,trial,seed,hash,batch,d,epochs,hidden,log_every,val_top1"));
    let board = std::fs::read_to_string(out.join("leaderboard.md")).unwrap();
    assert!(board.contains("| rank | d | seeds |"), "{board}");
    assert!(out.join("results.parquet").exists() && out.join("val_top1_by_d.png").exists());
    assert_eq!(std::fs::read_to_string(out.join("sweep.toml")).unwrap(), SWEEP);
}

#[test]
fn a_bad_key_fails_before_the_cache_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(&file, "[grid]\nd = [8]\ndd = [1, 2]\n").unwrap();
    let missing = tmp.path().join("no-such-cache");
    let out = tmp.path().join("out");
    let o = heads(&["sweep"], &[("--cache", missing.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("bad.toml") && err.contains("`dd`"), "{err}");
    assert!(!err.contains("no-such-cache"), "the key must be checked first: {err}");
    assert!(!out.exists());
    // val_fraction cannot be swept (the split is built once).
    std::fs::write(&file, "[grid]\nval_fraction = [0.1, 0.2]\n").unwrap();
    let o = heads(&["sweep"], &[("--cache", missing.as_path()), ("--sweep", file.as_path()), ("--out", out.as_path())]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("`val_fraction` cannot be swept"));
}
