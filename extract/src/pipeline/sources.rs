//! Decoding one batch of samples whatever holds their images (DESIGN.md §4): loose files are
//! read and decoded in parallel by path, exactly as before; images inside Parquet files or tar
//! shards are first read in sample order by one [`ImageBytesReader`] (streaming: each shard is
//! read front to back, each row group's image column once), then decoded in parallel from
//! memory by the same decoder as files, so the same bytes give the same `x_v`.

use crate::preprocess::Preprocessor;
use anyhow::Result;
use marnet_data::image_bytes::ImageBytesReader;
use marnet_data::Sample;
use rayon::prelude::*;

/// A sample's input before decoding.
enum Input {
    /// Read the file at `Sample::image_path` (in the decoding thread).
    File,
    /// The encoded bytes, or why they could not be read.
    Bytes(Result<Vec<u8>>),
}

/// `(3, H, W)` f32 pixels of each sample of `samples`, or why its image is unusable; errors
/// name the file, or the shard and member, or the Parquet file, row group and row.
pub fn prepare(
    samples: &[Sample],
    reader: &mut ImageBytesReader,
    preprocessor: &Preprocessor,
) -> Vec<Result<Vec<f32>>> {
    let inputs: Vec<Input> =
        samples.iter().map(|s| if s.source.is_file() { Input::File } else { Input::Bytes(reader.read(s)) }).collect();
    samples
        .par_iter()
        .zip(inputs.into_par_iter())
        .map(|(s, input)| match input {
            Input::File => preprocessor.load(&s.image_path),
            Input::Bytes(Ok(bytes)) => preprocessor.load_bytes(&bytes, &s.location().to_string()),
            Input::Bytes(Err(e)) => Err(e.context(format!("cannot read image {}", s.location()))),
        })
        .collect()
}
