//! Reading the encoded image bytes of samples ([`ImageSource`]), streaming: samples are asked
//! for in dataset order, so a tar shard is read front to back by seeks to each image member's
//! data and a Parquet row group's image column is decoded once for all its rows. Nothing is
//! unpacked to disk. One reader serves one thread; files are opened lazily and kept while
//! consecutive samples use them.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::{ImageSource, Sample};

/// The open tar shard and the decoded image column of the last Parquet row group used.
#[derive(Default)]
pub struct ImageBytesReader {
    shard: Option<(PathBuf, File, u64)>,
    group: Option<(PathBuf, String, usize, ArrayRef)>,
}

impl ImageBytesReader {
    /// A reader with nothing open.
    pub fn new() -> ImageBytesReader {
        ImageBytesReader::default()
    }

    /// The encoded bytes of `sample`'s image (JPEG, PNG, ...), for a non-file source.
    ///
    /// # Errors
    /// A file source (read it by path), a missing image, an unreadable shard or Parquet file, a
    /// shard that ends inside the member, or a null/empty cell with no readable `path`
    /// fallback. Messages name the shard and member or the file, row group and row.
    pub fn read(&mut self, sample: &Sample) -> anyhow::Result<Vec<u8>> {
        let path = &sample.image_path;
        match &sample.source {
            ImageSource::File => bail!("internal: {} is a file, read it by path", path.display()),
            ImageSource::Missing { why } => bail!("no image: {why}"),
            ImageSource::Tar { member, offset, size } => self.tar_member(path, member, *offset, *size),
            ImageSource::Parquet { column, row_group, row, fallback } => {
                let bytes = self.parquet_cell(path, column, *row_group, *row)?;
                match (bytes, fallback) {
                    (Some(b), _) if !b.is_empty() => Ok(b),
                    (b, Some(file)) => std::fs::read(file).with_context(|| {
                        let what = if b.is_some() { "empty" } else { "null" };
                        format!("image bytes are {what} and its path {} cannot be read", file.display())
                    }),
                    (Some(_), None) => bail!("empty image bytes (0 bytes) and no path"),
                    (None, None) => bail!("null image (no bytes, no path)"),
                }
            }
        }
    }

    fn tar_member(&mut self, shard: &Path, member: &str, offset: u64, size: u64) -> anyhow::Result<Vec<u8>> {
        if self.shard.as_ref().is_none_or(|(p, _, _)| p != shard) {
            let file = File::open(shard).with_context(|| format!("opening shard {}", shard.display()))?;
            let len = file.metadata().with_context(|| format!("reading {}", shard.display()))?.len();
            self.shard = Some((shard.to_path_buf(), file, len));
        }
        let (_, file, len) = self.shard.as_mut().context("internal: no open shard")?;
        let end = offset.saturating_add(size);
        if end > *len {
            bail!("shard is cut off inside member {member}: its data runs to byte {end} but the shard has {len} bytes");
        }
        let mut bytes = vec![0u8; size as usize];
        file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_exact(&mut bytes)).with_context(|| {
            format!("reading member {member} ({size} bytes at offset {offset}) of {}", shard.display())
        })?;
        Ok(bytes)
    }

    /// The cell's bytes (`None` for null), decoding the row group's image column on first use.
    fn parquet_cell(&mut self, file: &Path, column: &str, group: usize, row: usize) -> anyhow::Result<Option<Vec<u8>>> {
        let cached = self.group.as_ref().is_some_and(|(p, c, g, _)| p == file && c == column && *g == group);
        if !cached {
            let array = read_image_column(file, column, group)?;
            self.group = Some((file.to_path_buf(), column.to_string(), group, array));
        }
        let (_, _, _, array) = self.group.as_ref().context("internal: no row group")?;
        anyhow::ensure!(row < array.len(), "row {row} beyond the {} rows of row group {group}", array.len());
        binary_cell(array.as_ref(), row)
    }
}

/// The image column of one row group: the `bytes` child of an `Image` struct, or the binary
/// column itself.
fn read_image_column(file: &Path, column: &str, group: usize) -> anyhow::Result<ArrayRef> {
    let opened = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(opened)
        .with_context(|| format!("{}: not a valid Parquet file", file.display()))?;
    let groups = builder.metadata().num_row_groups();
    anyhow::ensure!(group < groups, "{}: no row group {group} (the file has {groups})", file.display());
    let rows = builder.metadata().row_group(group).num_rows().max(1) as usize;
    let schema = builder.parquet_schema();
    let leaves = (0..schema.num_columns()).filter(|&i| {
        let col = schema.column(i);
        let parts = col.path().parts();
        parts[0] == column && (parts.len() == 1 || parts[1] == "bytes")
    });
    let mask = ProjectionMask::leaves(schema, leaves);
    let reader = builder
        .with_row_groups(vec![group])
        .with_projection(mask)
        .with_batch_size(rows)
        .build()
        .with_context(|| format!("reading row group {group} of {}", file.display()))?;
    let mut parts: Vec<ArrayRef> = Vec::new();
    for batch in reader {
        let batch = batch.with_context(|| format!("reading row group {group} of {}", file.display()))?;
        let col = batch.column_by_name(column).with_context(|| format!("no column {column:?}"))?.clone();
        let col = match col.as_struct_opt() {
            Some(s) => s.column_by_name("bytes").context("image struct without a bytes field")?.clone(),
            None => col,
        };
        parts.push(col);
    }
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    match refs.len() {
        1 => Ok(parts.remove(0)),
        _ => arrow_select::concat::concat(&refs).with_context(|| format!("row group {group} of {}", file.display())),
    }
}

/// Cell `row` of a binary array (`None` for null).
fn binary_cell(array: &dyn Array, row: usize) -> anyhow::Result<Option<Vec<u8>>> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
        DataType::LargeBinary => array.as_binary::<i64>().value(row).to_vec(),
        DataType::BinaryView => array.as_binary_view().value(row).to_vec(),
        other => bail!("image column of type {other}: expected binary bytes"),
    }))
}
