//! Tabular manifests: CSV, TSV, JSONL and Parquet files read into rows of the four columns
//! DESIGN.md §4 names (`file_name`, `text`, `label`, `split`); other columns are ignored. The row
//! types live in [`super::table_rows`]; Parquet files go through [`super::parquet_table`].

use std::collections::HashMap;
use std::io::{BufRead, Read};
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
/// "CSV" with `;` in locales with a decimal comma). A UTF-8 BOM and CRLF endings are accepted.
fn read_delimited(path: &Path, default: u8) -> anyhow::Result<Table> {
    let delimiter = sniff_delimiter(path, default)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("{} line 1: bad header", path.display()))?;
    let pos = column_positions(headers.iter());
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(i + 2, |p| p.line() as usize);
            if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) {
                anyhow::anyhow!("{} line {line}: not UTF-8 text (save the manifest as UTF-8, in Excel \"CSV UTF-8\")", path.display())
            } else {
                anyhow::anyhow!("{} line {line}: malformed row: {e}", path.display())
            }
        })?;
        let line = record.position().map_or(i + 2, |p| p.line() as usize);
        let cells = pos.map(|p| p.and_then(|p| record.get(p)).map(str::to_string));
        rows.push(TableRow::from_cells(Origin::line(path, line), cells));
    }
    Ok(Table { present: pos.map(|p| p.is_some()), rows })
}

/// The delimiter under which the first line of `path` holds a `file_name` column: `default`
/// first, then `,`, `;` and tab; `default` when none does (the caller then reports the missing
/// column).
fn sniff_delimiter(path: &Path, default: u8) -> anyhow::Result<u8> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut header = Vec::new();
    std::io::BufReader::new(file)
        .take(1 << 16)
        .read_until(b'\n', &mut header)
        .with_context(|| format!("reading {}", path.display()))?;
    for delimiter in [default, b',', b';', b'\t'] {
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).from_reader(header.as_slice());
        let Some(Ok(record)) = reader.byte_records().next() else { continue };
        let names: Vec<String> = record.iter().map(|f| String::from_utf8_lossy(f).into_owned()).collect();
        if column_positions(names.iter().map(String::as_str))[0].is_some() {
            return Ok(delimiter);
        }
    }
    Ok(default)
}

fn read_jsonl(path: &Path) -> anyhow::Result<Table> {
    let lines = super::lines::read_lines(path)?;
    let mut present = [false; 4];
    let mut rows = Vec::new();
    for line in lines.iter().filter(|l| !l.text.is_empty()) {
        let origin = Origin::line(path, line.number);
        let value: serde_json::Value = serde_json::from_str(&line.text)
            .with_context(|| format!("{origin}: malformed JSON"))?;
        let object = value
            .as_object()
            .with_context(|| format!("{origin}: expected a JSON object per line"))?;
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
