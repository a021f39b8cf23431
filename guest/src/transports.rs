//! Stream transports (asyncio's `transports.py` and the socket transports of
//! `proactor_events.py` and `selector_events.py`).
//!
//! On the default loop a [`Transport`] runs in the host's completion mode: the host reads
//! whenever the socket is readable and hands the bytes over inside the reactor's event
//! batch; `write` copies the bytes into the host once, the host sends what the kernel takes
//! and buffers the rest, and reports each flush. On a `SelectorEventLoop` the loop reads and
//! writes itself on readiness (see `stream_io.rs`). Either way the transport sees the same
//! events, and flow control (`pause_writing`/`resume_writing` at the water marks) follows
//! the write buffer, wherever it lives.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::events::{EventLoop, Ready, Runnable};
use crate::exception_handler::ExceptionContext;
use crate::flow_control::WaterMarks;
use crate::io_registry::{EventTarget, IoEntry};
use crate::log::{self, Level};
use crate::net::{Address, SockOpt, SockOptName, Socket};
use crate::os::PipeInfo;
use crate::outbox::Outbox;
use crate::protocols::Protocol;
use crate::stream_io::StreamIo;
use crate::sys::Event;

// Bytes the host refused under its limit on buffered bytes (issue 8).
mod refused;
mod tls;

use refused::Refused;

pub(crate) use tls::{HandshakeGuard, TlsSetup, TlsState};

/// Writes this large go to the host at once rather than into the loop's outbox: at 4 KiB,
/// copying into the outbox costs about what the crossing it saves does.
const DIRECT_WRITE_MIN: usize = 4 * 1024;

/// The outbox is handed over at once past this many bytes, so that one wait never carries
/// more than a host call may copy, however many small writes a callback makes.
const MAX_QUEUED: usize = 16 << 20;

/// A protocol as a transport holds it.
pub type SharedProtocol = Rc<RefCell<dyn Protocol>>;

/// A stream transport: one connection, driven by the loop, talking to one protocol.
///
/// A cheap handle (`Rc` inside); clones refer to the same connection.
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Rc<TransportInner>,
}

/// What [`Transport::get_extra_info`] returns.
#[derive(Clone, Debug)]
pub enum ExtraInfo {
    /// `peername`, `sockname`.
    Address(Address),
    /// `socket`: the transport's socket, for options and addresses.
    Socket(TransportSocket),
    /// `pipe`: which pipe end a pipe transport (`connect_read_pipe`,
    /// `connect_write_pipe`) drives.
    Pipe(PipeInfo),
    /// `sslcontext`: the TLS settings of a TLS transport.
    TlsContext(crate::tls::TlsContext),
    /// `peercert`: the peer's certificate, DER (Python's `getpeercert(binary_form=True)`;
    /// there is no X.509 parser in the guest to build Python's dictionary form).
    PeerCert(Vec<u8>),
    /// `cipher`: `(name, protocol version, secret bits)`, as Python's `cipher()`.
    Cipher(String, String, u32),
    /// `ssl_object`: everything the handshake settled.
    TlsInfo(crate::tls::TlsInfo),
}

/// The socket of a transport, as `get_extra_info("socket")` gives it (asyncio's
/// `TransportSocket`): options and addresses, no I/O.
#[derive(Clone)]
pub struct TransportSocket(Weak<TransportInner>);

