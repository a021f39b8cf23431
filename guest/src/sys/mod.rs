//! The loop's I/O backends ("selectors"), behind one small trait.
//!
//! Only this folder touches generated WIT bindings. `host.rs` waits on the sandloop host's
//! native reactor (one crossing per loop iteration, O(ready)); `wasi_poll.rs` uses nothing but
//! standard WASI 0.2 and runs on any host.

#[cfg(feature = "host-reactor")]
mod bindings;
#[cfg(feature = "host-reactor")]
pub(crate) mod dns;
#[cfg(feature = "host-reactor")]
pub(crate) mod errors;
#[cfg(feature = "host-reactor")]
pub(crate) mod executor;
mod exit;
#[cfg(feature = "host-reactor")]
pub(crate) mod files;
#[cfg(feature = "host-reactor")]
pub(crate) mod fs;
#[cfg(feature = "host-reactor")]
pub(crate) mod host;
#[cfg(feature = "host-reactor")]
pub(crate) mod net;
#[cfg(feature = "host-reactor")]
pub(crate) mod process;
#[cfg(feature = "host-reactor")]
pub(crate) mod signal;
#[cfg(feature = "host-reactor")]
pub(crate) mod tls;
pub(crate) mod wasi_poll;

use std::ops::Range;
use std::rc::Rc;
use std::time::Duration;

/// Readiness of a registered source, as the selector reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data, a connection or the end of stream can be read.
    pub readable: bool,
    /// Data can be written without blocking.
    pub writable: bool,
    /// The peer hung up or the resource failed.
    pub hangup: bool,
}

/// The most bytes one call hands the host. wasmtime lets one host call copy 128 MiB at
/// most (its hostcall fuel) and traps the instance past it: a stream's `write` hands its
/// bytes over in parts of this size.
#[cfg(feature = "host-reactor")]
pub(crate) const MAX_HOST_COPY: usize = 16 << 20;

/// The most bytes one socket `send` or pipe `write` offers the host: the kernel takes no
/// more than its buffer holds (a few MiB at most), and every byte offered is copied into
/// the host first, so offering more would only copy bytes to drop them.
#[cfg(feature = "host-reactor")]
pub(crate) const MAX_SEND: usize = 1 << 20;

/// One ready registration: the token the loop chose and what is ready, plus what the host
/// already did for a stream in completion mode (see `ProactorEventLoop`).
#[derive(Debug, Default)]
pub struct Event {
    /// The loop's token for the registration.
    pub token: u64,
    /// What is ready.
    pub readiness: Readiness,
    /// Completion mode: the bytes the host read for the stream; empty otherwise.
    pub data: EventData,
    /// Completion mode: the bytes the host still buffers for writing.
    pub write_buffered: u64,
    /// Completion mode: the last bytes of the wait's writes to the stream that the host
    /// refused (its limit on buffered bytes): the loop gives them back to the transport.
    pub write_refused: u64,
    /// Completion mode: the failure that ended the stream.
    pub error: Option<crate::Error>,
}

/// The bytes an event carries. The host hands a batch's bytes over in one list; each event
/// holds its range of that list, shared, so no event copies its bytes.
#[derive(Clone, Debug, Default)]
pub struct EventData {
    bytes: Option<Rc<Vec<u8>>>,
    range: Range<usize>,
}

impl EventData {
    /// `range` of a batch's `bytes`.
    pub fn shared(bytes: &Rc<Vec<u8>>, range: Range<usize>) -> EventData {
        assert!(
            range.end <= bytes.len(),
            "an event's bytes lie outside its batch"
        );
        EventData {
            bytes: Some(bytes.clone()),
            range,
        }
    }

    /// Appends `more` (copying: two events of one stream, merged).
    pub fn extend_from_slice(&mut self, more: &[u8]) {
        let mut joined = self.to_vec();
        joined.extend_from_slice(more);
        *self = EventData::from(joined);
    }
}

impl From<Vec<u8>> for EventData {
    fn from(bytes: Vec<u8>) -> EventData {
        let range = 0..bytes.len();
        EventData {
            bytes: Some(Rc::new(bytes)),
            range,
        }
    }
}

impl std::ops::Deref for EventData {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.bytes {
            Some(bytes) => &bytes[self.range.clone()],
            None => &[],
        }
    }
}

/// An I/O backend of the loop: waits for readiness, at most `timeout` (`None`: no limit).
///
/// The loop calls [`Selector::select`] once per iteration with the events buffer it reuses.
pub trait Selector {
    /// The backend's name, logged at debug level when a loop picks it.
    fn name(&self) -> &'static str;

    /// Whether sources of the sandloop host (sockets, lookups) can be registered with this
    /// selector. Only the host's reactor can watch them.
    fn watches_host_sources(&self) -> bool {
        false
    }

    /// Blocks until an event is ready or `timeout` passes; appends ready events to `events`.
    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>);

    /// `select`, after handing the host the stream writes the loop queued during its last
    /// batch of callbacks: `writes` say whose are the bytes of `data`, in order (the host's
    /// reactor does them inside the same call). Only the host's reactor has streams, so
    /// other selectors never get writes.
    #[doc(hidden)]
    fn select_after_writes(
        &mut self,
        writes: &[StreamWrite],
        data: &[u8],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) {
        debug_assert!(
            writes.is_empty() && data.is_empty(),
            "{} has no streams to write",
            self.name()
        );
        self.select(timeout, events);
    }
}

/// A run of writes to a completion-mode stream that the next wait does: see
/// [`Selector::select_after_writes`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct StreamWrite {
    /// The host's number for the stream.
    pub id: u32,
    /// How many of the bytes handed over with the writes are this stream's.
    pub len: u32,
}

pub use exit::exit;
/// The sandloop host's native reactor (requires the `host-reactor` feature).
#[cfg(feature = "host-reactor")]
pub use host::HostSelector;
/// Plain WASI 0.2 polling, for any WASI 0.2 host.
pub use wasi_poll::WasiPollSelector;

/// The best selector this build can use.
pub(crate) fn default_selector() -> Box<dyn Selector> {
    #[cfg(all(feature = "host-reactor", target_arch = "wasm32"))]
    {
        Box::new(HostSelector::new())
    }
    #[cfg(not(all(feature = "host-reactor", target_arch = "wasm32")))]
    {
        Box::new(WasiPollSelector::new())
    }
}
