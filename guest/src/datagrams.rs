//! Datagram transports (asyncio's `_SelectorDatagramTransport` of `selector_events.py`).
//!
//! A [`DatagramTransport`] works in the readiness model on every loop (the default one and
//! a `SelectorEventLoop` alike): the loop watches the socket with a reader, which reads a
//! bounded number of datagrams with `recv-from` each time the socket is readable, and,
//! while datagrams are queued, a writer that sends them in order when it is writable.
//! A datagram is one host call either way; completion mode (the host doing the I/O) would
//! save nothing per datagram.
//!
//! As in asyncio, OS errors of sends and receives do not close the transport: they reach
//! the protocol's `error_received` (an ICMP "port unreachable" answering an earlier
//! datagram of a connected endpoint arrives as `ConnectionRefused`), and the transport
//! goes on. Protocol callbacks are never made from inside a transport method: what a
//! method causes (an error, a pause, `connection_lost`) is scheduled with `call_soon`.

mod endpoint;
mod sock;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::rc::{Rc, Weak};

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::exception_handler::ExceptionContext;
use crate::flow_control::WaterMarks;
use crate::io_registry::IoEntry;
use crate::log::{self, Level};
use crate::net::{Address, Socket};
use crate::protocols::DatagramProtocol;

pub use endpoint::DatagramOptions;

/// The largest datagram the transport asks the host for: the largest UDP payload.
pub(crate) const MAX_DATAGRAM: usize = 65535;

/// How many datagrams one readiness report reads at most, so that a flood on one
/// endpoint cannot starve the rest of the loop (asyncio reads one; a few more save
/// iterations under load).
const READS_PER_READY: usize = 16;

/// A datagram protocol as a transport holds it.
///
/// ```no_run
/// # async fn demo(transport: sandloop::DatagramTransport) {
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// struct Quiet;
/// impl sandloop::DatagramProtocol for Quiet {}
/// let quiet: sandloop::SharedDatagramProtocol = Rc::new(RefCell::new(Quiet));
/// transport.set_protocol(quiet); // the next datagrams go to Quiet
/// # }
/// ```
pub type SharedDatagramProtocol = Rc<RefCell<dyn DatagramProtocol>>;

/// A datagram endpoint (asyncio's `DatagramTransport`): sends and receives datagrams on
/// one socket for one [`DatagramProtocol`].
///
/// A cheap handle (`Rc` inside); clones refer to the same endpoint. The loop keeps the
/// endpoint alive while it is open, so a protocol need not hold its transport.
///
/// asyncio: `transport, protocol = await loop.create_datagram_endpoint(factory, local_addr=...)`;
/// an echo server:
///
/// ```no_run
/// use sandloop::net::Address;
/// use sandloop::{DatagramOptions, DatagramProtocol, DatagramTransport};
///
/// #[derive(Default)]
/// struct Echo(Option<DatagramTransport>);
///
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, transport: &DatagramTransport) {
///         self.0 = Some(transport.clone());
///     }
///     fn datagram_received(&mut self, data: &[u8], addr: &Address) {
///         if let Some(t) = &self.0 {
///             let _ = t.sendto(data, Some(addr.clone()));
///         }
///     }
/// }
///
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let opts = DatagramOptions {
///         local_addr: Some(("127.0.0.1", 9999).into()),
///         ..Default::default()
///     };
///     let (transport, _echo) = lp.create_datagram_endpoint(Echo::default, opts).await?;
///     println!("serving on {:?}", transport.sockname());
///     sandloop::sleep(std::time::Duration::from_secs(3600)).await?;
///     transport.close();
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone)]
pub struct DatagramTransport {
    inner: Rc<DatagramInner>,
}

/// What [`DatagramTransport::get_extra_info`] returns; `PartialEq` compares the socket
/// by identity.
///
/// ```no_run
/// # fn demo(transport: &sandloop::DatagramTransport) -> sandloop::Result<()> {
/// use sandloop::DatagramExtraInfo;
/// if let Some(DatagramExtraInfo::Socket(sock)) = transport.get_extra_info("socket") {
///     println!("bound to {}", sock.local_addr()?);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatagramExtraInfo {
    /// `peername` (a connected endpoint), `sockname`.
    Address(Address),
    /// `socket`: the endpoint's socket, for options and addresses. Doing I/O on it behind
    /// the transport's back mixes up the two (asyncio hands out a `TransportSocket` that
    /// forbids it).
    Socket(Socket),
}

