//! `marnet-heads train --mode table1` end to end on a small cache written with marnet-data's
//! CacheWriter: every Table 1 row in the paper's order in the printed table, `metrics.json` and
//! `report.md`, TEAM marked as not runnable, the paired Δ to baseline with its interval, and the
//! new keys validated by name.

mod common;

use common::write_cache;
use marnet_heads::cli::train::parse_modes;
use marnet_heads::Mode;
use std::path::Path;
use std::process::Command;

const SETS: [&str; 12] = [
    "d=16",
    "hidden=32",
    "temb_dim=8",
    "timesteps=10",
    "batch=32",
    "epochs=3",
    "phase2_epochs=2",
    "lr=3e-3",
    "log_every=2",
    "min_steps=0",
    "swd_projections=8",
    "probe_max_iter=50",
];

/// The trainable rows in the paper's order, TEAM (not runnable) between sdm and ema.
const ORDER: [&str; 9] = ["baseline", "probe", "swd", "ssan", "cdd", "sdm", "ema", "fusion", "distill"];

fn train(cache: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_marnet-heads"));
    cmd.args(["train", "--quiet", "--cache"]).arg(cache).arg("--out").arg(out);
    for s in SETS {
        cmd.args(["--set", s]);
    }
    cmd.args(extra).output().unwrap()
}

#[test]
fn mode_names_and_table1_parse() {
    assert_eq!(parse_modes("table1").unwrap(), Mode::TABLE1.to_vec());
    assert_eq!(Mode::TABLE1.map(|m| m.as_str()), ORDER);
    // `all` stays the six modes of table 2.
    assert_eq!(parse_modes("all").unwrap().len(), 6);
    assert_eq!(parse_modes("swd, sdm,distill").unwrap(), vec![Mode::Swd, Mode::Sdm, Mode::Distill]);
    let err = format!("{:#}", parse_modes("team").unwrap_err());
    assert!(err.contains("table1") && err.contains("cdd"), "{err}");
}

#[test]
fn train_table1_writes_every_row_in_paper_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("run"));
    write_cache(&cache);
    let o = train(&cache, &out, &["--mode", "table1", "--seeds", "2"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "stderr: {stderr}");

    // Printed table: header, then the 10 rows in order; TEAM is row 7 and not runnable.
    let table = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 11, "{table}");
    assert!(lines[7].starts_with("TEAM") && lines[7].contains("not runnable"), "{table}");
    let modes: Vec<&str> = lines[1..]
        .iter()
        .filter(|l| !l.starts_with("TEAM"))
        .map(|l| l[50..].split_whitespace().next().unwrap())
        .collect();
    assert_eq!(modes, ORDER, "{table}");

    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    let per_seed_test = |m: &str| -> Vec<f64> {
        metrics[m]["per_seed"].as_array().unwrap().iter().map(|r| r["test"]["top1"].as_f64().unwrap()).collect()
    };
    let base = per_seed_test("baseline");
    assert_eq!(base.len(), 2);
    for m in ORDER {
        let t1 = metrics[m]["test"]["top1"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&t1), "{m}: {t1}");
        if m == "baseline" {
            continue;
        }
        // Paired Δ over seeds 0 and 1, recomputed from the per-seed values the file lists.
        let mine = per_seed_test(m);
        let want = ((mine[0] - base[0]) + (mine[1] - base[1])) / 2.0;
        let d = &metrics[m]["vs_baseline"]["test_top1"];
        assert!((d["mean"].as_f64().unwrap() - want).abs() < 1e-9, "{m}: {d}");
        assert_eq!(d["n"], 2);
    }
    let rows = metrics["table1"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[6]["runnable"], false);
    assert!(rows[6]["method"].as_str().unwrap().starts_with("TEAM"));
    let json_modes: Vec<&str> = rows.iter().filter_map(|r| r["mode"].as_str()).collect();
    assert_eq!(json_modes, ORDER);
    assert!(rows[2]["vs_baseline_test_top1"]["ci95"][0].is_number(), "two seeds give an interval");

    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Table 1 (alignment methods, paper order)"), "{md}");
    assert!(md.contains("| TEAM (Xie et al.) | - | - | - | - | not runnable"), "{md}");
    // Weights of the new modes are in heads.safetensors under their mode names.
    let bytes = std::fs::read(out.join("heads.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("swd.ema.classifier.weight").unwrap().shape(), &[5, 16]);
    assert_eq!(st.tensor("distill.distill.classifier.weight").unwrap().shape(), &[5, 8]);
}

#[test]
fn bad_table1_keys_fail_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let (cache, out) = (tmp.path().join("cache"), tmp.path().join("run"));
    write_cache(&cache);
    for (set, key) in [("distill_lambda=1.5", "distill_lambda"), ("cdd_kernel_mul=1", "cdd_kernel_mul")] {
        let o = train(&cache, &out, &["--mode", "distill", "--set", set]);
        assert!(!o.status.success());
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(key), "{set}: {stderr}");
    }
    let o = train(&cache, &out, &["--mode", "distill", "--set", "distill_teacher=audio"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("distill_teacher"));
}
