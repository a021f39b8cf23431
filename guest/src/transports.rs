//! Stream transports (asyncio's `transports.py`, and the socket transports of
//! `proactor_events.py` and `selector_events.py` above their I/O).
//!
//! On the default loop a [`Transport`] runs in the host's completion mode: the host reads
//! whenever the socket is readable and hands the bytes over inside the reactor's event
//! batch; `write` copies the bytes into the host once, the host sends what the kernel takes
//! and buffers the rest, and reports each flush. On a `SelectorEventLoop` the loop reads and
//! writes itself on readiness. Either way the transport sees the same events (the stream
//! under it, `stream_io.rs`, tells the two apart), and flow control
//! (`pause_writing`/`resume_writing` at the water marks) follows the write buffer, wherever
//! it lives.
//!
//! This file holds the transport's API and its state; the rest is in `transports/`: what
//! it does with its events (`events.rs`), its writes and flow control (`writes.rs`), how it
//! ends (`teardown.rs`), and TLS (`tls.rs`).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};

use crate::addresses::{Address, SockOpt, SockOptName};
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::exception_handler::ExceptionContext;
use crate::flow_control::WaterMarks;
use crate::io_registry::IoEntry;
use crate::net::Socket;
use crate::os::PipeInfo;
use crate::protocols::Protocol;
use crate::selector_events::Endpoint;
use crate::stream_io::StreamIo;
use crate::sys::Event;

mod events;
mod teardown;
mod tls;
mod writes;

pub(crate) use tls::{HandshakeGuard, TlsSetup, TlsState};

/// A protocol as a transport holds it.
///
/// ```no_run
/// # fn demo(transport: &sandloop::Transport) {
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// struct Discard;
/// impl sandloop::Protocol for Discard {}
/// // Hand the connection over to another protocol, as asyncio's transport.set_protocol().
/// let discard: sandloop::SharedProtocol = Rc::new(RefCell::new(Discard));
/// transport.set_protocol(discard);
/// # }
/// ```
pub type SharedProtocol = Rc<RefCell<dyn Protocol>>;

/// A stream transport: one connection, driven by the loop, talking to one protocol.
///
/// A cheap handle (`Rc` inside); clones refer to the same connection.
///
/// asyncio: the `transport` a protocol's `connection_made` receives: keep a clone to write
/// and close.
///
/// ```no_run
/// use sandloop::{Protocol, Transport};
///
/// #[derive(Default)]
/// struct Upper(Option<Transport>);
///
/// impl Protocol for Upper {
///     fn connection_made(&mut self, transport: &Transport) {
///         println!("connection from {:?}", transport.peername());
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         let t = self.0.as_ref().expect("connected");
///         t.write(&data.to_ascii_uppercase());
///         if data.ends_with(b"bye\n") {
///             t.close(); // after the buffered bytes are sent
///         }
///     }
/// }
/// ```
#[derive(Clone)]
pub struct Transport {
    pub(crate) inner: Rc<TransportInner>,
}

/// What [`Transport::get_extra_info`] returns.
///
/// `PartialEq`: values compare by value, and the handles in it (`Socket`, `TlsContext`)
/// by identity (the same transport's socket, the same context), as Python compares them.
///
/// ```no_run
/// # fn demo(transport: &sandloop::Transport) -> sandloop::Result<()> {
/// use sandloop::ExtraInfo;
/// use sandloop::net::{SockOpt, SockOptName};
/// // asyncio: transport.get_extra_info("peername"), get_extra_info("socket")
/// if let Some(ExtraInfo::Address(peer)) = transport.get_extra_info("peername") {
///     println!("peer {peer}");
/// }
/// if let Some(ExtraInfo::Socket(sock)) = transport.get_extra_info("socket") {
///     sock.set_option(SockOpt::KeepAlive(true))?;
///     assert_eq!(sock.get_option(SockOptName::KeepAlive)?, SockOpt::KeepAlive(true));
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
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
///
/// ```no_run
/// # fn demo(transport: &sandloop::Transport) -> sandloop::Result<()> {
/// use sandloop::ExtraInfo;
/// use sandloop::net::SockOpt;
/// if let Some(ExtraInfo::Socket(sock)) = transport.get_extra_info("socket") {
///     sock.set_option(SockOpt::NoDelay(false))?; // let small writes coalesce again
///     println!("{} <-> {}", sock.local_addr()?, sock.peer_addr()?);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TransportSocket(Weak<TransportInner>);

