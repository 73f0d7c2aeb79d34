//! The paper's Table 1 layout (`marnet-heads train --mode table1`): one row per method in the
//! paper's order, each with val and test top-1 (mean ± sample std over seeds) and the paired
//! per-seed difference of test top-1 to `baseline` with its 95 % interval ([`super::paired`]).
//!
//! TEAM (token embedding alignment, Xie et al.) aligns token-level embeddings; the feature cache
//! holds one pooled vector per sample and modality (DESIGN §3), so its row is marked as not
//! runnable instead of being approximated.

use super::paired::PairedDiff;
use super::run_output::{metrics_json, vs_baseline, ModeFailure, ModeRuns, SeedSummary};
use super::write_atomic;
use crate::train::Mode;
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;

/// Why TEAM has no numbers here.
pub const TEAM_REASON: &str =
    "not runnable on pooled features: TEAM aligns token embeddings, the cache holds one pooled vector per sample";

/// One row of Table 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table1Row {
    /// A method trained as `mode`.
    Trained(Mode, &'static str),
    /// A method that cannot run on this cache, with its name and the reason.
    NotRunnable(&'static str, &'static str),
}

/// The rows in the paper's order: baseline, probe, SWD, SSAN, CDD, SDM, TEAM, ITA (= `ema`),
/// MARNet (`fusion`), then the distillation yardstick.
pub const TABLE1_ROWS: [Table1Row; 10] = [
    Table1Row::Trained(Mode::Baseline, "baseline (Linear on x_v)"),
    Table1Row::Trained(Mode::Probe, "linear probe (CLIP protocol)"),
    Table1Row::Trained(Mode::Swd, "SWD (Lee et al. 2019)"),
    Table1Row::Trained(Mode::Ssan, "SSAN (Li et al. 2020)"),
    Table1Row::Trained(Mode::Cdd, "CDD (Kang et al. 2019)"),
    Table1Row::Trained(Mode::Sdm, "SDM (Jiang and Ye 2023)"),
    Table1Row::NotRunnable("TEAM (Xie et al.)", TEAM_REASON),
    Table1Row::Trained(Mode::Ema, "ITA (Wang et al. 2022) = ema"),
    Table1Row::Trained(Mode::Fusion, "MARNet (fusion)"),
    Table1Row::Trained(Mode::Distill, "generalized distillation (Lopez-Paz et al. 2016)"),
];

/// True when `--mode` asks for Table 1.
pub fn requested(mode_arg: &str) -> bool {
    mode_arg.trim().eq_ignore_ascii_case("table1")
}

/// What one row shows, as text cells: `(method, mode, seeds, val top-1, test top-1, Δ test)`.
fn cells(row: &Table1Row, results: &[ModeRuns], failed: &[ModeFailure]) -> [String; 6] {
    let (mode, method) = match row {
        Table1Row::NotRunnable(method, reason) => {
            return [method.to_string(), "-".into(), "-".into(), "-".into(), "-".into(), reason.to_string()]
        }
        Table1Row::Trained(mode, method) => (*mode, method.to_string()),
    };
    if let Some(f) = failed.iter().find(|f| f.mode == mode) {
        return [method, mode.to_string(), "-".into(), "-".into(), "-".into(), format!("failed: {}", f.reason)];
    }
    let Some(mr) = results.iter().find(|r| r.mode == mode) else {
        return [method, mode.to_string(), "0".into(), "-".into(), "-".into(), "not trained".into()];
    };
    let SeedSummary { mean: m, std: sd } = mr.summary();
    let acc =
        |i: usize| if mr.runs.len() > 1 { format!("{:.2} ± {:.2}", m[i], sd[i]) } else { format!("{:.2}", m[i]) };
    let delta = vs_baseline(mr, results).map(|d| d.test.label()).unwrap_or_default();
    [method, mode.to_string(), mr.runs.len().to_string(), acc(0), acc(2), delta]
}

/// The printed table: fixed-width columns, one line per row of [`TABLE1_ROWS`].
pub fn table1_text(results: &[ModeRuns], failed: &[ModeFailure]) -> String {
    let mut s = format!(
        "{:<50} {:<9} {:>5} {:>16} {:>16}  {}\n",
        "method", "mode", "seeds", "val top-1", "test top-1", "Δ test top-1 vs baseline [95% CI]"
    );
    for row in &TABLE1_ROWS {
        let c = cells(row, results, failed);
        s.push_str(&format!("{:<50} {:<9} {:>5} {:>16} {:>16}  {}\n", c[0], c[1], c[2], c[3], c[4], c[5]));
    }
    s
}

/// The markdown section for `report.md`.
pub fn table1_markdown(results: &[ModeRuns], failed: &[ModeFailure]) -> String {
    let mut s = String::from("## Table 1 (alignment methods, paper order)\n\n");
    s.push_str(
        "Same features, budget and seeds for every row; top-1 in percent, mean ± sample std over \
         seeds; Δ = paired per-seed difference of test top-1 to `baseline` with its 95 % interval \
         (Student's t). Images only at test time in every row.\n\n",
    );
    s.push_str("| method | mode | seeds | val top-1 | test top-1 | Δ test top-1 |\n|---|---|--:|--:|--:|---|\n");
    for row in &TABLE1_ROWS {
        let c = cells(row, results, failed);
        s.push_str(&format!("| {} | {} | {} | {} | {} | {} |\n", c[0], c[1], c[2], c[3], c[4], c[5]));
    }
    s
}

fn diff_value(p: Option<PairedDiff>) -> Value {
    let num = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    p.map_or(Value::Null, |p| json!({"mean": p.mean, "ci95": [num(p.lo), num(p.hi)], "n": p.n}))
}

/// The `table1` entry of `metrics.json`: the rows in order, `{"method", "mode", "runnable",
/// "test_top1", "vs_baseline_test_top1"}` (the per-mode metrics are the file's other entries),
/// TEAM with `"runnable": false` and its reason.
pub fn table1_json(results: &[ModeRuns]) -> Value {
    let rows: Vec<Value> = TABLE1_ROWS
        .iter()
        .map(|row| match row {
            Table1Row::NotRunnable(method, reason) => json!({"method": method, "runnable": false, "reason": reason}),
            Table1Row::Trained(mode, method) => {
                let mr = results.iter().find(|r| r.mode == *mode);
                json!({
                    "method": method,
                    "mode": mode.as_str(),
                    "runnable": true,
                    "test_top1": mr.map(|m| m.summary().mean[2]),
                    "vs_baseline_test_top1": diff_value(mr.and_then(|m| vs_baseline(m, results)).map(|d| d.test)),
                })
            }
        })
        .collect();
    json!({ "rows": rows })
}

/// Writes `metrics.json` with the `table1` entry added to [`metrics_json`].
pub fn write_metrics(dir: &Path, results: &[ModeRuns], failed: &[ModeFailure]) -> Result<()> {
    let mut v = metrics_json(results, failed);
    if let Value::Object(map) = &mut v {
        map.insert("table1".into(), table1_json(results));
    }
    let text = serde_json::to_string_pretty(&v)? + "\n";
    write_atomic(&dir.join("metrics.json"), text.as_bytes())
}
