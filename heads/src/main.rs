//! `marnet-heads` binary: see [`marnet_heads::cli`].

/// mimalloc, tuned in `main` by `keep_freed_memory` (see `marnet_data::alloc`).
#[global_allocator]
static GLOBAL: marnet_data::alloc::MiMalloc = marnet_data::alloc::MiMalloc;

use clap::Parser;

fn main() {
    marnet_data::alloc::keep_freed_memory();
    marnet_heads::nn::math_pool::quiet_elementwise_workers();
    let cli = marnet_heads::cli::Cli::parse();
    if let Err(e) = marnet_heads::cli::run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