pub(crate) struct TransportInner {
    lp: EventLoop,
    key: Cell<Option<usize>>,
    io: RefCell<Option<StreamIo>>,
    protocol: RefCell<Option<SharedProtocol>>,
    /// The event the host reported, waiting for the loop to run this transport.
    pending: RefCell<Option<Event>>,
    /// Bytes read while reading was paused, delivered on resume.
    held: RefCell<Vec<u8>>,
    held_eof: Cell<bool>,
    closing: Cell<bool>,
    conn_lost: Cell<bool>,
    eof_written: Cell<bool>,
    read_paused: Cell<bool>,
    water: WaterMarks,
    /// The bytes the host (or, in readiness mode, the stream) buffers, as last reported.
    buffered: Cell<usize>,
    /// The bytes in the loop's outbox, not yet handed to the host.
    queued: Cell<usize>,
    /// The loop's outbox, where small writes wait for the next wait.
    outbox: Rc<Outbox>,
    /// Bytes the host refused (its limit on buffered bytes), kept to be written again when
    /// it has room, and everything written after them meanwhile (`refused.rs`).
    refused: RefCell<Refused>,
    /// A `write_eof` (or a TLS close) waits for `refused` to be taken.
    eof_after_refused: Cell<bool>,
    sockname: Option<Address>,
    peername: Option<Address>,
    /// The pipe end of a pipe transport; `None` for a socket's.
    pipe: Option<PipeInfo>,
    /// Runs once the connection is lost (a server counts its connections this way).
    on_lost: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Woken at each report of the write buffer and when the connection is lost: a
    /// `sendfile` in progress follows its file this way (`sendfile.rs`).
    write_waiters: RefCell<Vec<crate::futures::Future<()>>>,
    /// Why the transport was torn down (a failure, or `abort`), discarding what was
    /// buffered: `sendfile` reports it.
    torn_down: RefCell<Option<Error>>,
    /// The bytes left unsent when the stream failed, as its last event said.
    unsent_at_failure: Cell<Option<usize>>,
    /// TLS: the handshake, the session and the closing handshake (`transports/tls.rs`);
    /// `None` on a plain transport.
    tls: RefCell<Option<TlsState>>,
}

impl fmt::Debug for TransportInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Transport");
        if let Some(addr) = &self.peername {
            d.field("peername", &format_args!("{addr}"));
        }
        d.field("closing", &self.closing.get())
            .field("buffered", &self.buffered.get())
            .finish()
    }
}

/// A stream's event is kept in its transport, which the loop then runs in the batch.
impl EventTarget for TransportInner {
    fn take_event(self: Rc<Self>, ev: Event, ready: &mut VecDeque<Ready>) {
        self.queue_event(ev);
        ready.push_back(Ready::Run(self));
    }
}

/// Running a transport processes the event it keeps.
impl Runnable for TransportInner {
    fn run(self: Rc<Self>) {
        self.process_event();
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl fmt::Debug for TransportSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportSocket")
    }
}

/// Errors that mean "the peer went away": logged at debug level only, as asyncio does.
/// TLS failures count too: asyncio's `ssl.SSLError` is an `OSError`, which its transports
/// log at debug level only (a peer that closes without `close_notify`, say).
pub(crate) fn is_connection_error(err: &Error) -> bool {
    matches!(err, Error::Tls(_))
        || matches!(err, Error::Os(e) if matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::NotConnected
        ))
}

impl Transport {
    /// Takes `sock` (connected) over in the host's completion mode and schedules
    /// `connection_made` on the protocol.
    pub(crate) fn open(
        lp: &EventLoop,
        sock: &Socket,
        protocol: SharedProtocol,
    ) -> Result<Transport> {
        let host = sock.take_host()?;
        let sockname = host.local_address().ok();
        let peername = host.peer_address().ok();
        let mode = lp.io_mode();
        Transport::start(lp, protocol, (sockname, peername), None, |key| {
            StreamIo::open(host, key, mode)
        })
    }

    /// Takes one end of a pipe over (asyncio's `connect_read_pipe`/`connect_write_pipe`)
    /// and schedules `connection_made` on the protocol. The same machinery as a socket's:
    /// a read end never writes, a write end never reads (see `pipe_transports.rs`).
    pub(crate) fn open_pipe(
        lp: &EventLoop,
        pipe: crate::sys::fs::HostPipe,
        info: PipeInfo,
        protocol: SharedProtocol,
    ) -> Result<Transport> {
        let mode = lp.io_mode();
        Transport::start(lp, protocol, (None, None), Some(info), |key| {
            StreamIo::open_pipe(pipe, key, mode)
        })
    }

