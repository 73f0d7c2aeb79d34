//! Reading the label, text, split and key columns (and the `path` child of an `Image` struct)
//! of one Parquet file into records; the image bytes themselves are not read here
//! ([`crate::image_bytes`] reads them during extraction).

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, RecordBatch, StructArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::features::{choose, Columns, ImageLayout};
use crate::readers::parquet_table::column_strings;
use crate::readers::record::{non_empty_text, normalize_rel_path, resolve_unicode_form, Origin, RawRecord};
use crate::readers::split_names::split_of_path;
use crate::{DatasetOptions, ImageSource, Split};

/// One row before its label is resolved; `record.label` holds the cell as text.
pub(crate) struct HfRow {
    pub record: RawRecord,
}

/// Reads the rows of `file` (`rel`: its path relative to `root`). Returns them and the
/// `ClassLabel` names of its label column, if it is one.
///
/// # Errors
/// Unreadable Parquet, a missing column (see [`choose`]), an unknown split name, a null label.
pub(crate) fn read_file(
    root: &Path,
    file: &Path,
    rel: &str,
    options: &DatasetOptions,
) -> anyhow::Result<(Vec<HfRow>, Option<Vec<String>>)> {
    let opened = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(opened)
        .with_context(|| format!("{}: not a valid Parquet file", file.display()))?;
    let cols = choose(builder.schema(), options, &file.display().to_string())?;
    let row_groups: Vec<usize> = builder.metadata().row_groups().iter().map(|g| g.num_rows() as usize).collect();
    let wanted = [Some(&cols.label), cols.text.as_ref(), cols.split.as_ref(), cols.key.as_ref()];
    let mask = {
        let schema = builder.parquet_schema();
        let leaves = (0..schema.num_columns()).filter(|&i| {
            let parts = schema.column(i).path().parts().to_vec();
            let top = parts[0].as_str();
            wanted.iter().flatten().any(|c| c.as_str() == top)
                || (top == cols.image
                    && match cols.layout {
                        ImageLayout::Struct => parts.get(1).is_some_and(|p| p == "path"),
                        ImageLayout::Path => true,
                        ImageLayout::Binary => false,
                    })
        });
        ProjectionMask::leaves(schema, leaves)
    };
    let reader = builder.with_projection(mask).build().with_context(|| format!("reading {}", file.display()))?;
    let file_split = split_of_path(Path::new(rel));
    let mut rows = Vec::new();
    let mut place = RowPlace { row_groups, group: 0, row: 0 };
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", file.display()))?;
        let cells = Cells::of(&batch, &cols).with_context(|| format!("{}", file.display()))?;
        for r in 0..batch.num_rows() {
            let origin = Origin { file: file.to_path_buf(), number: rows.len() + 1, unit: "row" };
            let (row_group, row) = place.next();
            let split = match (file_split, &cells.split) {
                (Some(s), _) => s,
                (None, Some(col)) => match col[r].as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                    Some(s) => s.parse().with_context(|| format!("{origin}: column \"split\""))?,
                    None => Split::Train,
                },
                (None, None) => Split::Train,
            };
            let label = cells.label[r].clone().with_context(|| format!("{origin}: empty label ({:?})", cols.label))?;
            let id = match cells.key.as_ref().and_then(|k| k[r].clone()) {
                Some(key) => format!("{rel}/{key}"),
                None => format!("{rel}/{}", rows.len()),
            };
            let image = image_of(root, file, &cols, &cells, r, row_group, row);
            let text = cells.text.as_ref().and_then(|t| non_empty_text(t[r].as_deref()));
            rows.push(HfRow { record: RawRecord { rel_path: id, text, label, split, origin, image: Some(image) } });
        }
    }
    Ok((rows, cols.class_label.clone()))
}