struct DatagramInner {
    lp: EventLoop,
    /// Where the loop holds the endpoint until `connection_lost` (or the loop's close).
    key: Cell<Option<usize>>,
    sock: Socket,
    protocol: RefCell<Option<SharedDatagramProtocol>>,
    /// The default target (`remote_addr`): every datagram goes there.
    address: Option<Address>,
    /// The socket is connected to `address` (not so with `allow_broadcast`): datagrams go
    /// out with `send`, checked by the host once, at connect.
    connected: bool,
    sockname: Option<Address>,
    peername: Option<Address>,
    /// Datagrams the kernel did not take yet, in order, with their targets.
    buffer: RefCell<VecDeque<(Vec<u8>, Option<Address>)>>,
    buffer_size: Cell<usize>,
    closing: Cell<bool>,
    conn_lost: Cell<bool>,
    water: WaterMarks,
}

impl fmt::Debug for DatagramInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("DatagramTransport");
        if let Some(addr) = &self.sockname {
            d.field("sockname", &format_args!("{addr}"));
        }
        if let Some(addr) = &self.address {
            d.field("remote", &format_args!("{addr}"));
        }
        d.field("closing", &self.closing.get())
            .field("buffered", &self.buffer_size.get())
            .finish()
    }
}

impl fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

fn invalid_input(msg: String) -> Error {
    Error::Os(io::Error::new(io::ErrorKind::InvalidInput, msg))
}

/// Errors a datagram protocol hears about through `error_received` (asyncio's `OSError`,
/// which includes its `PermissionError`); anything else is fatal to the transport.
fn is_os_error(err: &Error) -> bool {
    matches!(err, Error::Os(_) | Error::PermissionDenied(_))
}

fn is_would_block(err: &Error) -> bool {
    matches!(err, Error::Os(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl DatagramTransport {
    /// Runs `protocol` on the datagram socket `sock`: schedules `connection_made`, then
    /// reading. `address` is the default target; `connected` says the socket is connected
    /// to it.
    pub(crate) fn open(
        lp: &EventLoop,
        sock: Socket,
        protocol: SharedDatagramProtocol,
        address: Option<Address>,
    ) -> Result<DatagramTransport> {
        let sockname = sock.local_addr().ok();
        let peername = sock.peer_addr().ok();
        let inner = Rc::new(DatagramInner {
            lp: lp.clone(),
            key: Cell::new(None),
            connected: peername.is_some(),
            address: address.or_else(|| peername.clone()),
            sock,
            protocol: RefCell::new(Some(protocol)),
            sockname,
            peername,
            buffer: RefCell::new(VecDeque::new()),
            buffer_size: Cell::new(0),
            closing: Cell::new(false),
            conn_lost: Cell::new(false),
            water: WaterMarks::default(),
        });
        // The loop holds the endpoint while it is open, as it holds a stream transport; the
        // socket's reader and writer hold it weakly, so the loop's close lets go of it.
        let key = lp.register_io(IoEntry::Kept(inner.clone()));
        inner.key.set(Some(key));
        let transport = DatagramTransport { inner };
        let made = transport.clone();
        lp.call_soon(move || {
            if let Some(p) = made.inner.protocol() {
                p.borrow_mut().connection_made(&made);
            }
        });
        let reading = transport.inner.clone();
        lp.call_soon(move || reading.start_reading());
        Ok(transport)
    }

    /// The loop the transport runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.inner.lp.clone()
    }

    /// Sends `data` as one datagram to `addr`, or to the endpoint's remote address when
    /// `addr` is `None` (asyncio's `sendto(data, addr=None)`).
    ///
    /// The datagram goes out at once when nothing is queued; otherwise (or when the kernel
    /// has no room) it is queued and sent in order when the socket is writable. An empty
    /// `data` is an empty datagram, as in CPython 3.12 and later. Failures of the send
    /// itself (a denial by the policy, a datagram too large, ...) reach the protocol's
    /// `error_received` soon, not the caller; ignored once the transport is closing.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `addr` differs from the remote address of an endpoint created
    /// with `remote_addr` (asyncio's `ValueError`), or when there is no address at all.
    ///
    /// asyncio: `transport.sendto(data, addr)`.
    ///
    /// ```no_run
    /// # fn demo(transport: &sandloop::DatagramTransport) -> sandloop::Result<()> {
    /// use std::net::SocketAddr;
    /// let peer = SocketAddr::from(([127, 0, 0, 1], 9999));
    /// transport.sendto(b"ping", Some(peer.into()))?;
    /// # Ok(()) }
    /// ```
    pub fn sendto(&self, data: &[u8], addr: Option<Address>) -> Result<()> {
        self.inner.sendto(data, addr)
    }

    /// Closes the endpoint: nothing more is read; queued datagrams are still sent, then
    /// the protocol's `connection_lost(None)` runs.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Closes at once: queued datagrams are dropped; `connection_lost(None)` runs soon.
    pub fn abort(&self) {
        self.inner.force_close(None);
    }

    /// `true` once `close` or `abort` was called, or the endpoint failed.
    pub fn is_closing(&self) -> bool {
        self.inner.closing.get()
    }

    /// The bytes of the datagrams queued and not yet taken by the kernel.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.buffer_size.get()
    }

    /// Sets the water marks of the write buffer, as a stream `Transport`'s: with only
    /// `high`, `low` is a quarter of it; with only `low`, `high` is four times it; with
    /// neither, 64 KiB and 16 KiB.
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.inner.water.set(high, low)?;
        self.inner.maybe_pause_protocol();
        Ok(())
    }

    /// `(low, high)`: the water marks of the write buffer.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.water.limits()
    }

    /// asyncio's `get_extra_info`: `peername` (a connected endpoint), `sockname` and
    /// `socket`; `None` for other names.
    pub fn get_extra_info(&self, name: &str) -> Option<DatagramExtraInfo> {
        match name {
            "peername" => self.inner.peername.clone().map(DatagramExtraInfo::Address),
            "sockname" => self.inner.sockname.clone().map(DatagramExtraInfo::Address),
            "socket" => Some(DatagramExtraInfo::Socket(self.inner.sock.clone())),
            _ => None,
        }
    }

    /// The peer's address of a connected endpoint (`get_extra_info("peername")`).
    pub fn peername(&self) -> Option<Address> {
        self.inner.peername.clone()
    }

    /// The local address (`get_extra_info("sockname")`).
    pub fn sockname(&self) -> Option<Address> {
        self.inner.sockname.clone()
    }

    /// Replaces the protocol that receives the callbacks.
    pub fn set_protocol(&self, protocol: SharedDatagramProtocol) {
        *self.inner.protocol.borrow_mut() = Some(protocol);
    }

    /// The protocol that receives the callbacks (`None` after `connection_lost`).
    pub fn get_protocol(&self) -> Option<SharedDatagramProtocol> {
        self.inner.protocol()
    }

    /// Calls `f` with the endpoint's protocol as its own type `P`: `None` when there is no
    /// protocol (after `connection_lost`) or it is not a `P`; see
    /// [`crate::Transport::with_protocol`].
    ///
    /// # Panics
    /// When called from inside one of the protocol's own callbacks.
    pub fn with_protocol<P: DatagramProtocol, R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let protocol = self.get_protocol()?;
        let mut guard = protocol.borrow_mut();
        let any: &mut dyn std::any::Any = &mut *guard;
        any.downcast_mut::<P>().map(f)
    }
}