    /// Registers a new transport with the loop, opens its I/O under the loop's key
    /// (`open`) and schedules `connection_made`.
    fn start(
        lp: &EventLoop,
        protocol: SharedProtocol,
        addresses: (Option<Address>, Option<Address>),
        pipe: Option<PipeInfo>,
        open: impl FnOnce(u64) -> Result<StreamIo>,
    ) -> Result<Transport> {
        let transport = Transport::register(lp, protocol, addresses, pipe, open)?;
        let made = transport.clone();
        lp.call_soon(move || {
            if let Some(p) = made.inner.protocol() {
                p.borrow_mut().connection_made(&made);
            }
        });
        Ok(transport)
    }

    /// A transport not yet registered, with no I/O.
    fn new_inner(
        lp: &EventLoop,
        protocol: SharedProtocol,
        (sockname, peername): (Option<Address>, Option<Address>),
        pipe: Option<PipeInfo>,
    ) -> Rc<TransportInner> {
        Rc::new(TransportInner {
            lp: lp.clone(),
            key: Cell::new(None),
            io: RefCell::new(None),
            protocol: RefCell::new(Some(protocol)),
            pending: RefCell::new(None),
            held: RefCell::new(Vec::new()),
            held_eof: Cell::new(false),
            closing: Cell::new(false),
            conn_lost: Cell::new(false),
            eof_written: Cell::new(false),
            read_paused: Cell::new(false),
            water: WaterMarks::default(),
            buffered: Cell::new(0),
            queued: Cell::new(0),
            outbox: lp.outbox(),
            refused: RefCell::new(Refused::default()),
            eof_after_refused: Cell::new(false),
            sockname,
            peername,
            pipe,
            on_lost: RefCell::new(Vec::new()),
            write_waiters: RefCell::new(Vec::new()),
            torn_down: RefCell::new(None),
            unsent_at_failure: Cell::new(None),
            tls: RefCell::new(None),
        })
    }

    /// Registers a new transport with the loop and opens its I/O under the loop's key
    /// (`open`); `connection_made` is the caller's to schedule.
    fn register(
        lp: &EventLoop,
        protocol: SharedProtocol,
        addresses: (Option<Address>, Option<Address>),
        pipe: Option<PipeInfo>,
        open: impl FnOnce(u64) -> Result<StreamIo>,
    ) -> Result<Transport> {
        let inner = Transport::new_inner(lp, protocol, addresses, pipe);
        // The loop holds the transport until the connection is lost, as asyncio's selector
        // holds its reader callback: a protocol need not keep its transport alive.
        let key = lp.register_io(IoEntry::Held(inner.clone()));
        inner.key.set(Some(key));
        match open(key as u64) {
            Ok(io) => *inner.io.borrow_mut() = Some(io),
            Err(err) => {
                lp.deregister_io(key);
                inner.key.set(None);
                return Err(err);
            }
        }
        Ok(Transport { inner })
    }

    /// Runs `f` once the connection is lost (after the protocol's `connection_lost`).
    pub(crate) fn on_lost(&self, f: impl FnOnce() + 'static) {
        if self.inner.conn_lost.get() && self.inner.io.borrow().is_none() {
            f();
        } else {
            self.inner.on_lost.borrow_mut().push(Box::new(f));
        }
    }

