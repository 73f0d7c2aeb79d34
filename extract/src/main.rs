//! `marnet-extract`: stage one of marnet (DESIGN.md section 7). Errors go to stderr, exit code 1.

use clap::Parser;

fn main() {
    let cli = marnet_extract::cli::Cli::parse();
    if let Err(err) = marnet_extract::cli::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
