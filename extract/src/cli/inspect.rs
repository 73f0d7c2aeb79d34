//! `marnet-extract inspect --dataset KIND:PATH`: prints the dataset summary JSON of DESIGN.md §7.

use clap::Args;

/// Flags of `marnet-extract inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Dataset as KIND:PATH, KIND one of manifest, imagefolder, vireo172, ingredient101.
    #[arg(long)]
    pub dataset: String,
}

/// Prints `{"kind", "root", "classes", "class_names", "splits", "with_text", "missing_files"}`
/// (plus `"folders"` for ingredient101: the annotations and images folders used) to stdout.
///
/// # Errors
/// The dataset cannot be read (the message names the file and line).
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let report = marnet_data::inspect(&args.dataset)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
