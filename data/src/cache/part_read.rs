//! Reading one cache part back: Parquet → Arrow batches → flat f32 buffers (DESIGN.md §3).
//! Feature columns are copied a whole batch at a time from the list's flat Float32 child.

use std::fs::File;
use std::path::Path;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, FixedSizeListArray, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::CacheMetadata;
use crate::Split;

/// A part as read: its metadata and its rows as flat row-major buffers.
#[derive(Debug)]
pub(crate) struct PartData {
    pub metadata: CacheMetadata,
    pub ids: Vec<String>,
    pub splits: Vec<Split>,
    pub labels: Vec<u32>,
    /// (n × d_v) row-major.
    pub x_v: Vec<f32>,
    /// (n × d_s) row-major, zeros where `has_text` is false.
    pub x_s: Vec<f32>,
    pub has_text: Vec<bool>,
}

/// Only the metadata of a part (reads the footer, not the data).
///
/// # Errors
/// Not a Parquet file, or metadata missing or invalid.
pub(crate) fn read_part_metadata(path: &Path) -> anyhow::Result<(CacheMetadata, usize)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a valid Parquet file", path.display()))?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let metadata = metadata_of(builder.schema().metadata(), path)?;
    Ok((metadata, rows))
}

fn metadata_of(kv: &arrow_schema::Metadata, path: &Path) -> anyhow::Result<CacheMetadata> {
    CacheMetadata::from_kv(kv.iter()).with_context(|| format!("{}: bad cache metadata", path.display()))
}

/// Reads every row of a part and checks it against its own metadata.
///
/// # Errors
/// Invalid Parquet, a missing or mistyped column, a width other than the metadata's `d_v` /
/// `d_s`, a null `x_v`, an unknown split, a negative label, or a NaN/inf feature (naming the
/// part, the row id and the column).
pub(crate) fn read_part(path: &Path) -> anyhow::Result<PartData> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a valid Parquet file", path.display()))?;
    let metadata = metadata_of(builder.schema().metadata(), path)?;
    let n = builder.metadata().file_metadata().num_rows().max(0) as usize;
    let mut part = PartData {
        ids: Vec::with_capacity(n),
        splits: Vec::with_capacity(n),
        labels: Vec::with_capacity(n),
        x_v: Vec::with_capacity(n * metadata.d_v),
        x_s: Vec::with_capacity(n * metadata.d_s),
        has_text: Vec::with_capacity(n),
        metadata,
    };
    let reader = builder.with_batch_size(8192).build().with_context(|| format!("reading {}", path.display()))?;
    for batch in reader {
        let batch = batch.with_context(|| format!("reading {}", path.display()))?;
        append_batch(&mut part, &batch).with_context(|| format!("{}", path.display()))?;
    }
    Ok(part)
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> anyhow::Result<&'a dyn Array> {
    batch.column_by_name(name).map(|c| c.as_ref()).with_context(|| format!("no column {name:?}"))
}

fn append_batch(part: &mut PartData, batch: &RecordBatch) -> anyhow::Result<()> {
    let first = part.ids.len();
    let ids = column(batch, "id")?.as_string_opt::<i32>().context("column \"id\" must be utf8")?;
    anyhow::ensure!(ids.null_count() == 0, "column \"id\" has nulls");
    part.ids.extend(ids.iter().map(|s| s.unwrap_or_default().to_string()));
    append_splits(part, column(batch, "split")?)?;
    let labels = column(batch, "label")?.as_primitive_opt::<Int32Type>().context("column \"label\" must be int32")?;
    for (i, l) in labels.iter().enumerate() {
        let l = l.with_context(|| format!("row {:?}: null label", part.ids[first + i]))?;
        anyhow::ensure!(l >= 0, "row {:?}: negative label {l}", part.ids[first + i]);
        part.labels.push(l as u32);
    }
    let (d_v, d_s) = (part.metadata.d_v, part.metadata.d_s);
    let x_v = feature_list(column(batch, "x_v")?, "x_v", d_v)?;
    anyhow::ensure!(x_v.null_count() == 0, "column \"x_v\" has nulls (every row needs an image feature)");
    let mut all = vec![true; batch.num_rows()];
    copy_features(x_v, d_v, &part.ids[first..], "x_v", &mut part.x_v, &mut all)?;
    let x_s = feature_list(column(batch, "x_s")?, "x_s", d_s)?;
    // Rows without text: a null `x_s` (what the writer writes, DESIGN.md §3) or, in the older
    // variant with a non-null `x_s`, `has_text` false.
    let mut has_text = Vec::with_capacity(batch.num_rows());
    match batch.column_by_name("has_text") {
        Some(col) => {
            let flags = col.as_boolean_opt().context("column \"has_text\" must be bool")?;
            anyhow::ensure!(flags.null_count() == 0, "column \"has_text\" has nulls");
            has_text.extend(flags.iter().map(|f| f.unwrap_or(false)));
        }
        None => has_text.resize(batch.num_rows(), true),
    }
    copy_features(x_s, d_s, &part.ids[first..], "x_s", &mut part.x_s, &mut has_text)?;
    part.has_text.extend(has_text);
    Ok(())
}

