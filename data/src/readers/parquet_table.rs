//! Parquet manifests read with the `parquet` crate's Arrow reader; cells of the four manifest
//! columns are turned into text (strings as is, integers printed, dictionaries decoded).

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::record::Origin;
use super::table_rows::{column_positions, Table, TableRow};

/// Reads the `file_name`, `text`, `label`, `split` columns of a Parquet file; row numbers in
/// errors are 1-based.
///
/// # Errors
/// Unreadable or invalid Parquet, or a column of an unsupported type (not string, integer or
/// dictionary of strings).
pub(crate) fn read_parquet_table(path: &Path) -> anyhow::Result<Table> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a valid Parquet file", path.display()))?;
    let pos = column_positions(builder.schema().fields().iter().map(|f| f.name().as_str()));
    let reader = builder.build().with_context(|| format!("reading {}", path.display()))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        let mut columns: [Option<Vec<Option<String>>>; 4] = Default::default();
        for (c, p) in pos.iter().enumerate() {
            if let Some(p) = p {
                let name = batch.schema().field(*p).name().clone();
                columns[c] = Some(
                    column_strings(batch.column(*p).as_ref())
                        .with_context(|| format!("{}: column {name:?}", path.display()))?,
                );
            }
        }
        for r in 0..batch.num_rows() {
            let origin = Origin { file: path.to_path_buf(), number: rows.len() + 1, unit: "row" };
            let cells = std::array::from_fn(|c| columns[c].as_ref().and_then(|col| col[r].clone()));
            rows.push(TableRow::from_cells(origin, cells));
        }
    }
    Ok(Table { present: pos.map(|p| p.is_some()), rows })
}

/// Every cell of a column as text (`None` for null).
///
/// # Errors
/// A column type other than strings, integers, floats or a dictionary of those.
pub(crate) fn column_strings(array: &dyn Array) -> anyhow::Result<Vec<Option<String>>> {
    fn prim<T: ArrowPrimitiveType>(array: &dyn Array) -> Vec<Option<String>>
    where
        T::Native: ToString,
    {
        array.as_primitive::<T>().iter().map(|v| v.map(|v| v.to_string())).collect()
    }
    Ok(match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().map(|v| v.map(str::to_string)).collect(),
        DataType::Utf8View => array.as_string_view().iter().map(|v| v.map(str::to_string)).collect(),
        DataType::Int8 => prim::<Int8Type>(array),
        DataType::Int16 => prim::<Int16Type>(array),
        DataType::Int32 => prim::<Int32Type>(array),
        DataType::Int64 => prim::<Int64Type>(array),
        DataType::UInt8 => prim::<UInt8Type>(array),
        DataType::UInt16 => prim::<UInt16Type>(array),
        DataType::UInt32 => prim::<UInt32Type>(array),
        DataType::UInt64 => prim::<UInt64Type>(array),
        // pandas writes integer labels as floats when a cell is missing: print 3.0 as "3".
        DataType::Float32 => {
            array.as_primitive::<Float32Type>().iter().map(|v| v.map(|v| float_text(v as f64))).collect()
        }
        DataType::Float64 => array.as_primitive::<Float64Type>().iter().map(|v| v.map(float_text)).collect(),
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary_opt().context("malformed dictionary column")?;
            let values = column_strings(dict.values().as_ref())?;
            dict.normalized_keys()
                .into_iter()
                .enumerate()
                .map(|(i, k)| if array.is_null(i) { None } else { values.get(k).cloned().flatten() })
                .collect()
        }
        other => anyhow::bail!("unsupported column type {other}: expected strings or integers"),
    })
}

fn float_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}
