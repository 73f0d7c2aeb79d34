//! The in-memory form of a tabular manifest, shared by the CSV/TSV/JSONL reader ([`super::table`])
//! and the Parquet reader ([`super::parquet_table`]): the four columns of DESIGN.md §4 and the
//! header matching. Split out of `table.rs` so the two readers do not import each other.

use super::record::Origin;

/// The manifest columns the readers use.
pub(crate) const COLUMNS: [&str; 4] = ["file_name", "text", "label", "split"];

/// One manifest row: the four known columns (missing column or null cell = `None`).
#[derive(Debug, Clone)]
pub(crate) struct TableRow {
    pub origin: Origin,
    pub file_name: Option<String>,
    pub text: Option<String>,
    pub label: Option<String>,
    pub split: Option<String>,
}

impl TableRow {
    /// Builds a row from cells of [`COLUMNS`] order.
    pub fn from_cells(origin: Origin, mut cells: [Option<String>; 4]) -> TableRow {
        TableRow {
            origin,
            file_name: cells[0].take(),
            text: cells[1].take(),
            label: cells[2].take(),
            split: cells[3].take(),
        }
    }
}

/// A parsed manifest file.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Which of [`COLUMNS`] the file has, in [`COLUMNS`] order.
    pub present: [bool; 4],
    pub rows: Vec<TableRow>,
}

impl Table {
    /// Whether the file has the column `name` (one of [`COLUMNS`]).
    pub fn has(&self, name: &str) -> bool {
        COLUMNS.iter().position(|c| *c == name).is_some_and(|i| self.present[i])
    }
}

/// Maps header names (trimmed, ASCII case ignored) to the index of each of [`COLUMNS`].
pub(crate) fn column_positions<'a>(headers: impl Iterator<Item = &'a str>) -> [Option<usize>; 4] {
    let mut pos = [None; 4];
    for (i, h) in headers.enumerate() {
        let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        if let Some(c) = COLUMNS.iter().position(|c| *c == h) {
            pos[c].get_or_insert(i);
        }
    }
    pos
}
