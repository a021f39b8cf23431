//! What the watchdog of one instance reads of its reactor (see the `limits` module): whether a
//! stop was requested, and when the guest last came back from `wait` (the start of its
//! current callback). `wait` fails with [`Stopped`] once a stop was requested, and starts
//! the callback clock when it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The stop flag and the callback clock of one instance.
pub(crate) struct Watch {
    stop: Arc<AtomicBool>,
    /// When the guest last left `reactor.wait` (or started).
    pub(crate) callback_since: Instant,
}

impl Watch {
    pub(crate) fn new() -> Watch {
        Watch {
            stop: Arc::new(AtomicBool::new(false)),
            callback_since: Instant::now(),
        }
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