/// Where a row's image is: a `path`-only image column is a file under `root`; else the cell.
fn image_of(
    root: &Path,
    file: &Path,
    cols: &Columns,
    cells: &Cells,
    r: usize,
    row_group: usize,
    row: usize,
) -> (std::path::PathBuf, ImageSource) {
    let path = cells.image_path.as_ref().and_then(|p| p[r].clone()).map(|p| normalize_rel_path(&p));
    let path = path.filter(|p| !p.is_empty()).map(|p| resolve_unicode_form(root, &p));
    match (cols.layout, path) {
        (ImageLayout::Path, Some(p)) => (p, ImageSource::File),
        (ImageLayout::Path, None) => {
            (file.to_path_buf(), ImageSource::Missing { why: format!("column {:?} holds no path", cols.image) })
        }
        (_, fallback) => {
            (file.to_path_buf(), ImageSource::Parquet { column: cols.image.clone(), row_group, row, fallback })
        }
    }
}

/// Row group and row within it of consecutive rows.
struct RowPlace {
    row_groups: Vec<usize>,
    group: usize,
    row: usize,
}

impl RowPlace {
    fn next(&mut self) -> (usize, usize) {
        while self.row_groups.get(self.group).is_some_and(|&n| self.row >= n) {
            self.group += 1;
            self.row = 0;
        }
        let here = (self.group, self.row);
        self.row += 1;
        here
    }
}

/// The columns of one batch as text.
struct Cells {
    label: Vec<Option<String>>,
    text: Option<Vec<Option<String>>>,
    split: Option<Vec<Option<String>>>,
    key: Option<Vec<Option<String>>>,
    image_path: Option<Vec<Option<String>>>,
}

impl Cells {
    fn of(batch: &RecordBatch, cols: &Columns) -> anyhow::Result<Cells> {
        let col = |name: &str| -> anyhow::Result<ArrayRef> {
            batch.column_by_name(name).cloned().with_context(|| format!("column {name:?} missing"))
        };
        let strings = |name: &Option<String>| -> anyhow::Result<Option<Vec<Option<String>>>> {
            name.as_ref().map(|n| column_strings(col(n)?.as_ref()).with_context(|| format!("column {n:?}"))).transpose()
        };
        let image_path = match cols.layout {
            ImageLayout::Binary => None,
            ImageLayout::Path => Some(column_strings(col(&cols.image)?.as_ref())?),
            ImageLayout::Struct => {
                let array = col(&cols.image)?;
                let s: &StructArray = array.as_struct_opt().context("image column is not a struct")?;
                s.column_by_name("path").map(|p| column_strings(p.as_ref())).transpose()?
            }
        };
        let text = match &cols.text {
            Some(n) => Some(texts(col(n)?.as_ref()).with_context(|| format!("column {n:?}"))?),
            None => None,
        };
        Ok(Cells {
            label: column_strings(col(&cols.label)?.as_ref()).with_context(|| format!("column {:?}", cols.label))?,
            text,
            split: strings(&cols.split)?,
            key: strings(&cols.key)?,
            image_path,
        })
    }
}

/// Text cells: strings as they are, lists of strings joined with `", "`.
fn texts(array: &dyn Array) -> anyhow::Result<Vec<Option<String>>> {
    let join = |values: Option<ArrayRef>| -> anyhow::Result<Option<String>> {
        let Some(v) = values else { return Ok(None) };
        let items: Vec<String> = column_strings(v.as_ref())?.into_iter().flatten().collect();
        Ok(Some(items.join(", ")))
    };
    match array.data_type() {
        DataType::List(_) => array.as_list::<i32>().iter().map(join).collect(),
        DataType::LargeList(_) => array.as_list::<i64>().iter().map(join).collect(),
        _ => column_strings(array),
    }
}

/// The class index of each row of a `ClassLabel` column with `k` names.
///
/// # Errors
/// A value that is not an integer in `0..k` (`-1`, the HF value for "no label", included); the
/// message names the file and row.
pub(crate) fn class_label_indices(rows: &[HfRow], k: usize) -> anyhow::Result<Vec<u32>> {
    rows.iter()
        .map(|r| {
            let raw = r.record.label.trim();
            let i: i64 = raw
                .parse()
                .with_context(|| format!("{}: ClassLabel value {raw:?} is not an integer", r.record.origin))?;
            anyhow::ensure!(
                (0..k as i64).contains(&i),
                "{}: ClassLabel value {i} out of range: expected 0..={} ({k} names; -1 means the row has no label)",
                r.record.origin,
                k as i64 - 1
            );
            Ok(i as u32)
        })
        .collect()
}