impl DatagramInner {
    fn protocol(&self) -> Option<SharedDatagramProtocol> {
        self.protocol.borrow().clone()
    }

    fn start_reading(self: &Rc<Self>) {
        if self.closing.get() {
            return;
        }
        let me = Rc::downgrade(self);
        let reader = move || {
            if let Some(me) = me.upgrade() {
                me.read_ready();
            }
        };
        if let Err(err) = self.lp.add_reader(&self.sock, reader) {
            self.fatal_error(err, "Fatal error watching a datagram transport");
        }
    }

    /// The socket is readable: hands up to [`READS_PER_READY`] datagrams to the protocol.
    fn read_ready(self: &Rc<Self>) {
        for _ in 0..READS_PER_READY {
            if self.conn_lost.get() || self.closing.get() {
                return;
            }
            match self.sock.recv_from(MAX_DATAGRAM) {
                Ok((data, addr)) => {
                    if let Some(p) = self.protocol() {
                        p.borrow_mut().datagram_received(&data, &addr);
                    }
                }
                Err(err) if is_would_block(&err) => return,
                Err(err) if is_os_error(&err) => {
                    if let Some(p) = self.protocol() {
                        p.borrow_mut().error_received(err);
                    }
                    return;
                }
                Err(err) => {
                    self.fatal_error(err, "Fatal read error on datagram transport");
                    return;
                }
            }
        }
    }

    fn sendto(self: &Rc<Self>, data: &[u8], addr: Option<Address>) -> Result<()> {
        let addr = match (&self.address, addr) {
            (Some(remote), Some(addr)) if *remote != addr => {
                return Err(invalid_input(format!(
                    "Invalid address: must be None or {remote}, not {addr}"
                )));
            }
            (Some(remote), _) => Some(remote.clone()),
            (None, Some(addr)) => Some(addr),
            (None, None) => {
                return Err(invalid_input(
                    "sendto: no address given and the endpoint has no remote address".into(),
                ));
            }
        };
        if self.closing.get() || self.conn_lost.get() {
            return Ok(());
        }
        if self.buffer.borrow().is_empty() {
            match self.send_one(data, addr.as_ref()) {
                Ok(()) => return Ok(()),
                Err(err) if is_would_block(&err) => self.watch_writable(),
                Err(err) => {
                    let me = self.clone();
                    self.lp.call_soon(move || me.send_failed(err));
                    return Ok(());
                }
            }
        }
        self.buffer_size.set(self.buffer_size.get() + data.len());
        self.buffer.borrow_mut().push_back((data.to_vec(), addr));
        self.maybe_pause_protocol();
        Ok(())
    }

