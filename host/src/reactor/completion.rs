//! How the reactor serves a completion-mode resource (the net module's `Stream`) without
//! knowing what it is: the resource implements [`Completion`], and `wait` hands it one
//! [`Turn`] at a time and a [`BatchOut`] to report into.
//!
//! The resource owns its I/O and what it reports: it reads into the batch's `data`, builds
//! its own events and keeps count of the bytes a wait's writes left buffered or refused.
//! The reactor owns the bookkeeping between the steps of a wait and from one wait to the
//! next, by table index: the [`Follow`] a turn returns says what to remember.

use wasmtime::component::ResourceTable;

use super::event::{Event, Interest, Readiness};
use super::room::Room;

/// The most bytes one `wait` carries in the events of all its streams together: a batch
/// stays a bounded copy however many streams are ready. A stream that could not read
/// because the batch was full is reported by the next wait.
pub const MAX_BATCH_DATA: usize = 1 << 20;

/// A resource whose I/O the reactor does when the kernel reports its descriptor, and whose
/// outcome it reports in the batch. Its mio token is `token(TokenKind::Stream, rep)`
/// (see [`super::token`]), `rep` being its index in the instance's resource table.
pub(crate) trait Completion: Send + 'static {
    /// Serves this resource's part of one wait: does what `turn` asks, pushes at most the
    /// events that says into `batch`, and tells the reactor what to remember of it.
    fn serve(&mut self, turn: Turn<'_>, registry: &mio::Registry, batch: &mut BatchOut) -> Follow;

    /// Re-registers it, so that the kernel reports it again if it is still ready (the last
    /// wait's read stopped at a limit with data maybe left: [`Follow::rearm`]).
    fn rearm(&mut self, registry: &mio::Registry);

    /// The bytes it holds in the host's memory for writing: what the limit on
    /// host-buffered bytes counts (see [`super::room`]).
    fn memory_buffered(&self) -> usize;
}

/// The bytes the resources `C` of `table` hold in the host's memory together: what the
/// limit on host-buffered bytes is measured against (walking the table: see
/// [`super::room`] for why only under a limit).
pub(crate) fn buffered<C: Completion>(table: &mut ResourceTable) -> usize {
    table
        .iter_mut()
        .filter_map(|entry| entry.downcast_mut::<C>())
        .map(|resource| resource.memory_buffered())
        .sum()
}

/// What one wait asks of a completion-mode resource, in the order a wait asks it.
pub(crate) enum Turn<'a> {
    /// A write the guest queued for this wait (`writes` of `wait`), in the order queued;
    /// the batch's `write_room` is what the limit on host-buffered bytes still lets the
    /// writes buffer.
    Write(&'a [u8]),
    /// The kernel reported the descriptor.
    Ready(Ready),
    /// It holds input that no kernel edge will announce (it asked to be held): serve it
    /// as if readable.
    Held,
    /// The batch ends: report what this wait's writes left buffered or refused, unless an
    /// event of the batch carried the count already.
    Written,
    /// It starved (refused bytes with nothing of its own buffered) and the limit has room
    /// again: tell the guest it may write.
    Fed,
}

/// What the kernel reported of a descriptor (or, for held input, what the host assumes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ready {
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// An error or a hangup: read to the end, and try the write that will fail.
    pub(crate) trouble: bool,
}

impl Ready {
    /// Held input: readable, nothing else.
    pub(crate) const HELD: Ready = Ready {
        readable: true,
        writable: false,
        trouble: false,
    };

    /// What a kernel event reports.
    pub(crate) fn of(event: &Readiness) -> Ready {
        Ready {
            readable: event.readable,
            writable: event.writable,
            trouble: event.error || event.read_closed || event.write_closed,
        }
    }
}

/// What the reactor remembers of a resource it served.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Follow {
    /// Its read stopped at a limit with data maybe left: re-arm it before the next wait.
    pub(crate) rearm: bool,
    /// It holds input no kernel edge will announce: serve it at the next wait, which then
    /// does not block.
    pub(crate) hold: bool,
    /// Its writes left bytes buffered or refused: ask for their report at the batch's end.
    pub(crate) report: bool,
    /// It refused bytes with nothing of its own buffered, so no flush of its own will
    /// announce room: the reactor does, once the limit has room again.
    pub(crate) starve: bool,
}

/// The batch a wait is putting together, as a completion-mode resource writes into it.
pub(crate) struct BatchOut {
    pub(crate) events: Vec<Event>,
    /// The bytes read for the batch's events, one event's after the other.
    pub(crate) data: Vec<u8>,
    /// What `data` may still take of [`MAX_BATCH_DATA`].
    pub(crate) data_room: usize,
    /// What the batch's writes may still buffer under the limit on host-buffered bytes.
    pub(crate) write_room: Room,
}

impl BatchOut {
    /// An empty batch whose bytes start with room for `data_capacity` (the reactor's
    /// estimate from the last batch).
    pub(crate) fn new(data_capacity: usize) -> BatchOut {
        BatchOut {
            events: Vec::new(),
            data: Vec::with_capacity(data_capacity),
            data_room: MAX_BATCH_DATA,
            write_room: Room::UNLIMITED,
        }
    }

    pub(crate) fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Adds `event` (a `writable` one: room came back), or merges its readiness into the
    /// batch's event under the same token if there is one.
    pub(crate) fn announce_room(&mut self, event: Event) {
        match self.events.iter_mut().find(|e| e.token == event.token) {
            Some(existing) => existing.readiness |= Interest::WRITABLE,
            None => self.events.push(event),
        }
    }
}
