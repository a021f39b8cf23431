//! What one `wait` hands the guest: events under the guest's tokens, and the bytes read for
//! them; and what the guest hands `wait`: the writes it queued.
//!
//! The reactor's own vocabulary, which the glue (`host.rs`) converts to and from the
//! WIT's `interest`, `event`, `batch` and `stream-write` at the edge.

use std::ops::{BitOr, BitOrAssign};

use crate::error::Error;

/// What a registration watches for, and what an event reports: readable, writable, hangup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Interest(u8);

impl Interest {
    pub(crate) const READABLE: Interest = Interest(1);
    pub(crate) const WRITABLE: Interest = Interest(1 << 1);
    /// The peer hung up, or the descriptor failed (never asked for alone: always reported).
    pub(crate) const HANGUP: Interest = Interest(1 << 2);

    /// Nothing.
    pub(crate) const fn empty() -> Interest {
        Interest(0)
    }

    /// Whether every flag of `other` is set in `self`.
    pub(crate) const fn contains(self, other: Interest) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Interest {
    type Output = Interest;

    fn bitor(self, other: Interest) -> Interest {
        Interest(self.0 | other.0)
    }
}

impl BitOrAssign for Interest {
    fn bitor_assign(&mut self, other: Interest) {
        self.0 |= other.0;
    }
}

/// What the kernel reported for one registration: the mio token and the readiness, kept
/// past the `mio::Events` buffer it was read into (a shared drain hands it to the
/// instance's mailbox).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Readiness {
    pub(crate) token: mio::Token,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    pub(crate) read_closed: bool,
    pub(crate) write_closed: bool,
    pub(crate) error: bool,
}

impl Readiness {
    pub(crate) fn of(event: &mio::event::Event) -> Readiness {
        Readiness {
            token: event.token(),
            readable: event.is_readable(),
            writable: event.is_writable(),
            read_closed: event.is_read_closed(),
            write_closed: event.is_write_closed(),
            error: event.is_error(),
        }
    }
}

/// One event of a batch, under the guest's token.
///
/// For a readiness source only `readiness` says anything; a completion-mode stream also
/// reports the bytes it read (`data_len` of the batch's `data`, in event order), what it
/// still buffers for writing, what the batch's writes had refused, and the failure that
/// ended it (see the net module's `stream`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readiness: Interest,
    pub(crate) data_len: u32,
    pub(crate) write_buffered: u64,
    pub(crate) write_refused: u64,
    pub(crate) error: Option<Error>,
}

impl Event {
    /// An event that reports readiness only.
    pub(crate) fn readiness(token: u64, readiness: Interest) -> Event {
        Event {
            token,
            readiness,
            data_len: 0,
            write_buffered: 0,
            write_refused: 0,
            error: None,
        }
    }
}

/// What one `wait` returns: the events, and the bytes read for them, one after the other
/// in event order.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) events: Vec<Event>,
    pub(crate) data: Vec<u8>,
}

/// A write the guest queued for the next `wait`: `len` bytes of its `write-data` for the
/// stream whose table index (`stream.id`) is `id`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct QueuedWrite {
    pub(crate) id: u32,
    pub(crate) len: u32,
}
