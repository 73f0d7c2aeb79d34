//! Tabular manifests: CSV, TSV, JSONL and Parquet files read into rows of the four columns
//! DESIGN.md §4 names (`file_name`, `text`, `label`, `split`); other columns are ignored. The row
//! types live in [`super::table_rows`]; Parquet files go through [`super::parquet_table`].

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

use super::parquet_table;
use super::record::Origin;
use super::table_rows::{column_positions, Table, TableRow, COLUMNS};

/// The manifest extensions, in the order a folder is searched.
pub(crate) const EXTENSIONS: [&str; 4] = ["csv", "tsv", "jsonl", "parquet"];

/// Reads a manifest, choosing the format from the extension (`.csv`, `.tsv`, `.jsonl`, `.parquet`).
///
/// # Errors
/// Unknown extension, unreadable file, or a malformed line (the message names file and line).
pub(crate) fn read_table(path: &Path) -> anyhow::Result<Table> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "csv" => read_delimited(path, b','),
        "tsv" => read_delimited(path, b'\t'),
        "jsonl" | "ndjson" => read_jsonl(path),
        "parquet" => parquet_table::read_parquet_table(path),
        _ => anyhow::bail!(
            "{}: unknown manifest format {ext:?}: expected .csv, .tsv, .jsonl or .parquet",
            path.display()
        ),
    }
}

/// Reads a CSV/TSV manifest. `default` is the extension's delimiter; a header line that names
/// `file_name` only when split at another of `,` `;` tab selects that one instead (Excel saves
/// "CSV" with `;` in locales with a decimal comma). A UTF-8 BOM and CRLF endings are accepted;
/// text that is not UTF-8 is an error naming the line.
fn read_delimited(path: &Path, default: u8) -> anyhow::Result<Table> {
    let bytes = std::fs::read(path).with_context(|| format!("opening {}", path.display()))?;
    let delimiter = sniff_delimiter(&bytes, default);
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).from_reader(bytes.as_slice());
    let headers = reader.headers().map_err(|e| not_utf8_or(e, path, 1, "bad header"))?;
    let pos = column_positions(headers.iter());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(i + 2, |p| line_at(&bytes, p.byte()));
            not_utf8_or(e, path, line, "malformed row")
        })?;
        let line = record.position().map_or(i + 2, |p| line_at(&bytes, p.byte()));
        let cells = pos.map(|p| p.and_then(|p| record.get(p)).map(str::to_string));
        rows.push(TableRow::from_cells(Origin::line(path, line), cells));
    }
    Ok(Table { present: pos.map(|p| p.is_some()), rows })
}

/// The 1-based line of the record the csv reader positioned at byte `offset`. The reader's own
/// line count lags by one after a CRLF (it counts the `\n` when the next record starts), so the
/// newlines up to and including `offset` are counted instead.
fn line_at(bytes: &[u8], offset: u64) -> usize {
    let end = (offset as usize + 1).min(bytes.len());
    1 + bytes[..end].iter().filter(|&&b| b == b'\n').count()
}

/// The one-line error of a csv failure on `line`: text that is not UTF-8 says so (Excel's plain
/// "CSV" is Windows-1252), anything else is `what` with the reader's message.
fn not_utf8_or(e: csv::Error, path: &Path, line: usize, what: &str) -> anyhow::Error {
    if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
        anyhow::anyhow!(
            "{} line {line}: not UTF-8 text (save the manifest as UTF-8, in Excel \"CSV UTF-8\")",
            path.display()
        )
    } else {
        anyhow::anyhow!("{} line {line}: {what}: {e}", path.display())
    }
}

/// The delimiter under which the first line of `bytes` holds a `file_name` column: `default`
/// first, then `,`, `;` and tab; `default` when none does (the caller then reports the missing
/// column).
fn sniff_delimiter(bytes: &[u8], default: u8) -> u8 {
    let header = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    for delimiter in [default, b',', b';', b'\t'] {
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).from_reader(header);
        let Some(Ok(record)) = reader.byte_records().next() else { continue };
        let names: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        if column_positions(names.iter().map(String::as_str))[0].is_some() {
            return delimiter;
        }
    }
    default
}

fn read_jsonl(path: &Path) -> anyhow::Result<Table> {
    let lines = super::lines::read_lines(path)?;
    let mut present = [false; 4];
    let mut rows = Vec::new();
    for line in lines.iter().filter(|l| !l.text.is_empty()) {
        let origin = Origin::line(path, line.number);
        let value: serde_json::Value =
            serde_json::from_str(&line.text).with_context(|| format!("{origin}: malformed JSON"))?;
        let object = value.as_object().with_context(|| format!("{origin}: expected a JSON object per line"))?;
        let lower: HashMap<String, &serde_json::Value> =
            object.iter().map(|(k, v)| (k.trim().to_ascii_lowercase(), v)).collect();
        let mut cells: [Option<String>; 4] = Default::default();
        for (c, name) in COLUMNS.iter().enumerate() {
            if let Some(v) = lower.get(*name) {
                present[c] = true;
                cells[c] = json_cell(v).with_context(|| format!("{origin}: column {name:?}"))?;
            }
        }
        rows.push(TableRow::from_cells(origin, cells));
    }
    Ok(Table { present, rows })
}

/// A JSON cell as text: strings as is, numbers and booleans printed, null as `None`.
fn json_cell(value: &serde_json::Value) -> anyhow::Result<Option<String>> {
    match value {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => anyhow::bail!("expected a string or a number, found {other}"),
    }
}