    /// The loop the transport runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.inner.lp.clone()
    }

    /// Sends `data`: what the kernel takes now, the rest buffered by the host. Ignored once
    /// the transport is closing.
    pub fn write(&self, data: &[u8]) {
        self.inner.write(data);
    }

    /// Sends the concatenation of `chunks` with a single write.
    pub fn writelines<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) {
        let joined: Vec<u8> = chunks.into_iter().flatten().copied().collect();
        self.inner.write(&joined);
    }

    /// Closes the write side once everything buffered is sent; the peer then reads EOF.
    ///
    /// A TLS transport cannot half-close (asyncio's SSL transport raises
    /// `NotImplementedError`): there the call goes to the loop's exception handler and
    /// does nothing; close the transport instead, which sends `close_notify`.
    pub fn write_eof(&self) {
        let inner = &self.inner;
        if inner.is_tls() {
            inner.lp.call_exception_handler(&ExceptionContext {
                message: "write_eof() is not supported on a TLS transport: close() it".into(),
                transport: Some(format!("{inner:?}")),
                ..Default::default()
            });
            return;
        }
        if inner.closing.get() || inner.eof_written.replace(true) {
            return;
        }
        inner.flush_queued();
        if !inner.defer_eof_for_refused() {
            inner.shutdown_write_side();
        }
    }

    /// `true` for socket transports, `false` with TLS (as asyncio's SSL transport).
    pub fn can_write_eof(&self) -> bool {
        !self.inner.is_tls()
    }

    /// Closes the transport: buffered bytes are still sent, then the protocol's
    /// `connection_lost(None)` runs. Nothing more is read.
    ///
    /// With TLS, `close_notify` follows the buffered bytes and the transport waits for
    /// the peer's (data arriving meanwhile is discarded) up to the `ssl_shutdown_timeout`
    /// (30 s by default); then, or at the timeout (the connection is aborted), the
    /// protocol's `connection_lost(None)` runs.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes at once: buffered bytes are discarded; `connection_lost(None)` runs soon.
    pub fn abort(&self) {
        self.inner.force_close(None);
    }

    /// `true` once `close` or `abort` was called, or the connection was lost.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.get()
    }

    /// Stops delivering received data until [`Transport::resume_reading`].
    pub fn pause_reading(&self) {
        let inner = &self.inner;
        if inner.closing.get() || inner.read_paused.replace(true) {
            return;
        }
        inner.set_host_reading(false);
    }

    /// Delivers received data again (first what arrived while paused).
    pub fn resume_reading(&self) {
        let inner = &self.inner;
        if inner.closing.get() || !inner.read_paused.replace(false) {
            return;
        }
        if !inner.held.borrow().is_empty() || inner.held_eof.get() {
            let me = inner.clone();
            inner.lp.call_soon(move || me.deliver_held());
        }
        if !inner.held_eof.get() {
            inner.set_host_reading(true);
        }
    }

    /// Whether received data is delivered (not paused, not closing).
    pub fn is_reading(&self) -> bool {
        !self.inner.read_paused.get() && !self.inner.closing.get()
    }

    /// Sets the water marks of the write buffer. With only `high`, `low` is a quarter of it;
    /// with only `low`, `high` is four times it; with neither, 64 KiB and 16 KiB.
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.inner.water.set(high, low)?;
        self.inner.maybe_pause_protocol();
        Ok(())
    }

    /// `(low, high)`: the water marks of the write buffer.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.water.limits()
    }

    /// The bytes written but not yet taken by the kernel.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.write_buffer_size()
    }

    /// asyncio's `get_extra_info`: `peername`, `sockname` and `socket` for a socket's
    /// transport, `pipe` for a pipe's; with TLS also `sslcontext`, `peercert` (DER),
    /// `cipher`, `ssl_object` and `compression` (always `None`: TLS compression is
    /// never negotiated); `None` for other names.
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        if let Some(info) = self.inner.tls_extra_info(name) {
            return Some(info);
        }
        match name {
            "peername" => self.inner.peername.clone().map(ExtraInfo::Address),
            "sockname" => self.inner.sockname.clone().map(ExtraInfo::Address),
            "socket" if self.inner.pipe.is_none() => Some(ExtraInfo::Socket(TransportSocket(
                Rc::downgrade(&self.inner),
            ))),
            "pipe" => self.inner.pipe.clone().map(ExtraInfo::Pipe),
            _ => None,
        }
    }

    /// The peer's address (`get_extra_info("peername")`).
    pub fn peername(&self) -> Option<Address> {
        self.inner.peername.clone()
    }

    /// The local address (`get_extra_info("sockname")`).
    pub fn sockname(&self) -> Option<Address> {
        self.inner.sockname.clone()
    }

    /// Replaces the protocol that receives the callbacks.
    pub fn set_protocol(&self, protocol: SharedProtocol) {
        *self.inner.protocol.borrow_mut() = Some(protocol);
    }

    /// The protocol that receives the callbacks (`None` after the connection was lost).
    pub fn get_protocol(&self) -> Option<SharedProtocol> {
        self.inner.protocol()
    }
}

