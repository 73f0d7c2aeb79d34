//! `marnet-heads sweep-report`: merges every record under `OUT/trials/` (from any number of
//! workers) into `results.parquet` and `results.csv` (one row per run: mode, trial, seed, hash,
//! every override key, val/test top-1/top-5, seconds), `leaderboard.md` (trials ranked by mean
//! val top-1 over seeds) and `val_top1_by_<key>.png` for the most influential swept key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::record::{load_records, TrialRecord};
use super::summary::{classify_keys, group_trials, most_influential_key, val_top1_by_value, TrialGroup};
use super::value::Value;
use crate::report::paired::paired_diff;

/// Rows of the leaderboard that show test top-1 (the rest show only val: select on val).
pub const TEST_SHOWN_FOR_TOP: usize = 3;

/// What [`write_sweep_report`] found and wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepReport {
    pub runs: usize,
    pub trials: usize,
    /// Best trial by mean val top-1.
    pub best: Option<TrialGroup>,
    /// `(key, spread)` of the most influential swept key, when one varies.
    pub influential: Option<(String, f64)>,
    pub files: Vec<PathBuf>,
}

/// A typed column of the results table (null where a run lacks the key).
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    Int(Vec<Option<i64>>),
    Float(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Str(Vec<Option<String>>),
}

impl Column {
    fn cell(&self, i: usize) -> String {
        match self {
            Column::Int(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Float(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Bool(v) => v[i].map(|x| x.to_string()).unwrap_or_default(),
            Column::Str(v) => v[i].clone().unwrap_or_default(),
        }
    }

    fn to_arrow(&self) -> (DataType, ArrayRef) {
        match self {
            Column::Int(v) => (DataType::Int64, Arc::new(Int64Array::from(v.clone()))),
            Column::Float(v) => (DataType::Float64, Arc::new(Float64Array::from(v.clone()))),
            Column::Bool(v) => (DataType::Boolean, Arc::new(BooleanArray::from(v.clone()))),
            Column::Str(v) => (DataType::Utf8, Arc::new(StringArray::from(v.clone()))),
        }
    }
}

/// Fixed column names; an override key equal to one of them becomes `cfg_<key>`.
const RESERVED: [&str; 9] =
    ["mode", "trial", "seed", "hash", "val_top1", "val_top5", "test_top1", "test_top5", "seconds"];

/// The results table: one row per record, columns named as in the module docs.
pub fn results_table(records: &[TrialRecord]) -> Vec<(String, Column)> {
    let keys: Vec<String> = {
        let set: std::collections::BTreeSet<&String> = records.iter().flat_map(|r| r.overrides.keys()).collect();
        set.into_iter().cloned().collect()
    };
    let mut cols: Vec<(String, Column)> = vec![
        ("mode".into(), Column::Str(records.iter().map(|r| Some(r.mode.clone())).collect())),
        ("trial".into(), Column::Int(records.iter().map(|r| Some(r.trial as i64)).collect())),
        ("seed".into(), Column::Int(records.iter().map(|r| Some(r.seed as i64)).collect())),
        ("hash".into(), Column::Str(records.iter().map(|r| Some(r.hash.clone())).collect())),
    ];
    for k in &keys {
        let name = if RESERVED.contains(&k.as_str()) { format!("cfg_{k}") } else { k.clone() };
        cols.push((name, key_column(records, k)));
    }
    let metric = |f: fn(&TrialRecord) -> f64| Column::Float(records.iter().map(|r| Some(f(r))).collect());
    cols.push(("val_top1".into(), metric(|r| r.metrics.val_top1)));
    cols.push(("val_top5".into(), metric(|r| r.metrics.val_top5)));
    cols.push(("test_top1".into(), metric(|r| r.metrics.test_top1)));
    cols.push(("test_top5".into(), metric(|r| r.metrics.test_top5)));
    cols.push(("seconds".into(), metric(|r| r.seconds)));
    cols
}

/// The column of one override key: Int64 if every present value is an integer, Float64 if
/// every one is a number, Boolean if every one is a boolean, else Utf8.
fn key_column(records: &[TrialRecord], key: &str) -> Column {
    let vals: Vec<Option<&Value>> = records.iter().map(|r| r.overrides.get(key)).collect();
    let present = || vals.iter().flatten();
    if present().all(|v| matches!(v, Value::Int(_))) {
        Column::Int(
            vals.iter()
                .map(|v| match v {
                    Some(Value::Int(i)) => Some(*i),
                    _ => None,
                })
                .collect(),
        )
    } else if present().all(|v| v.as_f64().is_some()) {
        Column::Float(vals.iter().map(|v| v.and_then(|v| v.as_f64())).collect())
    } else if present().all(|v| matches!(v, Value::Bool(_))) {
        Column::Bool(
            vals.iter()
                .map(|v| match v {
                    Some(Value::Bool(b)) => Some(*b),
                    _ => None,
                })
                .collect(),
        )
    } else {
        Column::Str(vals.iter().map(|v| v.map(|v| v.to_string())).collect())
    }
}

/// Writes the table as CSV (header row; empty cell for null) to `path`.
pub fn write_csv(path: &Path, table: &[(String, Column)], rows: usize) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(table.iter().map(|(n, _)| n.as_str()))?;
    for i in 0..rows {
        w.write_record(table.iter().map(|(_, c)| c.cell(i)))?;
    }
    let bytes = w.into_inner().context("finishing the CSV")?;
    crate::report::write_atomic(path, &bytes)
}

/// Writes the table as one zstd Parquet row group to `path`.
pub fn write_parquet(path: &Path, table: &[(String, Column)]) -> Result<()> {
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = table
        .iter()
        .map(|(name, col)| {
            let (dt, arr) = col.to_arrow();
            (Field::new(name, dt, true), arr)
        })
        .unzip();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), arrays).context("building the results batch")?;
    let props = WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).build();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, schema, Some(props)).context("creating the Parquet writer")?;
    writer.write(&batch).context("writing results.parquet")?;
    writer.close().context("closing results.parquet")?;
    crate::report::write_atomic(path, &buf)
}

