//! Where the heads' tensor maths runs: on a rayon pool sized to candle's thread count, with
//! candle's elementwise workers told not to spin long.
//!
//! Measured on the 2-core machine (`mlp` phase 1 at 1/8 of Vireo-Food172 size, s/epoch): from the
//! main thread 2.55; the same work run by [`on_math_pool`] 2.14; plus
//! [`quiet_elementwise_workers`] 1.94 (one thread: 3.1). Two effects:
//! - candle's matmul (and the heads' own kernels) split their work with rayon. Called from a
//!   thread outside any pool, every call is injected into the global pool and the caller sleeps
//!   until it is done (two wake-ups per matmul, hundreds per training step). Called from a pool
//!   worker, the caller takes one half itself and the other worker steals the rest.
//! - candle 0.11 runs large elementwise ops on its own "barrier pool"; after each op its workers
//!   spin 25,000 times before parking (`CANDLE_BARRIER_POOL_SPIN_LIMIT`), which on 2 cores takes
//!   a core from the matmul that follows.

/// The spin count set by [`quiet_elementwise_workers`] (candle's default is 25,000).
pub const ELEMENTWISE_SPIN_LIMIT: u32 = 200;

/// Sets `CANDLE_BARRIER_POOL_SPIN_LIMIT` to [`ELEMENTWISE_SPIN_LIMIT`] unless the user set it.
/// candle reads it once, when its elementwise pool starts: call this first thing in `main`,
/// before any tensor op and before other threads exist (it writes the environment).
pub fn quiet_elementwise_workers() {
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var("CANDLE_BARRIER_POOL_SPIN_LIMIT", ELEMENTWISE_SPIN_LIMIT.to_string());
    }
}

/// Runs `f` on a rayon pool of `candle_core::utils::get_num_threads()` threads (the count candle
/// splits matmuls into: `RAYON_NUM_THREADS`, else the physical cores); directly when already on
/// a pool of that size. Falls back to the calling thread if no pool can be started.
pub fn on_math_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let n = candle_core::utils::get_num_threads();
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() == n {
        return f();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(n).thread_name(|i| format!("marnet-math-{i}")).build() {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_a_pool_of_candles_thread_count() {
        let (inside, threads) =
            on_math_pool(|| (rayon::current_thread_index().is_some(), rayon::current_num_threads()));
        assert!(inside);
        assert_eq!(threads, candle_core::utils::get_num_threads());
        // Nested calls stay on the same pool.
        let nested = on_math_pool(|| on_math_pool(rayon::current_num_threads));
        assert_eq!(nested, threads);
    }
}