impl TransportSocket {
    fn with<T>(&self, f: impl FnOnce(&StreamIo) -> Result<T>) -> Result<T> {
        let closed = || {
            Error::Os(io::Error::new(
                io::ErrorKind::NotConnected,
                "the transport is closed",
            ))
        };
        let inner = self.0.upgrade().ok_or_else(closed)?;
        let io = inner.io.borrow();
        f(io.as_ref().ok_or_else(closed)?)
    }

    /// Sets an option of the transport's socket.
    pub fn set_option(&self, opt: SockOpt) -> Result<()> {
        self.with(|s| s.set_option(opt))
    }

    /// Reads an option of the transport's socket.
    pub fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        self.with(|s| s.get_option(name))
    }

    /// The local address.
    pub fn local_addr(&self) -> Result<Address> {
        self.with(|s| s.local_address())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Result<Address> {
        self.with(|s| s.peer_address())
    }
}

impl TransportInner {
    fn protocol(&self) -> Option<SharedProtocol> {
        self.protocol.borrow().clone()
    }

    /// Whether `token` names this transport's events (the loop's key for it).
    pub(crate) fn has_key(&self, token: u64) -> bool {
        self.key.get().is_some_and(|key| key as u64 == token)
    }

    /// Whether the host buffers this transport's writes and counts them in each event
    /// (completion mode); in readiness mode the stream's own buffer is counted instead.
    fn host_reports_buffered(&self) -> bool {
        self.io
            .borrow()
            .as_ref()
            .is_some_and(StreamIo::host_reports_buffered)
    }

    /// Stores an event for the loop to process when it runs this transport.
    ///
    /// In completion mode the event's count of host-buffered bytes is taken now, as the
    /// batch arrives: the host measured it after the batch's writes, so it is the newest
    /// figure until the next write. Taken later, when the transport runs, a callback ahead
    /// of it in the batch (a `close` deciding whether anything is left to send) would see
    /// the figure the wait's writes left behind, and bytes still in the host would be lost.
    pub(crate) fn queue_event(&self, ev: Event) {
        if self.host_reports_buffered() {
            self.buffered.set(ev.write_buffered as usize);
        }
        let mut pending = self.pending.borrow_mut();
        match &mut *pending {
            None => *pending = Some(ev),
            // Two events before the transport ran (not expected): merge them in order.
            Some(first) => {
                first.data.extend_from_slice(&ev.data);
                first.readiness.readable |= ev.readiness.readable;
                first.readiness.writable |= ev.readiness.writable;
                first.readiness.hangup |= ev.readiness.hangup;
                first.write_buffered = ev.write_buffered;
                first.write_refused = ev.write_refused;
                if ev.error.is_some() {
                    first.error = ev.error;
                }
            }
        }
    }