    /// One datagram: `send` on a connected socket (the host checked its peer at
    /// connect), `send-to` otherwise (the host checks every target).
    fn send_one(&self, data: &[u8], addr: Option<&Address>) -> Result<()> {
        let sent = match addr {
            Some(addr) if !self.connected => self.sock.send_to(data, addr.clone()),
            _ => self.sock.send(data),
        };
        sent.map(drop)
    }

    fn watch_writable(self: &Rc<Self>) {
        let weak: Weak<DatagramInner> = Rc::downgrade(self);
        let writer = move || {
            if let Some(me) = weak.upgrade() {
                me.write_ready();
            }
        };
        if let Err(err) = self.lp.add_writer(&self.sock, writer) {
            let me = self.clone();
            self.lp.call_soon(move || {
                me.fatal_error(err, "Fatal error watching a datagram transport")
            });
        }
    }

    /// A send failed: an OS error reaches the protocol, anything else ends the transport.
    fn send_failed(self: &Rc<Self>, err: Error) {
        if self.conn_lost.get() {
            return;
        }
        if is_os_error(&err) {
            if let Some(p) = self.protocol() {
                p.borrow_mut().error_received(err);
            }
        } else {
            self.fatal_error(err, "Fatal write error on datagram transport");
        }
    }

    /// The socket is writable: sends the queue in order, as far as the kernel takes it.
    fn write_ready(self: &Rc<Self>) {
        loop {
            let Some((data, addr)) = self.buffer.borrow_mut().pop_front() else {
                break;
            };
            self.buffer_size.set(self.buffer_size.get() - data.len());
            match self.send_one(&data, addr.as_ref()) {
                Ok(()) => {}
                Err(err) if is_would_block(&err) => {
                    self.buffer_size.set(self.buffer_size.get() + data.len());
                    self.buffer.borrow_mut().push_front((data, addr));
                    break;
                }
                Err(err) => {
                    // The datagram is dropped; the rest waits for the next writability.
                    self.send_failed(err);
                    return;
                }
            }
        }
        self.maybe_resume_protocol();
        if self.buffer.borrow().is_empty() {
            self.lp.remove_writer(&self.sock);
            if self.closing.get() && !self.conn_lost.replace(true) {
                self.call_connection_lost(None);
            }
        }
    }

    fn maybe_pause_protocol(self: &Rc<Self>) {
        if !self.water.over_high(self.buffer_size.get()) {
            return;
        }
        // Never from inside the caller's sendto: the protocol may be the caller.
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
        if self.water.resume(self.buffer_size.get())
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().resume_writing();
        }
    }

    fn close(self: &Rc<Self>) {
        if self.closing.replace(true) {
            return;
        }
        self.lp.remove_reader(&self.sock);
        if self.buffer.borrow().is_empty() && !self.conn_lost.replace(true) {
            let me = self.clone();
            self.lp.call_soon(move || me.call_connection_lost(None));
        }
    }

    fn force_close(self: &Rc<Self>, exc: Option<Error>) {
        if self.conn_lost.replace(true) {
            return;
        }
        if !self.buffer.borrow().is_empty() {
            self.buffer.borrow_mut().clear();
            self.buffer_size.set(0);
            self.lp.remove_writer(&self.sock);
        }
        if !self.closing.replace(true) {
            self.lp.remove_reader(&self.sock);
        }
        let me = self.clone();
        self.lp.call_soon(move || me.call_connection_lost(exc));
    }

    fn fatal_error(self: &Rc<Self>, err: Error, message: &str) {
        if is_os_error(&err) {
            if self.lp.get_debug() {
                log::log(Level::Debug, format_args!("{self:?}: {message}: {err}"));
            }
        } else {
            self.lp.call_exception_handler(&ExceptionContext {
                message: message.into(),
                exception: Some(err.clone()),
                transport: Some(format!("{self:?}")),
                protocol: self.protocol().map(|_| "datagram protocol".to_string()),
                ..Default::default()
            });
        }
        self.force_close(Some(err));
    }

    /// The last callback: the protocol hears `connection_lost`, the socket closes, and
    /// the loop lets go of the endpoint.
    fn call_connection_lost(self: &Rc<Self>, exc: Option<Error>) {
        let protocol = self.protocol.borrow_mut().take();
        if let Some(p) = protocol {
            p.borrow_mut().connection_lost(exc);
        }
        self.lp.remove_reader(&self.sock);
        self.lp.remove_writer(&self.sock);
        self.sock.close();
        if let Some(key) = self.key.take() {
            self.lp.deregister_io(key);
        }
    }
}
