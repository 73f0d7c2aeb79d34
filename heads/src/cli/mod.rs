//! The `marnet-heads` command line (DESIGN §7): one file per subcommand, dispatched here.
//! To add a subcommand: a variant in [`Command`] and an arm in [`run`].

pub mod finetune;
pub mod predict;
pub mod sweep;
pub mod train;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Stage two of marnet: EMA / CDR diffusion / fusion heads trained on a feature cache.
#[derive(Debug, Parser)]
#[command(name = "marnet-heads", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train and evaluate heads on a feature cache; writes metrics.json, config.toml,
    /// heads.safetensors, predictions.parquet and report.md into --out.
    Train(train::TrainArgs),
    /// Run a hyperparameter sweep file on a cache (resumable; --worker k/n splits it over
    /// machines); records each run in OUT/trials/ and writes the merged report.
    Sweep(sweep::SweepArgs),
    /// Merge the records in a sweep folder into results.parquet/csv, leaderboard.md and a plot.
    SweepReport(sweep::SweepReportArgs),
    /// Fine-tune end to end: the heads with the image backbone trainable, images through the
    /// encoder at every step; resumable checkpoints in OUT/checkpoints/, metrics.json like train.
    Finetune(finetune::FinetuneArgs),
    /// Print the top classes of image files with a trained run's heads (the image model
    /// recorded in the run embeds them; --json for one JSON object per image).
    Predict(predict::PredictArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(args) => train::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::SweepReport(args) => sweep::run_report(args),
        Command::Finetune(args) => finetune::run(args),
        Command::Predict(args) => predict::run(args),
    }
}