    /// Runs the protocol callbacks of the event the host reported.
    pub(crate) fn process_event(self: &Rc<Self>) {
        let Some(mut ev) = self.pending.borrow_mut().take() else {
            return;
        };
        if self.conn_lost.get() {
            return;
        }
        if let Some(io) = &mut *self.io.borrow_mut() {
            io.complete(&mut ev);
        }
        if self.handshaking() && !self.advance_handshake(&mut ev) {
            return;
        }
        if !ev.data.is_empty() && !self.closing.get() {
            if self.read_paused.get() {
                self.held.borrow_mut().extend_from_slice(&ev.data);
            } else if let Some(p) = self.protocol() {
                p.borrow_mut().data_received(&ev.data);
            }
        }
        if ev.readiness.writable {
            if !self.host_reports_buffered() {
                // Readiness mode: `complete` flushed the stream just now and counted what
                // is left.
                self.buffered.set(ev.write_buffered as usize);
            }
            if ev.write_refused == 0 {
                // The host has room again (an event that refused bytes says it has not).
                self.retry_refused();
            }
            self.maybe_resume_protocol();
            self.wake_write_waiters(None);
            if self.closing.get()
                && self.write_buffer_size() == 0
                && !self.close_waits_for_peer()
                && !self.conn_lost.replace(true)
            {
                self.call_connection_lost(None);
                return;
            }
        }
        if let Some(err) = ev.error {
            if self.closing.get() && self.is_tls() {
                self.tls_shutdown_failed(err);
                return;
            }
            let message = match self.pipe.as_ref().map(|info| info.end) {
                Some(crate::os::PipeEnd::Write) => "Fatal write error on pipe transport",
                Some(crate::os::PipeEnd::Read) => "Fatal read error on pipe transport",
                None => "Fatal read error on socket transport",
            };
            self.unsent_at_failure.set(Some(ev.write_buffered as usize));
            self.fatal_error(err, message);
            return;
        }
        if ev.readiness.hangup && !self.conn_lost.get() {
            if self.tls_peer_closed() {
                return;
            }
            if self.read_paused.get() {
                self.held_eof.set(true);
            } else {
                self.eof_received();
            }
        }
    }

    fn eof_received(self: &Rc<Self>) {
        let keep_open = match self.protocol() {
            Some(p) => p.borrow_mut().eof_received(),
            None => false,
        };
        // A read pipe has nothing left to do after its end, whatever the protocol says
        // (asyncio's `_UnixReadPipeTransport` closes too); nor has a TLS transport, whose
        // peer sent `close_notify` (asyncio's SSL transport closes too).
        if !keep_open || self.pipe.is_some() || self.is_tls() {
            self.close();
        }
    }

