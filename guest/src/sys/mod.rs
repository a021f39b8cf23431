//! The loop's I/O backends ("selectors"), behind one small trait.
//!
//! Only this folder touches generated WIT bindings. `host.rs` waits on the sandloop host's
//! native reactor (one crossing per loop iteration, O(ready)); `wasi_poll.rs` uses nothing but
//! standard WASI 0.2 and runs on any host.
//!
//! Two backends offer the upper layers the same modules (`net`, `dns`, `errors`, `fs`,
//! `files`, `tls`, `host`): with the `host-reactor` feature, the wrappers of
//! `sandloop:host/*` in this folder; without it, `wasi_sockets/`, over `wasi:sockets` and
//! `wasi:io/poll`, whose reactor `WasiPollSelector` waits on.

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
pub(crate) mod host_functions;
#[cfg(feature = "host-reactor")]
pub(crate) mod net;
mod pipe_end;
#[cfg(feature = "host-reactor")]
pub(crate) mod process;
#[cfg(feature = "host-reactor")]
pub(crate) mod signal;
#[cfg(feature = "host-reactor")]
pub(crate) mod tls;
mod tls_config;
pub(crate) mod wasi_poll;
#[cfg(not(feature = "host-reactor"))]
mod wasi_sockets;
// The portable build: the same modules, over `wasi:sockets` (what WASI 0.2 cannot do is
// refused there with `Unsupported`). Subprocesses, signals and the executor have no
// portable form at all and are compiled out above them (see `lib.rs`).
#[cfg(all(feature = "wasi-http", not(feature = "host-reactor")))]
pub(crate) use wasi_sockets::http;
#[cfg(all(feature = "wasi-http", not(feature = "host-reactor")))]
pub use wasi_sockets::http_bindings;
#[cfg(not(feature = "host-reactor"))]
pub(crate) use wasi_sockets::{completion as host, dns, errors, files, fs, net, tls};

use std::ops::Range;
use std::rc::Rc;
use std::time::Duration;

/// Readiness of a registered source, as the selector reports it.
///
/// ```
/// use sandloop::{Readiness, SelectorEvent};
/// let event = SelectorEvent::new(7, Readiness { readable: true, ..Default::default() });
/// assert!(event.readiness.readable && !event.readiness.writable);
/// assert_eq!(event.token, 7);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// Data, a connection or the end of stream can be read.
    pub readable: bool,
    /// Data can be written without blocking.
    pub writable: bool,
    /// The peer hung up or the resource failed.
    pub hangup: bool,
}

/// The most read for one stream per event (asyncio reads 256 KiB at a time): what the host
/// reads for a completion-mode stream, what the loop asks a readiness-mode socket for.
pub(crate) const READ_BUDGET: u32 = 256 * 1024;

/// Whether this build has the sandloop host's completion-mode streams (the
/// `host-reactor` feature): the stream transports' default mode; the portable build's
/// are readiness-mode.
pub(crate) const COMPLETION_STREAMS: bool = cfg!(feature = "host-reactor");

/// The most bytes one call hands the host. wasmtime lets one host call copy 128 MiB at
/// most (its hostcall fuel) and traps the instance past it: a stream's `write` hands its
/// bytes over in parts of this size.
#[cfg(feature = "host-reactor")]
pub(crate) const MAX_HOST_COPY: usize = 16 << 20;

/// The most bytes one socket `send` or pipe `write` offers the host: the kernel takes no
/// more than its buffer holds (a few MiB at most), and every byte offered is copied into
/// the host first, so offering more would only copy bytes to drop them.
pub(crate) const MAX_SEND: usize = 1 << 20;

/// What a non-blocking call did: finished, or has to wait for readiness.
pub(crate) enum Progress<T> {
    Done(T),
    Pending,
}

/// What a write to a completion-mode stream did.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Written {
    /// The bytes of the write taken (sent, or buffered to be sent): all of them, unless
    /// the host's limit on buffered bytes was reached; the writer keeps the rest.
    pub(crate) taken: usize,
    /// The bytes buffered afterwards, not yet taken by the kernel.
    pub(crate) buffered: u64,
}

/// One ready registration: the token the loop chose and what is ready.
///
/// A selector reports its events with [`Event::new`]. The host's reactor also says what
/// it already did for a stream in completion mode (see `ProactorEventLoop`): the bytes it
/// read, the bytes still unsent, and the failure that ended the stream; those parts are
/// the crate's own.
///
/// ```
/// use sandloop::{Readiness, SelectorEvent};
/// let writable = Readiness { writable: true, ..Default::default() };
/// let event = SelectorEvent::new(3, writable); // what a selector appends for token 3
/// assert_eq!(event.readiness, writable);
/// ```
#[derive(Debug, Default)]
pub struct Event {
    /// The loop's token for the registration.
    pub token: u64,
    /// What is ready.
    pub readiness: Readiness,
    /// Completion mode: the bytes the host read for the stream; empty otherwise.
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) data: EventData,
    /// Completion mode: the bytes written to the stream and not yet sent.
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) unsent: u64,
    /// Completion mode: how many of the last bytes the wait wrote to the stream the host
    /// refused (its limit on buffered bytes): the stream keeps them.
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) refused: u64,
    /// Completion mode: the failure that ended the stream.
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) error: Option<crate::Error>,
}

impl Event {
    /// An event of the registration under `token`: what is `readiness`.
    pub fn new(token: u64, readiness: Readiness) -> Event {
        Event {
            token,
            readiness,
            ..Event::default()
        }
    }
}

/// The bytes an event carries. The host hands a batch's bytes over in one list; each event
/// holds its range of that list, shared, so no event copies its bytes.
#[derive(Clone, Debug, Default)]
#[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
pub(crate) struct EventData {
    bytes: Option<Rc<Vec<u8>>>,
    range: Range<usize>,
}

impl EventData {
    /// `range` of a batch's `bytes`.
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) fn shared(bytes: &Rc<Vec<u8>>, range: Range<usize>) -> EventData {
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
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) fn extend_from_slice(&mut self, more: &[u8]) {
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
/// (Writes to the host's completion-mode streams ride in the host reactor's own wait,
/// `host::wait`: only that backend has streams.)
///
/// A backend for timers and callbacks only, which waits by sleeping (the loop asks it to
/// wait until the next timer is due):
///
/// ```
/// use std::time::Duration;
/// use sandloop::{Selector, SelectorEvent, SelectorEventLoop};
///
/// struct Sleeper;
///
/// impl Selector for Sleeper {
///     fn name(&self) -> &'static str {
///         "Sleeper"
///     }
///     fn select(&mut self, timeout: Option<Duration>, _events: &mut Vec<SelectorEvent>) {
///         std::thread::sleep(timeout.unwrap_or(Duration::from_secs(3600)));
///     }
/// }
///
/// let lp = SelectorEventLoop::new(Sleeper);
/// let stopper = lp.clone();
/// lp.call_later(Duration::from_millis(10), move || stopper.stop());
/// lp.run_forever()?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub trait Selector {
    /// The backend's name, logged at debug level when a loop picks it.
    fn name(&self) -> &'static str;

    /// Whether the crate's sockets and lookups can be registered with this selector: the
    /// host's reactor watches the sandloop host's; in the portable build
    /// `WasiPollSelector` watches those of `wasi:sockets`.
    fn watches_host_sources(&self) -> bool {
        false
    }

    /// Blocks until an event is ready or `timeout` passes; appends ready events to `events`.
    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>);
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
