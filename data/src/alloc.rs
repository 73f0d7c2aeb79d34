//! The global allocator of marnet's binaries and benchmarks: mimalloc, tuned for tensor work.
//!
//! Candle allocates a fresh buffer for the result of every tensor op, so a training step or a
//! ViT forward pass allocates and frees hundreds of megabytes of short-lived buffers. glibc
//! malloc maps and unmaps each large buffer (page faults on every op, TLB shootdowns between the
//! threads of a sweep); mimalloc with purging disabled keeps freed pages and reuses them.
//! Measured on the 16-trial `bench_sweep` (2 cores): glibc 20.7 s at `--jobs 1` / 13.0 s at
//! `--jobs 2`, mimalloc defaults 18.7 / 11.0 s, mimalloc without purging 16.0 / 10.1 s.
//!
//! Each binary declares the allocator itself (`#[global_allocator] static GLOBAL: MiMalloc`)
//! and calls [`keep_freed_memory`] first thing in `main`.

pub use mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the `mi_option_e` enum of mimalloc.h (index 15 in both v2 and v3;
/// libmimalloc-sys 0.1.49 builds v3 by default): "memory purging is delayed by N milli seconds;
/// use 0 for immediate purging or -1 for no purging at all". Default 1000 in v3 (options.c).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to return freed pages to the OS, so the next tensor of the same size
/// reuses warm pages. The process's resident memory then stays at its peak until exit, which
/// is what a training or extraction run needs anyway.
///
/// Harmless when mimalloc is not the global allocator (it only sets an option).
pub fn keep_freed_memory() {
    // SAFETY: mi_option_set only stores an integer option; any value is valid for this option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Index 15 must be the purge delay: its default in mimalloc v3's options.c is 1000 ms (no
    /// other option near it defaults to 1000), and setting it to -1 reads back as -1.
    #[test]
    fn option_index_is_the_purge_delay() {
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // Another test in this binary may already have called keep_freed_memory.
        assert!(before == 1000 || before == -1, "option 15 read {before}, expected purge_delay's default 1000");
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
    }
}
