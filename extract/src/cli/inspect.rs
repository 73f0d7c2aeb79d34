//! `marnet-extract inspect --dataset KIND:PATH`: prints the dataset summary JSON of DESIGN.md §7.

use clap::Args;

/// Flags of `marnet-extract inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Dataset as KIND:PATH, KIND one of manifest, imagefolder, vireo172, ingredient101,
    /// hf (Parquet file or folder), webdataset (tar shards: a folder, a file or a brace pattern).
    #[arg(long)]
    pub dataset: String,
    /// Columns (hf) and JSON keys (webdataset) of the image, label and text.
    #[command(flatten)]
    pub dataset_flags: super::DatasetFlags,
}

/// Prints `{"kind", "root", "classes", "class_names", "splits", "with_text", "missing_files"}`
/// (plus `"folders"` for ingredient101: the annotations and images folders used, and
/// `"warnings"` when the reader warned, e.g. integer labels leaving classes empty) to stdout.
///
/// # Errors
/// The dataset cannot be read (the message names the file and line).
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let report = marnet_data::inspect_with(&args.dataset, &args.dataset_flags.options())?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
