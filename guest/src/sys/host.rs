//! The selector over the sandloop host's native reactor (`sandloop:host/reactor`), and
//! the wait that does the writes of completion-mode streams first.

use std::rc::Rc;
use std::time::Duration;

use super::bindings::reactor;
use super::errors::error_from_wit;
use super::net::HostStream;
use super::{Event, EventData, Readiness, Selector};

/// Waits on the host's native reactor: one boundary crossing per loop iteration does the
/// batch's stream writes and returns every ready event at once, so the cost is O(ready)
/// rather than O(registered), and writes cost no crossing of their own.
///
/// asyncio's selector model on the sandloop host's reactor (transports read and write on
/// readiness):
///
/// ```no_run
/// use sandloop::{HostSelector, SelectorEventLoop};
/// let lp = SelectorEventLoop::new(HostSelector::new());
/// # let _ = lp;
/// ```
pub struct HostSelector {
    _private: (),
}

impl HostSelector {
    /// A selector over the host's reactor. Building a workload with the `host-reactor`
    /// feature makes it import `sandloop:host/reactor`, so it needs the sandloop host.
    pub fn new() -> HostSelector {
        HostSelector { _private: () }
    }
}

impl Default for HostSelector {
    fn default() -> HostSelector {
        HostSelector::new()
    }
}

impl Selector for HostSelector {
    fn name(&self) -> &'static str {
        "HostSelector"
    }

    fn watches_host_sources(&self) -> bool {
        true
    }

    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) {
        wait(&Writes::default(), timeout, events);
    }
}

/// The writes a wait does before it polls (`reactor.wait`'s `writes` and `write-data`):
/// the bytes of every run of writes to a stream back to back, and one record per run (the
/// host's stream and the run's length), kept in the host's own format so that a wait
/// builds nothing. Only the host's reactor has streams, so only its wait takes writes.
#[derive(Default)]
pub(crate) struct Writes {
    records: Vec<reactor::StreamWrite>,
    data: Vec<u8>,
}

impl Writes {
    /// Starts a run of writes to `stream` with `bytes`.
    pub(crate) fn start_run(&mut self, stream: &HostStream, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        self.records.push(reactor::StreamWrite {
            id: stream.id(),
            len: bytes.len() as u32,
        });
    }

    /// Appends `bytes` to the last run; `false` (and nothing appended) when there is no
    /// run or its length would overflow the record.
    pub(crate) fn extend_run(&mut self, bytes: &[u8]) -> bool {
        let Some(last) = self.records.last_mut() else {
            return false;
        };
        let Some(len) = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| last.len.checked_add(n))
        else {
            return false;
        };
        last.len = len;
        self.data.extend_from_slice(bytes);
        true
    }

    /// The bytes of every run.
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The bytes of each run, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &[u8]> {
        let mut at = 0;
        self.records.iter().map(move |record| {
            let bytes = &self.data[at..at + record.len as usize];
            at += record.len as usize;
            bytes
        })
    }

    /// Empties the runs; keeps the allocations unless the bytes took more than
    /// `kept_capacity`.
    pub(crate) fn clear(&mut self, kept_capacity: usize) {
        self.records.clear();
        self.data.clear();
        if self.data.capacity() > kept_capacity {
            self.data = Vec::new();
        }
    }
}

/// The words of one event in the batch's `events` (the WIT's `batch` documents the
/// layout): the token, what is ready with `failed` and `data-len`, `write-buffered`,
/// `write-refused`.
const EVENT_WORDS: usize = 4;

/// Word 1 of an event: the bits of `interest`.
const READABLE: u64 = 1;
const WRITABLE: u64 = 1 << 1;
const HANGUP: u64 = 1 << 2;

/// Word 1 of an event: it carries the next failure of the batch's `errors`.
const FAILED: u64 = 1 << 8;

/// Word 1 of an event: where `data-len` starts.
const DATA_LEN_SHIFT: u32 = 32;

/// Does `writes`, in order, then waits for the reactor's events at most `timeout` (`None`:
/// no limit), in one call into the host; appends the events to `events`.
pub(crate) fn wait(writes: &Writes, timeout: Option<Duration>, events: &mut Vec<Event>) {
    let timeout_ns = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
    let batch = reactor::wait(&writes.records, &writes.data, timeout_ns);
    let bytes = Rc::new(batch.data);
    let mut errors = batch.errors.into_iter();
    let (packed, rest) = batch.events.as_chunks::<EVENT_WORDS>();
    assert!(rest.is_empty(), "the host's batch holds a part of an event");
    events.reserve(packed.len());
    let mut at = 0;
    for &[token, word, write_buffered, write_refused] in packed {
        let end = at + (word >> DATA_LEN_SHIFT) as usize;
        events.push(Event {
            token,
            readiness: Readiness {
                readable: word & READABLE != 0,
                writable: word & WRITABLE != 0,
                hangup: word & HANGUP != 0,
            },
            data: if end > at {
                EventData::shared(&bytes, at..end)
            } else {
                EventData::default()
            },
            unsent: write_buffered,
            refused: write_refused,
            error: match word & FAILED {
                0 => None,
                _ => errors.next().map(error_from_wit),
            },
        });
        at = end;
    }
}
