//! Write flow control, shared by stream and datagram transports (asyncio's
//! `FlowControlMixin` of `transports.py`): the water marks of a write buffer, and whether
//! the protocol was told to pause.
//!
//! A transport judges its own buffer's size against the marks; this type holds the marks
//! and the pause state so that both kinds of transport set them, and decide to pause and
//! resume, by the same rules. `pause_writing` is scheduled, never called from inside the
//! transport method that crossed the mark (the protocol may be the caller); a pause that
//! has not reached the protocol when the buffer drains is dropped, and needs no resume.

use std::cell::Cell;
use std::io;

use crate::error::{Error, Result};

/// asyncio's default high-water mark of a transport's write buffer.
const DEFAULT_HIGH_WATER: usize = 64 * 1024;

/// The marks and the pause state of one transport's write buffer.
#[derive(Debug)]
pub(crate) struct WaterMarks {
    high: Cell<usize>,
    low: Cell<usize>,
    /// The protocol was told (or is about to be told) to pause.
    paused: Cell<bool>,
    /// `pause_writing` is scheduled and has not reached the protocol yet.
    pause_pending: Cell<bool>,
}

impl Default for WaterMarks {
    fn default() -> WaterMarks {
        WaterMarks {
            high: Cell::new(DEFAULT_HIGH_WATER),
            low: Cell::new(DEFAULT_HIGH_WATER / 4),
            paused: Cell::new(false),
            pause_pending: Cell::new(false),
        }
    }
}

impl WaterMarks {
    /// Sets the marks as asyncio's `set_write_buffer_limits` does: a missing low mark is
    /// a quarter of the high one, a missing high mark four times the low one, both
    /// missing are the defaults; `low > high` is an `InvalidInput` error.
    pub(crate) fn set(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        let (high, low) = match (high, low) {
            (Some(h), Some(l)) => (h, l),
            (Some(h), None) => (h, h / 4),
            (None, Some(l)) => (l.saturating_mul(4), l),
            (None, None) => (DEFAULT_HIGH_WATER, DEFAULT_HIGH_WATER / 4),
        };
        if low > high {
            return Err(Error::Os(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("high ({high}) must be >= low ({low}) must be >= 0"),
            )));
        }
        self.high.set(high);
        self.low.set(low);
        Ok(())
    }

    /// `(low, high)`, as asyncio's `get_write_buffer_limits`.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low.get(), self.high.get())
    }

    /// Whether a buffer of `size` bytes is over the high mark while the protocol is not
    /// paused yet: the caller then calls [`WaterMarks::pause`].
    pub(crate) fn over_high(&self, size: usize) -> bool {
        size > self.high.get() && !self.paused.get()
    }

    /// Whether the protocol was told (or is about to be told) to pause.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// Marks the protocol paused with its `pause_writing` still to be delivered.
    pub(crate) fn pause(&self) {
        self.paused.set(true);
        self.pause_pending.set(true);
    }

    /// In the scheduled callback: whether `pause_writing` is still due (the buffer may
    /// have drained before it ran; then neither call is made).
    pub(crate) fn take_pending_pause(&self) -> bool {
        self.pause_pending.replace(false)
    }

    /// Whether a buffer of `size` bytes lets a paused protocol resume: true when
    /// `resume_writing` is to be called now (false too when the pause never reached the
    /// protocol, which is then forgotten).
    pub(crate) fn resume(&self, size: usize) -> bool {
        if !self.paused.get() || size > self.low.get() {
            return false;
        }
        self.paused.set(false);
        !self.pause_pending.replace(false)
    }
}
