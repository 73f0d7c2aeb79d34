//! Writing one cache part: [`FeatureRows`] → Arrow record batch → zstd Parquet, written to a
//! temp file, fsynced and renamed into place (DESIGN.md §3; column layout in `schema.rs`).

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, DictionaryArray, FixedSizeListArray, Float32Array, Int32Array, RecordBatch, StringArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::Field;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::schema::{part_schema, ITEM_FIELD};
use super::{CacheMetadata, FeatureRows};
use crate::fsutil::{rename_durable, temp_path_for};
use crate::Split;

/// Rows per Parquet row group: a 10k-row part spans several row groups and many data pages
/// (1 MiB page limit), so readers can stream it.
pub const ROW_GROUP_ROWS: usize = 4096;

/// Writes `rows` as the Parquet part `path` (temp file + fsync + rename).
///
/// # Errors
/// `rows` fail [`FeatureRows::validate`] against `metadata`, or the file cannot be written.
pub fn write_part_file(path: &Path, metadata: &CacheMetadata, rows: &FeatureRows) -> anyhow::Result<()> {
    rows.validate(metadata.d_v, metadata.d_s, metadata.class_names.len())
        .with_context(|| format!("refusing to write {}", path.display()))?;
    let kv: HashMap<String, String> = metadata.to_kv().into_iter().collect();
    let schema = Arc::new(part_schema(metadata.d_v, metadata.d_s, kv.clone()));
    let batch =
        RecordBatch::try_new(schema.clone(), columns(metadata, rows)?).context("building the Arrow record batch")?;
    let mut file_kv: Vec<KeyValue> = kv.into_iter().map(|(k, v)| KeyValue::new(k, v)).collect();
    file_kv.sort_by(|a, b| a.key.cmp(&b.key));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).context("zstd level")?))
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from("split"), true)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_key_value_metadata(Some(file_kv))
        .build();

    let tmp = temp_path_for(path);
    let result = (|| {
        let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut writer = ArrowWriter::try_new(&file, schema, Some(props))
            .with_context(|| format!("starting Parquet writer for {}", tmp.display()))?;
        writer.write(&batch).with_context(|| format!("writing {}", tmp.display()))?;
        writer.close().with_context(|| format!("finishing {}", tmp.display()))?;
        file.sync_all().with_context(|| format!("syncing {}", tmp.display()))?;
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The five columns in schema order (DESIGN.md §3).
fn columns(metadata: &CacheMetadata, rows: &FeatureRows) -> anyhow::Result<Vec<ArrayRef>> {
    let ids = StringArray::from_iter_values(rows.ids.iter());
    let split_keys = Int32Array::from_iter_values(rows.splits.iter().map(|s| match s {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }));
    let split_values = StringArray::from_iter_values(Split::ALL.iter().map(|s| s.as_str()));
    let splits = DictionaryArray::<Int32Type>::try_new(split_keys, Arc::new(split_values))
        .context("building the split column")?;
    let labels = Int32Array::from_iter_values(rows.labels.iter().map(|&l| l as i32));
    let x_v = feature_column(&rows.x_v, metadata.d_v, None)?;
    let x_s = feature_column(&rows.x_s, metadata.d_s, Some(&rows.has_text))?;
    Ok(vec![Arc::new(ids), Arc::new(splits), Arc::new(labels), Arc::new(x_v), Arc::new(x_s)])
}

/// A (n, dim) matrix as a fixed_size_list<float32>[dim]; rows where `keep` is false are null
/// (their values stored as zeros, whatever the matrix holds).
fn feature_column(x: &ndarray::Array2<f32>, dim: usize, keep: Option<&[bool]>) -> anyhow::Result<FixedSizeListArray> {
    let mut flat: Vec<f32> = match x.as_slice() {
        Some(s) => s.to_vec(),
        None => x.iter().copied().collect(),
    };
    for (row, _) in keep.unwrap_or(&[]).iter().enumerate().filter(|(_, k)| !**k) {
        flat[row * dim..(row + 1) * dim].fill(0.0);
    }
    let values = Float32Array::new(ScalarBuffer::from(flat), None);
    let field = Arc::new(Field::new(ITEM_FIELD, arrow_schema::DataType::Float32, true));
    let nulls = keep.map(|k| NullBuffer::from(k.to_vec()));
    FixedSizeListArray::try_new_with_length(field, dim as i32, Arc::new(values), nulls, x.nrows())
        .context("building a feature column")
}