fn append_splits(part: &mut PartData, array: &dyn Array) -> anyhow::Result<()> {
    let first = part.ids.len() - array.len();
    let names: Vec<Option<String>> = match array.data_type() {
        DataType::Dictionary(_, _) => {
            let dict = array.as_any_dictionary_opt().context("column \"split\": bad dictionary")?;
            let values = dict.values().as_string_opt::<i32>().context("column \"split\" must hold utf8")?;
            dict.normalized_keys()
                .into_iter()
                .enumerate()
                .map(|(i, k)| (!array.is_null(i)).then(|| values.value(k).to_string()))
                .collect()
        }
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect(),
        other => anyhow::bail!("column \"split\" has type {other}, expected dictionary<int32, utf8>"),
    };
    for (i, name) in names.into_iter().enumerate() {
        let id = &part.ids[first + i];
        let name = name.with_context(|| format!("row {id:?}: null split"))?;
        let split = Split::from_synonym(&name).with_context(|| format!("row {id:?}: unknown split {name:?}"))?;
        part.splits.push(split);
    }
    Ok(())
}

fn feature_list<'a>(array: &'a dyn Array, name: &str, dim: usize) -> anyhow::Result<&'a FixedSizeListArray> {
    let list = array.as_fixed_size_list_opt().with_context(|| {
        format!("column {name:?} has type {}, expected fixed_size_list<float32>", array.data_type())
    })?;
    anyhow::ensure!(
        list.value_length() as usize == dim,
        "column {name:?} has width {}, but the metadata says d = {dim}",
        list.value_length()
    );
    Ok(list)
}

/// Appends the rows of `list` to `out`. `keep[i]` false on entry, or a null row, means "no
/// feature": the row becomes zeros and `keep[i]` false. Kept rows must be finite.
fn copy_features(
    list: &FixedSizeListArray,
    dim: usize,
    ids: &[String],
    name: &str,
    out: &mut Vec<f32>,
    keep: &mut [bool],
) -> anyhow::Result<()> {
    let values = list
        .values()
        .as_primitive_opt::<arrow_array::types::Float32Type>()
        .with_context(|| format!("column {name:?} must hold float32 values"))?;
    let flat: &[f32] = &values.values()[..list.len() * dim];
    let check_row = |i: usize| -> anyhow::Result<()> {
        let row = &flat[i * dim..(i + 1) * dim];
        if let Some(j) = row.iter().position(|v| !v.is_finite()) {
            anyhow::bail!("row {:?}: column {name}[{j}] is {} (features must be finite)", ids[i], row[j]);
        }
        anyhow::ensure!(
            values.null_count() == 0 || (i * dim..(i + 1) * dim).all(|k| values.is_valid(k)),
            "row {:?}: column {name} has a null element",
            ids[i]
        );
        Ok(())
    };
    for (i, k) in keep.iter_mut().enumerate() {
        *k = *k && list.is_valid(i);
    }
    if keep.iter().all(|k| *k) {
        // Fast path: one finiteness scan, one bulk copy.
        if values.null_count() > 0 || flat.iter().any(|v| !v.is_finite()) {
            (0..list.len()).try_for_each(check_row)?;
        }
        out.extend_from_slice(flat);
        return Ok(());
    }
    for (i, &k) in keep.iter().enumerate() {
        if k {
            check_row(i)?;
            out.extend_from_slice(&flat[i * dim..(i + 1) * dim]);
        } else {
            out.resize(out.len() + dim, 0.0);
        }
    }
    Ok(())
}
