//! `marnet-extract`: stage one of marnet (DESIGN.md section 7). Errors go to stderr, exit code 1.

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use clap::Parser;

fn main() {
    marnet_data::alloc::keep_freed_memory();
    let cli = marnet_extract::cli::Cli::parse();
    if let Err(err) = marnet_extract::cli::run(cli) {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}
