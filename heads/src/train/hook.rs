//! A per-epoch callback into [`super::trainer::run_phase`]: after each epoch's evaluation, the
//! val top-1 that model selection has just computed is reported to the hook, which may stop the
//! run (sweep pruning: successive halving / ASHA, the median rule). Nothing is evaluated twice.
//!
//! Stopping is an error ([`Stopped`]) so that it leaves every mode at once, whichever phase it
//! comes from: the caller tells it from a failure with `err.downcast_ref::<Stopped>()`.

use std::fmt;
use std::sync::Arc;

/// What the hook sees after one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochReport {
    /// 1 = phase 1 (or the only phase), 2 = phase 2 of the two-phase modes.
    pub phase: u8,
    /// 1-based epoch within the phase.
    pub epoch: usize,
    /// Epochs the phase would run without early stopping (after `min_steps` raised them).
    pub planned_epochs: usize,
    /// Val top-1 in percent of the phase's classifier after this epoch.
    pub val_top1: f64,
}

/// The hook's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Continue,
    /// End the run now: `run_phase` returns [`Stopped`].
    Stop,
}

/// A shareable callback `Fn(&EpochReport) -> Control` (cheap to clone).
#[derive(Clone)]
pub struct EpochHook(Arc<dyn Fn(&EpochReport) -> Control + Send + Sync>);

impl EpochHook {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&EpochReport) -> Control + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Calls the callback.
    pub fn report(&self, r: &EpochReport) -> Control {
        (self.0)(r)
    }
}

impl fmt::Debug for EpochHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EpochHook(..)")
    }
}

/// The error a run ends with when its hook answered [`Control::Stop`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stopped {
    /// The report that the hook stopped on.
    pub at: EpochReport,
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped by the epoch hook after phase {} epoch {} (val top-1 {:.2} %)",
            self.at.phase, self.at.epoch, self.at.val_top1
        )
    }
}

impl std::error::Error for Stopped {}