/// Merges `out/trials/*.json` and writes the report files into `out`.
///
/// # Errors
/// No record, an invalid record file, or an output file that cannot be written.
pub fn write_sweep_report(out: &Path) -> Result<SweepReport> {
    let records = load_records(out)?;
    if records.is_empty() {
        bail!("{}: no finished trial yet (nothing in trials/)", out.display());
    }
    let table = results_table(&records);
    let mut files = vec![out.join("results.csv"), out.join("results.parquet")];
    write_csv(&files[0], &table, records.len())?;
    write_parquet(&files[1], &table)?;

    let groups = group_trials(&records);
    let (swept, fixed) = classify_keys(&records);
    let influential = most_influential_key(&records, &swept);
    let mut plot = None;
    if let Some((key, _)) = &influential {
        let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
        let file = format!("val_top1_by_{safe}.png");
        let by_value = val_top1_by_value(&records, key);
        crate::report::plots::plot_metric_by_key(&out.join(&file), key, &by_value, "val top-1 (%)")?;
        files.push(out.join(&file));
        plot = Some(file);
    }
    let md = render_leaderboard(&groups, &swept, &fixed, records.len(), influential.as_ref(), plot.as_deref());
    let board = out.join("leaderboard.md");
    crate::report::write_atomic(&board, md.as_bytes())?;
    files.push(board);
    Ok(SweepReport { runs: records.len(), trials: groups.len(), best: groups.first().cloned(), influential, files })
}

/// The markdown of `leaderboard.md` (pure).
pub fn render_leaderboard(
    groups: &[TrialGroup],
    swept: &[String],
    fixed: &BTreeMap<String, Value>,
    runs: usize,
    influential: Option<&(String, f64)>,
    plot: Option<&str>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Sweep leaderboard\n");
    let _ = writeln!(
        s,
        "{runs} runs of {} trials, ranked by mean val top-1 over seeds (± sample standard \
         deviation). Test top-1 is shown for the top {TEST_SHOWN_FOR_TOP} only: choose on val, \
         read test once. Δ columns: the paired per-seed difference to `baseline` (same seeds) \
         with its 95 % confidence interval (Student's t).\n",
        groups.len()
    );
    if !fixed.is_empty() {
        let f: Vec<String> = fixed.iter().map(|(k, v)| format!("`{k}={v}`")).collect();
        let _ = writeln!(s, "Same in every run: {}.\n", f.join(", "));
    }
    let multi_mode = groups.iter().any(|g| g.mode != groups[0].mode);
    let mut header = vec!["rank".to_string()];
    if multi_mode {
        header.push("mode".into());
    }
    header.extend(swept.iter().cloned());
    header.extend(["seeds", "val top-1", "val top-5", "test top-1", "s/run"].map(String::from));
    // Paired per-seed differences to the `baseline` runs of a `reference` (a sweep of another
    // mode that also ran `baseline`); a sweep of `baseline` itself has no reference row.
    let baseline = if multi_mode { groups.iter().find(|g| g.mode == "baseline") } else { None };
    if baseline.is_some() {
        header.push("Δ val top-1 vs baseline [95% CI]".into());
        header.push("Δ test top-1 vs baseline".into());
    }
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
    for (i, g) in groups.iter().enumerate() {
        let mut row = vec![(i + 1).to_string()];
        if multi_mode {
            row.push(g.mode.clone());
        }
        row.extend(swept.iter().map(|k| g.overrides.get(k).map(|v| v.to_string()).unwrap_or_else(|| "–".into())));
        row.push(g.seeds.len().to_string());
        row.push(mean_std(g.val_top1.mean, g.val_top1.std, g.seeds.len()));
        row.push(format!("{:.2}", g.val_top5.mean));
        row.push(if i < TEST_SHOWN_FOR_TOP {
            mean_std(g.test_top1.mean, g.test_top1.std, g.seeds.len())
        } else {
            "·".into()
        });
        row.push(format!("{:.1}", g.seconds));
        if let Some(b) = baseline {
            let same = std::ptr::eq(b, g);
            row.push(if same {
                "–".into()
            } else {
                paired_diff(&g.per_seed_val, &b.per_seed_val).map(|d| d.label()).unwrap_or_default()
            });
            row.push(if same || i >= TEST_SHOWN_FOR_TOP {
                "·".into()
            } else {
                paired_diff(&g.per_seed_test, &b.per_seed_test).map(|d| d.label()).unwrap_or_default()
            });
        }
        let _ = writeln!(s, "| {} |", row.join(" | "));
    }
    if let Some((key, spread)) = influential {
        let _ = writeln!(
            s,
            "\nMost influential key: `{key}` (the mean val top-1 of its values spans {spread:.2} \
             points).\n"
        );
        if let Some(p) = plot {
            let _ = writeln!(s, "![val top-1 by {key}]({p})");
        }
    }
    s
}

/// `mean ± std` with two decimals; a single seed has no sample std, so only the mean is shown.
fn mean_std(mean: f64, std: f64, seeds: usize) -> String {
    if seeds < 2 {
        format!("{mean:.2}")
    } else {
        format!("{mean:.2} ± {std:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::mean_std;

    #[test]
    fn one_seed_shows_no_std() {
        assert_eq!(mean_std(28.571, 0.0, 1), "28.57");
        assert_eq!(mean_std(73.5, 0.714, 2), "73.50 ± 0.71");
    }
}
