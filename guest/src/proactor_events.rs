//! `ProactorEventLoop`, and the stream under a completion-mode transport (the I/O half of
//! asyncio's proactor transports): the host reads on readiness and hands the bytes over
//! inside the event batch; what is written goes to the host, which sends what the kernel
//! takes and buffers the rest.
//!
//! Every byte written to such a stream and not yet taken by the host has one owner, the
//! loop's write queue (`write_queue.rs`): queued for the next wait, refused by the host
//! (its limit on buffered bytes) and kept, or buffered by the host as it last reported.

mod write_queue;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use crate::addresses::{Address, SockOpt, SockOptName};
use crate::error::{Error, Result};
use crate::events::EventLoop;
#[cfg(feature = "host-reactor")]
use crate::sys::HostSelector;
use crate::sys::files::HostFile;
use crate::sys::net::HostStream;
use write_queue::Refused;

pub(crate) use write_queue::{Retry, WriteQueue};

/// asyncio's `ProactorEventLoop`, the completion model on our platform: the host reads on
/// readiness and hands the bytes over inside the reactor's event batch, and a write copies
/// once into the host, which buffers what the kernel does not take. About one boundary
/// crossing per event batch and one per write. This is also what `EventLoop::new()` picks
/// on the sandloop host. Not in the portable build: completion mode is the sandloop
/// host's.
///
/// ```no_run
/// use sandloop::ProactorEventLoop;
/// let lp = ProactorEventLoop::new(); // what new_event_loop() gives on the sandloop host
/// sandloop::set_event_loop(Some(lp.clone()));
/// lp.run_until_complete(async { println!("completion mode") })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[cfg(feature = "host-reactor")]
pub struct ProactorEventLoop;

#[cfg(feature = "host-reactor")]
impl ProactorEventLoop {
    /// A new loop on the host's reactor with completion-mode transports (every loop's
    /// mode unless a `SelectorEventLoop` asks for readiness).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> EventLoop {
        EventLoop::with_selector(Box::new(HostSelector::new()))
    }
}

/// What a completion-mode stream tells the transport above it. The writes the loop's
/// write queue does on the transport's behalf (a flush, a retry) can fail, and a wait can
/// find the host full: the transport decides what that means for its protocol.
pub(crate) trait StreamOwner {
    /// A write failed: the stream is done for.
    fn write_failed(self: Rc<Self>, err: Error);
    /// The host refused bytes of the wait's writes: it is full, whatever the water marks
    /// say (the stream keeps the bytes).
    fn host_full(self: Rc<Self>);
}

/// A stream in the host's completion mode, with the bytes written to it that the host has
/// not taken: the loop's write queue holds it while some of its writes wait there.
pub(crate) struct CompletionStream {
    host: HostStream,
    /// The loop's token for the stream's events.
    token: u64,
    queue: Rc<WriteQueue>,
    /// The transport, told of failures and refusals.
    owner: RefCell<Weak<dyn StreamOwner>>,
    /// The bytes in the write queue, not yet handed to the host.
    queued: Cell<usize>,
    /// Bytes the host refused, kept to be written again when it has room, and everything
    /// written after them meanwhile.
    refused: RefCell<Refused>,
    /// The bytes the host buffers, as last reported.
    reported: Cell<usize>,
}

impl CompletionStream {
    /// `host`, opened under `token` on `lp`, telling `owner` of failures and refusals.
    pub(crate) fn new(
        lp: &EventLoop,
        host: HostStream,
        token: u64,
        owner: Weak<dyn StreamOwner>,
    ) -> Rc<CompletionStream> {
        Rc::new(CompletionStream {
            host,
            token,
            queue: lp.write_queue(),
            owner: RefCell::new(owner),
            queued: Cell::new(0),
            refused: RefCell::new(Refused::default()),
            reported: Cell::new(0),
        })
    }

    /// The host's stream, for the other interfaces that take one (`tls`).
    pub(crate) fn host(&self) -> &HostStream {
        &self.host
    }

    /// Hands the stream to another transport (`start_tls` moves a connection to a new
    /// transport).
    pub(crate) fn set_owner(&self, owner: Weak<dyn StreamOwner>) {
        *self.owner.borrow_mut() = owner;
    }

    /// Takes the count of bytes the host buffers, as an event or a call reported it.
    pub(crate) fn set_reported(&self, buffered: u64) {
        self.reported.set(buffered as usize);
    }

    /// The bytes the host buffers, as last reported.
    pub(crate) fn reported(&self) -> usize {
        self.reported.get()
    }

    /// The bytes written and not yet taken by the kernel: queued for the loop's next wait,
    /// refused by the host and kept, or buffered by the host.
    pub(crate) fn buffer_size(&self) -> usize {
        self.queued.get() + self.refused_len() + self.reported.get()
    }

    /// The bytes the host buffers now, asked now (a call into the host; with TLS, the
    /// records not yet on the wire too).
    pub(crate) fn write_buffered(&self) -> u64 {
        self.host.write_buffered()
    }

    pub(crate) fn write_eof(&self) -> Result<()> {
        self.host.write_eof()
    }

    pub(crate) fn set_reading(&self, on: bool) -> Result<()> {
        self.host.set_reading(on)
    }

    /// Queues `count` bytes of `file` from `offset` behind what the host buffers; returns
    /// the bytes that will be sent and the bytes the host buffers afterwards.
    pub(crate) fn send_file(&self, file: &HostFile, offset: u64, count: u64) -> Result<(u64, u64)> {
        self.host.send_file(file, offset, count)
    }

    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        self.host.set_option(opt)
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        self.host.get_option(name)
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        self.host.local_address()
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        self.host.peer_address()
    }

    /// Tells the owner a write failed.
    fn failed(&self, err: Error) {
        let owner = self.owner.borrow().upgrade();
        if let Some(owner) = owner {
            owner.write_failed(err);
        }
    }
}