    fn deliver_held(self: &Rc<Self>) {
        if self.conn_lost.get() || self.read_paused.get() {
            return;
        }
        let data = std::mem::take(&mut *self.held.borrow_mut());
        if !data.is_empty()
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().data_received(&data);
        }
        if self.held_eof.replace(false) && !self.conn_lost.get() {
            self.eof_received();
        }
    }

    /// Has the stream shut its write side down once what it buffers is sent.
    fn shutdown_write_side(self: &Rc<Self>) {
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.write_eof(),
            None => Ok(()),
        };
        if let Err(err) = result {
            let me = self.clone();
            self.lp
                .call_soon(move || me.fatal_error(err, "Fatal error on write_eof"));
        }
    }

    fn set_host_reading(self: &Rc<Self>, on: bool) {
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.set_reading(on),
            None => Ok(()),
        };
        if let Err(err) = result {
            let me = self.clone();
            self.lp
                .call_soon(move || me.fatal_error(err, "Fatal error on pause/resume reading"));
        }
    }

    fn write(self: &Rc<Self>, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.eof_written.get() {
            self.lp.call_exception_handler(&ExceptionContext {
                message: "Cannot call write() after write_eof()".into(),
                transport: Some(format!("{self:?}")),
                ..Default::default()
            });
            return;
        }
        if self.closing.get() {
            return;
        }
        let id = match &*self.io.borrow() {
            Some(io) => io.stream_id(),
            None => return,
        };
        match id {
            // Bytes the host refused wait: these follow them.
            _ if self.refused_len() > 0 => self.keep_refused(data),
            Some(id) if data.len() < DIRECT_WRITE_MIN => {
                let queued = self.outbox.push(self, id, data);
                self.queued.set(self.queued.get() + data.len());
                if queued > MAX_QUEUED {
                    self.lp.flush_writes();
                }
            }
            // A large write (copying it into the outbox would cost more than the crossing
            // it saves), or readiness mode: at once, after what is queued.
            _ => {
                self.flush_queued();
                self.write_now(data, 0);
            }
        }
        self.maybe_pause_protocol();
    }

    /// Writes `data` now (after the bytes the host refused, if any wait); `from_queue` of
    /// its bytes came out of the outbox.
    pub(crate) fn write_now(self: &Rc<Self>, data: &[u8], from_queue: usize) {
        self.queued.set(self.queued.get() - from_queue);
        if self.refused_len() > 0 {
            self.keep_refused(data);
            return;
        }
        if let Some(taken) = self.send(data)
            && taken < data.len()
        {
            self.keep_refused(&data[taken..]);
        }
    }

    /// Hands `data` to the stream; returns how many bytes it took (fewer than all only
    /// under the host's limit on buffered bytes). `None` when the stream is gone or the
    /// write failed (the failure is scheduled as the transport's fatal error).
    fn send(self: &Rc<Self>, data: &[u8]) -> Option<usize> {
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.write(data),
            None => return None,
        };
        match result {
            Ok(written) => {
                self.buffered.set(written.buffered as usize);
                Some(written.taken)
            }
            Err(err) => {
                let me = self.clone();
                self.lp.call_soon(move || {
                    me.fatal_error(err, "Fatal write error on socket transport")
                });
                None
            }
        }
    }

    /// The bytes written and not yet taken by the kernel: buffered by the host, queued
    /// for the loop's next wait, or refused by the host and kept.
    fn write_buffer_size(&self) -> usize {
        self.buffered.get() + self.queued.get() + self.refused_len()
    }

    /// Sends the queued bytes now, where the timing of the bytes shows; as the outbox
    /// keeps every transport's writes in one order, all of them go.
    fn flush_queued(self: &Rc<Self>) {
        if self.queued.get() > 0 {
            self.lp.flush_writes();
        }
    }

    /// The loop's wait did `len` queued bytes: the host buffers nothing unless the batch
    /// says otherwise (an event with the count, which [`TransportInner::queue_event`]
    /// takes after this).
    pub(crate) fn write_submitted(&self, len: usize) {
        self.queued.set(self.queued.get() - len);
        self.buffered.set(0);
    }

    fn maybe_pause_protocol(self: &Rc<Self>) {
        // The host refused bytes: it is full, whatever the marks say.
        let host_full = || self.refused_len() > 0;
        if self.water.is_paused()
            || !(host_full() || self.water.over_high(self.write_buffer_size()))
        {
            return;
        }
        // Past the mark, send the queue now, as asyncio's write would have: the mark is
        // judged on what the kernel did not take.
        self.flush_queued();
        if !(host_full() || self.water.over_high(self.write_buffer_size())) {
            return;
        }
        // Never from inside the caller's write: the protocol may be the caller.
        self.water.pause();
        let me = self.clone();
        self.lp.call_soon(move || {
            if me.water.take_pending_pause()
                && let Some(p) = me.protocol()
            {
                p.borrow_mut().pause_writing();
            }
        });
    }

    fn maybe_resume_protocol(self: &Rc<Self>) {
        if self.refused_len() == 0
            && self.water.resume(self.write_buffer_size())
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().resume_writing();
        }
    }

    fn close(self: &Rc<Self>) {
        if self.closing.replace(true) {
            return;
        }
        if self.is_tls() {
            self.tls_close();
            return;
        }
        self.flush_queued();
        if !self.read_paused.get() {
            self.set_host_reading(false);
        }
        if self.buffered.get() + self.refused_len() == 0 && !self.conn_lost.replace(true) {
            let me = self.clone();
            self.lp.call_soon(move || me.call_connection_lost(None));
        }
    }

    fn force_close(self: &Rc<Self>, exc: Option<Error>) {
        if self.handshaking() {
            // The protocol never saw this connection: only the handshake's waiter hears.
            self.handshake_failed(exc.unwrap_or_else(|| {
                Error::Os(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the transport was aborted during the TLS handshake",
                ))
            }));
            return;
        }
        self.closing.set(true);
        if self.conn_lost.replace(true) {
            return;
        }
        *self.torn_down.borrow_mut() = Some(exc.clone().unwrap_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transport was aborted",
            ))
        }));
        if exc.is_none() {
            // `abort`: what asyncio's write would have sent already still goes.
            self.flush_queued();
        } else if self.queued.replace(0) > 0 {
            self.outbox.discard(self);
        }
        // Discard what is still buffered: the stream goes now.
        self.io.borrow_mut().take();
        self.buffered.set(0);
        self.drop_refused();
        let me = self.clone();
        self.lp.call_soon(move || me.call_connection_lost(exc));
    }

    /// Wakes every [`TransportInner::write_progress`] waiter: with `lost` when the
    /// connection is gone.
    fn wake_write_waiters(&self, lost: Option<Error>) {
        let waiters = std::mem::take(&mut *self.write_waiters.borrow_mut());
        for waiter in waiters {
            // A waiter whose task was cancelled is done already: nothing to wake.
            let _ = match &lost {
                None => waiter.set_result(()),
                Some(err) => waiter.set_exception(err.clone()),
            };
        }
    }

    /// Waits for the next report of the write buffer (the host flushed some of it), or
    /// the loss of the connection (`Err`).
    pub(crate) async fn write_progress(&self) -> Result<()> {
        if self.conn_lost.get() {
            return Err(Error::Runtime("Transport is closing".into()));
        }
        let waiter = self.lp.create_future::<()>();
        self.write_waiters.borrow_mut().push(waiter.clone());
        waiter.await
    }

    /// Why the transport was torn down with bytes maybe unsent (a failure or `abort`).
    pub(crate) fn torn_down(&self) -> Option<Error> {
        self.torn_down.borrow().clone()
    }

    /// The bytes left unsent when the stream failed, if it did.
    pub(crate) fn unsent_at_failure(&self) -> Option<usize> {
        self.unsent_at_failure.get()
    }

    /// The transport's I/O, for `sendfile`: `Err` once it is closed.
    pub(crate) fn with_io<T>(&self, f: impl FnOnce(&mut StreamIo) -> Result<T>) -> Result<T> {
        match &mut *self.io.borrow_mut() {
            Some(io) => f(io),
            None => Err(Error::Runtime("Transport is closing".into())),
        }
    }

    /// Takes a report of the bytes buffered after a call that queued some (`sendfile`).
    pub(crate) fn set_buffered(&self, buffered: u64) {
        self.buffered.set(buffered as usize);
    }

    /// The bytes written and not yet taken by the kernel, queued ones included; sends
    /// the queued ones first when `flush` (so that what follows goes after them).
    pub(crate) fn pending_writes(self: &Rc<Self>, flush: bool) -> usize {
        if flush {
            self.flush_queued();
        }
        self.write_buffer_size()
    }

    /// A write failure seen by `sendfile`: it ends the transport as a write's does.
    pub(crate) fn write_failed(self: &Rc<Self>, err: Error) {
        let me = self.clone();
        self.lp
            .call_soon(move || me.fatal_error(err, "Fatal write error on socket transport"));
    }

    fn fatal_error(self: &Rc<Self>, err: Error, message: &str) {
        if is_connection_error(&err) {
            if self.lp.get_debug() {
                log::log(Level::Debug, format_args!("{self:?}: {message}: {err}"));
            }
        } else {
            self.lp.call_exception_handler(&ExceptionContext {
                message: message.into(),
                exception: Some(err.clone()),
                transport: Some(format!("{self:?}")),
                protocol: self.protocol().map(|_| "protocol".to_string()),
                ..Default::default()
            });
        }
        self.force_close(Some(err));
    }

    fn call_connection_lost(self: &Rc<Self>, exc: Option<Error>) {
        let lost = exc.clone().unwrap_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection was lost",
            ))
        });
        self.wake_write_waiters(Some(lost));
        let protocol = self.protocol.borrow_mut().take();
        if let Some(p) = protocol {
            p.borrow_mut().connection_lost(exc);
        }
        self.io.borrow_mut().take();
        if let Some(key) = self.key.take() {
            self.lp.deregister_io(key);
        }
        let hooks = std::mem::take(&mut *self.on_lost.borrow_mut());
        for hook in hooks {
            hook();
        }
    }
}
