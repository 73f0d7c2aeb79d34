//! `marnet-heads` binary: see [`marnet_heads::cli`].

use clap::Parser;

fn main() {
    let cli = marnet_heads::cli::Cli::parse();
    if let Err(e) = marnet_heads::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