/// Identity: the socket of the same transport.
impl PartialEq for TransportSocket {
    fn eq(&self, other: &TransportSocket) -> bool {
        Weak::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TransportSocket {}

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
    /// A `write_eof` (or a TLS close) waits for the bytes the host refused to be taken.
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
            .field("buffered", &self.reported_unsent())
            .finish()
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
        Transport::start(lp, protocol, (sockname, peername), None, |inner, key| {
            StreamIo::open(lp, Endpoint::Socket(host), key, inner.as_owner())
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
        Transport::start(lp, protocol, (None, None), Some(info), |inner, key| {
            StreamIo::open(lp, Endpoint::Pipe(pipe), key, inner.as_owner())
        })
    }

    /// Registers a new transport with the loop, opens its I/O under the loop's key
    /// (`open`) and schedules `connection_made`.
    fn start(
        lp: &EventLoop,
        protocol: SharedProtocol,
        addresses: (Option<Address>, Option<Address>),
        pipe: Option<PipeInfo>,
        open: impl FnOnce(&Rc<TransportInner>, u64) -> Result<StreamIo>,
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
        open: impl FnOnce(&Rc<TransportInner>, u64) -> Result<StreamIo>,
    ) -> Result<Transport> {
        let inner = Transport::new_inner(lp, protocol, addresses, pipe);
        // The loop holds the transport until the connection is lost, as asyncio's selector
        // holds its reader callback: a protocol need not keep its transport alive.
        let key = lp.register_io(IoEntry::Held(inner.clone()));
        inner.key.set(Some(key));
        match open(&inner, key as u64) {
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
    ///
    /// asyncio: `transport.write(data)`: never blocks; what the socket does not take at once is
    /// buffered (see [`Transport::get_write_buffer_size`]).
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) {
    /// transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    /// transport.writelines([&b"two "[..], &b"chunks"[..]]);
    /// # }
    /// ```
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
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) {
    /// // A request, then half-close: the peer reads end of stream and still answers.
    /// transport.write(b"QUIT\r\n");
    /// if transport.can_write_eof() {
    ///     transport.write_eof();
    /// }
    /// # }
    /// ```
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
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) {
    /// transport.write(b"bye\n");
    /// transport.close(); // "bye" still goes out, then connection_lost(None) runs
    /// assert!(transport.is_closing());
    /// # }
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes at once: buffered bytes are discarded; `connection_lost(None)` runs soon.
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) {
    /// transport.abort(); // drops the buffered bytes, connection_lost(None) runs soon
    /// # }
    /// ```
    pub fn abort(&self) {
        self.inner.force_close(None);
    }

    /// `true` once `close` or `abort` was called, or the connection was lost.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.get()
    }

    /// Stops delivering received data until [`Transport::resume_reading`].
    ///
    /// asyncio: `transport.pause_reading()`, for a protocol that cannot keep up:
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) {
    /// transport.pause_reading(); // no data_received until resume_reading
    /// assert!(!transport.is_reading());
    /// transport.resume_reading();
    /// # }
    /// ```
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
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::Transport) -> sandloop::Result<()> {
    /// // pause_writing when 1 MiB is buffered, resume_writing at 256 KiB.
    /// transport.set_write_buffer_limits(Some(1 << 20), Some(256 << 10))?;
    /// assert_eq!(transport.get_write_buffer_limits(), (256 << 10, 1 << 20));
    /// # Ok(()) }
    /// ```
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

    /// Calls `f` with the transport's protocol as its own type `P`: `None` when there is
    /// no protocol (the connection was lost) or it is not a `P` (the typed side of
    /// `get_protocol()`, which gives `dyn Protocol`).
    ///
    /// ```no_run
    /// # async fn f(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// #[derive(Default)]
    /// struct Counter { bytes: usize }
    /// impl sandloop::Protocol for Counter {
    ///     fn data_received(&mut self, data: &[u8]) { self.bytes += data.len(); }
    /// }
    /// let (t, _) = lp.create_connection(Counter::default, "127.0.0.1", 8080, Default::default()).await?;
    /// let bytes = t.with_protocol(|c: &mut Counter| c.bytes);
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    /// When called from inside one of the protocol's own callbacks (its `RefCell` is
    /// borrowed then).
    pub fn with_protocol<P: Protocol, R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let protocol = self.get_protocol()?;
        let mut guard = protocol.borrow_mut();
        let any: &mut dyn std::any::Any = &mut *guard;
        any.downcast_mut::<P>().map(f)
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

    /// Whether the host buffers this transport's writes and counts them in each event
    /// (completion mode); in readiness mode the stream's own buffer is counted instead.
    fn host_reports_buffered(&self) -> bool {
        self.io
            .borrow()
            .as_ref()
            .is_some_and(StreamIo::host_reports_buffered)
    }

    /// The bytes the host (or, in readiness mode, the stream) buffers, as last reported
    /// (for the transport's description, which may be asked for while the stream is busy).
    fn reported_unsent(&self) -> usize {
        match self.io.try_borrow() {
            Ok(io) => io.as_ref().map_or(0, StreamIo::reported),
            Err(_) => 0,
        }
    }
}
