//! The worker threads of a sweep: `jobs` scoped threads, each running its trials inside its own
//! rayon pool of `inner` threads (see [`super::engine`] for why), with panics turned into errors.

use std::panic::AssertUnwindSafe;

use anyhow::{anyhow, bail, Context, Result};

/// Runs `work(pool)` once on each of `jobs` threads, each with its own pool of `inner` threads;
/// `work` loops over the trials it takes until there are none left.
///
/// # Errors
/// A pool cannot be built, or `work` panicked outside [`caught`].
pub fn on_trial_threads(jobs: usize, inner: usize, work: impl Fn(&rayon::ThreadPool) + Sync) -> Result<()> {
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for _ in 0..jobs.max(1) {
            let pool =
                rayon::ThreadPoolBuilder::new().num_threads(inner).build().context("creating a trial thread pool")?;
            let work = &work;
            handles.push(scope.spawn(move || work(&pool)));
        }
        for h in handles {
            if h.join().is_err() {
                bail!("a sweep worker thread panicked");
            }
        }
        Ok(())
    })
}

/// Runs `f` inside `pool`; a panic becomes an error with its message.
///
/// # Errors
/// `f`'s error, or `panicked: <message>`.
pub fn caught<T>(pool: &rayon::ThreadPool, f: impl FnOnce() -> Result<T> + Send) -> Result<T>
where
    T: Send,
{
    match pool.install(|| std::panic::catch_unwind(AssertUnwindSafe(f))) {
        Ok(r) => r,
        Err(panic) => Err(anyhow!("panicked: {}", panic_text(&panic))),
    }
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
