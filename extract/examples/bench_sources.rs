//! Decode + preprocess throughput of the same photos read three ways (release build):
//! loose files (`manifest:`), one Parquet file with the images in a binary column (`hf:`,
//! row groups of 64 rows) and tar shards of 64 images (`webdataset:`). Each source goes through
//! the extraction pipeline's batch decoding ([`marnet_extract::pipeline::sources::prepare`],
//! batches of 16, rayon) with the demo CLIP preprocessing; the three sources are timed
//! interleaved, best of `--reps`. Prints a Markdown table.
//!
//! `cargo run --release -p marnet-extract --example bench_sources -- --n-images 256 --reps 3`

#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use anyhow::{Context, Result};
use arrow_array::{ArrayRef, BinaryArray, Int64Array, RecordBatch};
use marnet_data::image_bytes::ImageBytesReader;
use marnet_data::load_dataset;
use marnet_extract::pipeline::sources::prepare;
use marnet_extract::Preprocessor;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const PER_SHARD: usize = 64;
const BATCH: usize = 16;

fn main() -> Result<()> {
    let mut images: PathBuf = "data/demo/food/images".into();
    let mut preprocessor_json: PathBuf = "data/demo/models/clip-vit-b16-vision/preprocessor_config.json".into();
    let (mut n, mut reps) = (256usize, 3usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--images" => images = val()?.into(),
            "--preprocessor" => preprocessor_json = val()?.into(),
            "--n-images" => n = val()?.parse()?,
            "--reps" => reps = val()?.parse()?,
            other => anyhow::bail!("unknown flag {other}; flags: --images --preprocessor --n-images --reps"),
        }
    }
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&images)
        .with_context(|| format!("listing {}", images.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg")))
        .collect();
    photos.sort();
    photos.truncate(n);
    anyhow::ensure!(!photos.is_empty(), "no JPEG under {}", images.display());
    let pre = Preprocessor::from_json_file(&preprocessor_json, true, 224)?;
    let dir = tempfile::tempdir()?;
    let specs = write_sources(dir.path(), &photos)?;
    let mut best = [f64::INFINITY; 3];
    for _ in 0..reps {
        for (i, (_, spec)) in specs.iter().enumerate() {
            best[i] = best[i].min(time_decode(spec, &pre)?);
        }
    }
    let mb: u64 = photos.iter().map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)).sum();
    println!(
        "{} JPEG photos ({:.1} MB), CLIP 224 preprocessing, batches of {BATCH}, rayon threads {}, best of {reps}\n",
        photos.len(),
        mb as f64 / 1e6,
        rayon::current_num_threads()
    );
    println!("| source | images/s | vs files |\n|---|---:|---:|");
    for (i, (name, _)) in specs.iter().enumerate() {
        let ips = photos.len() as f64 / best[i];
        println!("| {name} | {ips:.1} | {:.2} |", best[0] / best[i]);
    }
    Ok(())
}

/// Seconds to decode + preprocess every sample of `spec` in batches, as the pipeline does.
fn time_decode(spec: &str, pre: &Preprocessor) -> Result<f64> {
    let ds = load_dataset(spec)?;
    let start = Instant::now();
    let mut reader = ImageBytesReader::new();
    for chunk in ds.samples.chunks(BATCH) {
        for px in prepare(chunk, &mut reader, pre) {
            px?;
        }
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Writes the photos as files + manifest, one Parquet file and tar shards; returns the specs.
fn write_sources(dir: &Path, photos: &[PathBuf]) -> Result<Vec<(&'static str, String)>> {
    let files = dir.join("files");
    std::fs::create_dir_all(&files)?;
    let mut csv = String::from("file_name,label\n");
    let mut bytes = Vec::new();
    for (i, p) in photos.iter().enumerate() {
        let b = std::fs::read(p)?;
        std::fs::write(files.join(format!("{i:06}.jpg")), &b)?;
        csv.push_str(&format!("{i:06}.jpg,{}\n", i % 3));
        bytes.push(b);
    }
    std::fs::write(files.join("manifest.csv"), csv)?;

    let image: ArrayRef = Arc::new(BinaryArray::from_iter_values(bytes.iter()));
    let label: ArrayRef = Arc::new(Int64Array::from_iter_values((0..bytes.len() as i64).map(|i| i % 3)));
    let batch = RecordBatch::try_from_iter([("image", image), ("label", label)])?;
    std::fs::create_dir_all(dir.join("hf"))?;
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(PER_SHARD)).build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(dir.join("hf/train-00000-of-00001.parquet"))?,
        batch.schema(),
        Some(props),
    )?;
    w.write(&batch)?;
    w.close()?;

    std::fs::create_dir_all(dir.join("wds"))?;
    for (s, chunk) in bytes.chunks(PER_SHARD).enumerate() {
        let mut tar = tar::Builder::new(std::fs::File::create(dir.join(format!("wds/{s:06}.tar")))?);
        for (j, b) in chunk.iter().enumerate() {
            let key = format!("{:06}", s * PER_SHARD + j);
            for (ext, data) in [("jpg", b.as_slice()), ("cls", (((s * PER_SHARD + j) % 3).to_string()).as_bytes())] {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                tar.append_data(&mut h, format!("{key}.{ext}"), data)?;
            }
        }
        tar.finish()?;
    }
    Ok(vec![
        ("files (manifest:)", format!("manifest:{}", files.join("manifest.csv").display())),
        ("Parquet (hf:)", format!("hf:{}", dir.join("hf").display())),
        ("tar shards (webdataset:)", format!("webdataset:{}", dir.join("wds").display())),
    ])
}
