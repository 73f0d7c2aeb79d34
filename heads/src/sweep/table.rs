//! The results table of `sweep-report`: one row per run (mode, trial, seed, hash, every
//! override key, val/test top-1/top-5, seconds; for `[search]` studies also state, rung and
//! epochs_used), written as CSV and as zstd Parquet.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use std::path::Path;

use super::record::TrialRecord;
use super::value::Value;

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
const RESERVED: [&str; 12] = [
    "mode",
    "trial",
    "seed",
    "hash",
    "val_top1",
    "val_top5",
    "test_top1",
    "test_top5",
    "seconds",
    "state",
    "rung",
    "epochs_used",
];

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
    // A pruned run measured only its val top-1 at the last rung.
    let measured = |f: fn(&TrialRecord) -> f64| {
        Column::Float(records.iter().map(|r| if r.is_pruned() { None } else { Some(f(r)) }).collect())
    };
    cols.push(("val_top1".into(), metric(|r| r.metrics.val_top1)));
    cols.push(("val_top5".into(), measured(|r| r.metrics.val_top5)));
    cols.push(("test_top1".into(), measured(|r| r.metrics.test_top1)));
    cols.push(("test_top5".into(), measured(|r| r.metrics.test_top5)));
    cols.push(("seconds".into(), metric(|r| r.seconds)));
    if records.iter().any(|r| r.epochs_used.is_some()) {
        let state = |r: &TrialRecord| Some(if r.is_pruned() { "pruned" } else { "complete" }.to_string());
        cols.push(("state".into(), Column::Str(records.iter().map(state).collect())));
        cols.push(("rung".into(), Column::Int(records.iter().map(|r| r.rung.map(|x| x as i64)).collect())));
        cols.push((
            "epochs_used".into(),
            Column::Int(records.iter().map(|r| r.epochs_used.map(|x| x as i64)).collect()),
        ));
    }
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
