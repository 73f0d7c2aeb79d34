//! Command-line interface of `marnet-extract` (DESIGN.md section 7): one file per subcommand.

mod dataset_flags;
mod inspect;
mod run;

use clap::{Parser, Subcommand};

pub use dataset_flags::DatasetFlags;

/// Stage one of marnet: frozen image and text encoders writing `x_v`, `x_s` to a Parquet cache.
#[derive(Debug, Parser)]
#[command(name = "marnet-extract", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `marnet-extract`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a dataset and print one JSON object describing it (classes, split sizes, texts, missing files).
    Inspect(inspect::InspectArgs),
    /// Extract image features x_v and text features x_s (train/val only) into a Parquet feature cache; rerun to resume.
    Run(run::RunArgs),
}

/// Runs one parsed command line.
///
/// # Errors
/// Any failure of the subcommand, with context naming the file or flag at fault.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Run(args) => run::run(&args),
    }
}
