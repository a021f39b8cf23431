//! What the watchdog of one instance reads of its reactor (see the `limits` module): whether a
//! stop was requested, and when the guest last came back from `wait` (the start of its
//! current callback). `wait` fails with [`Stopped`] once a stop was requested, and starts
//! the callback clock when it returns. At each tick the watchdog also charges the running
//! callback to the instance's counters (`stats.rs`), which the store shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::stats::Counters;

/// The stop flag and the callback clock of one instance.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    /// When the guest last left `reactor.wait` (or started).
    pub(crate) callback_since: Instant,
    /// The instance's counters.
    stats: Arc<Counters>,
}

impl Watch {
    pub(crate) fn new() -> Watch {
        Watch {
            stop: Arc::new(AtomicBool::new(false)),
            callback_since: Instant::now(),
            stats: Arc::new(Counters::new()),
        }
    }

    /// The instance's counters.
    pub(crate) fn stats(&self) -> &Arc<Counters> {
        &self.stats
    }

    /// Charges the callback running now to the instance's counters (at a watchdog tick).
    pub(crate) fn charge_running(&self) {
        self.stats.charge(self.callback_since);
    }

    /// Whether a stop was requested for this instance (through the flag
    /// [`Watch::stop_flag`] shares).
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The flag that requests the stop, for a handle on another thread.
    pub(crate) fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }
}

/// The error (a trap of the instance) a stopped instance ends with; the workload's
/// `ExitStatus` recognises it.
#[derive(Debug, thiserror::Error)]
#[error("the workload was stopped from outside")]
pub(crate) struct Stopped;
