//! Sockets of the host (`sandloop::net`): addresses, options, [`Socket`] and
//! [`socketpair`].
//!
//! A [`Socket`] is always non-blocking, like the sockets asyncio's `sock_*` methods take:
//! its own `recv`/`send`/`accept` return an `Error::Os` of kind `WouldBlock` when they
//! would wait. Await the loop's `sock_recv`, `sock_sendall`, `sock_accept`, ... to wait
//! for readiness, or watch it with `add_reader`/`add_writer`.
//!
//! Every bind, listen and connect is checked by the host against the workload's policy;
//! a refusal is `Error::PermissionDenied` naming the operation and the address.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;

pub use crate::addresses::{
    AddrInfo, Address, Family, HostPort, Shutdown, SockOpt, SockOptName, SocketType, ToAddress,
};
use crate::error::{Error, Result};
use crate::events::Handle;
use crate::sys::errors::Progress;
use crate::sys::net::{HostSocket, HostSource};

/// `AI_PASSIVE`: addresses for `bind` (the wildcard address when the host is `None`).
pub const AI_PASSIVE: i32 = 0x1;
/// `AI_CANONNAME`: fill in [`AddrInfo::canonname`].
pub const AI_CANONNAME: i32 = 0x2;
/// `AI_NUMERICHOST`: the host must be a numeric address; no name lookup.
pub const AI_NUMERICHOST: i32 = 0x4;
/// `AI_NUMERICSERV`: the port must be numeric.
pub const AI_NUMERICSERV: i32 = 0x400;
/// `NI_NUMERICHOST`: give the numeric form of the host.
pub const NI_NUMERICHOST: i32 = 0x1;
/// `NI_NUMERICSERV`: give the numeric form of the port.
pub const NI_NUMERICSERV: i32 = 0x2;
/// `NI_NAMEREQD`: fail when the host has no name.
pub const NI_NAMEREQD: i32 = 0x8;
/// `NI_DGRAM`: look the service up as a datagram service.
pub const NI_DGRAM: i32 = 0x10;

/// A non-blocking socket of the host. Clones share the socket; it closes when the last
/// clone is dropped or [`Socket::close`] is called.
///
/// asyncio: a non-blocking `socket.socket` with `loop.sock_connect`, `sock_sendall`,
/// `sock_recv`:
///
/// ```no_run
/// use std::net::SocketAddr;
/// use sandloop::net::{Family, Socket, SocketType};
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let sock = Socket::new(Family::Inet, SocketType::Stream)?;
///     lp.sock_connect(&sock, SocketAddr::from(([127, 0, 0, 1], 8080))).await?;
///     lp.sock_sendall(&sock, b"ping\n").await?;
///     let reply = lp.sock_recv(&sock, 1024).await?;
///     println!("{}", String::from_utf8_lossy(&reply));
///     sock.close();
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Rc<SocketInner>,
}

/// Identity: clones of the same socket, as Python compares socket objects.
impl PartialEq for Socket {
    fn eq(&self, other: &Socket) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for Socket {}

pub(crate) struct SocketInner {
    /// `None` once closed, or once a transport took the socket over.
    host: RefCell<Option<HostSocket>>,
    pub(crate) watch: RefCell<Watch>,
}

/// What the loop watches on a socket: asyncio's selector key (reader and writer).
#[derive(Default)]
pub(crate) struct Watch {
    /// The reactor source, made on first use (a duplicate of the socket's descriptor).
    pub(crate) source: Option<HostSource>,
    /// The key in the loop's I/O registry, while registered.
    pub(crate) key: Option<usize>,
    pub(crate) registered: bool,
    pub(crate) reader: Option<Handle>,
    pub(crate) writer: Option<Handle>,
}

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Socket");
        match &*self.inner.host.borrow() {
            Some(sock) => {
                d.field("family", &sock.family());
                if let Ok(addr) = sock.local_address() {
                    d.field("laddr", &addr);
                }
                if let Ok(addr) = sock.peer_address() {
                    d.field("raddr", &addr);
                }
            }
            None => {
                d.field("closed", &true);
            }
        }
        d.finish()
    }
}

fn closed_error() -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::NotConnected,
        "the socket is closed",
    ))
}

fn would_block() -> Error {
    Error::Os(io::Error::from(io::ErrorKind::WouldBlock))
}

impl Socket {
    /// A new non-blocking socket (asyncio users write `socket.socket(family, type)`).
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use sandloop::net::{Family, Socket, SocketType};
    /// let listener = Socket::new(Family::Inet, SocketType::Stream)?;
    /// listener.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?; // the policy's bind rules apply
    /// listener.listen(128)?;
    /// println!("listening on {}", listener.local_addr()?);
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn new(family: Family, ty: SocketType) -> Result<Socket> {
        HostSocket::create(family, ty).map(Socket::from_host)
    }

    pub(crate) fn from_host(host: HostSocket) -> Socket {
        Socket {
            inner: Rc::new(SocketInner {
                host: RefCell::new(Some(host)),
                watch: RefCell::new(Watch::default()),
            }),
        }
    }

    /// Runs `f` on the host socket; `Err` when the socket is closed.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&HostSocket) -> Result<T>) -> Result<T> {
        match &*self.inner.host.borrow() {
            Some(sock) => f(sock),
            None => Err(closed_error()),
        }
    }

    /// A socket with no host socket behind it, only `source` to watch: how a pipe end is
    /// watched with `add_reader`/`add_writer` through the same machinery. It reads as
    /// closed for every socket call.
    pub(crate) fn watch_only(source: Option<HostSource>) -> Socket {
        Socket {
            inner: Rc::new(SocketInner {
                host: RefCell::new(None),
                watch: RefCell::new(Watch {
                    source,
                    ..Watch::default()
                }),
            }),
        }
    }

    /// Takes the host socket out (a transport takes the socket over); the `Socket` reads as
    /// closed afterwards.
    pub(crate) fn take_host(&self) -> Result<HostSocket> {
        let mut watch = self.inner.watch.borrow_mut();
        watch.source = None;
        watch.registered = false;
        drop(watch);
        self.inner.host.borrow_mut().take().ok_or_else(closed_error)
    }

    /// The socket's address family.
    pub fn family(&self) -> Result<Family> {
        self.with(|s| Ok(s.family()))
    }

    /// The socket's type (`socket.type`).
    pub fn socket_type(&self) -> Result<SocketType> {
        self.with(|s| Ok(s.socket_type()))
    }

    /// Binds to a local address (checked against the policy's listen rules; a datagram
    /// socket against its udp bind rules; a unix path
    /// or abstract name against its unix rules).
    ///
    /// `addr` is anything [`ToAddress`]: an address, or a string such as `"127.0.0.1:0"`
    /// (a path for a unix socket).
    ///
    /// ```no_run
    /// use sandloop::net::{Family, Socket, SocketType};
    /// let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    /// sock.bind("127.0.0.1:0")?;
    /// let port = sock.local_addr()?.port();
    /// # Ok::<(), sandloop::Error>(())
    /// ```
    pub fn bind(&self, addr: impl ToAddress) -> Result<()> {
        let addr = addr.to_address(self.family()?)?;
        self.with(|s| s.bind(&addr))
    }

    /// Starts listening for connections.
    pub fn listen(&self, backlog: u32) -> Result<()> {
        self.with(|s| s.listen(backlog))
    }

    /// Accepts a pending connection, or fails with `WouldBlock`; see
    /// [`EventLoop::sock_accept`](crate::EventLoop::sock_accept) to wait for one.
    ///
    /// ```no_run
    /// # fn demo(lp: &sandloop::EventLoop, listener: sandloop::net::Socket) -> sandloop::Result<()> {
    /// // asyncio's selector style: accept when the listening socket is readable.
    /// let l = listener.clone();
    /// lp.add_reader(&listener, move || {
    ///     while let Ok((conn, peer)) = l.accept() {
    ///         println!("{peer} connected");
    ///         conn.close();
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn accept(&self) -> Result<(Socket, Address)> {
        match self.with(|s| s.accept())? {
            Progress::Done((sock, addr)) => Ok((Socket::from_host(sock), addr)),
            Progress::Pending => Err(would_block()),
        }
    }

    /// Reads at most `max` bytes (empty at end of stream), or fails with `WouldBlock`.
    ///
    /// Non-blocking: `WouldBlock` means "nothing yet" (await
    /// [`EventLoop::sock_recv`](crate::EventLoop::sock_recv) to wait instead).
    ///
    /// ```no_run
    /// # fn demo(sock: &sandloop::net::Socket) -> sandloop::Result<()> {
    /// match sock.recv(4096) {
    ///     Ok(data) => println!("{} bytes", data.len()),
    ///     Err(sandloop::Error::Os(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv(&self, max: usize) -> Result<Vec<u8>> {
        match self.with(|s| s.recv(max))? {
            Progress::Done(data) => Ok(data),
            Progress::Pending => Err(would_block()),
        }
    }

    /// Writes what the kernel takes of `data`, or fails with `WouldBlock`.
    pub fn send(&self, data: &[u8]) -> Result<usize> {
        match self.with(|s| s.send(data))? {
            Progress::Done(n) => Ok(n),
            Progress::Pending => Err(would_block()),
        }
    }

    /// Reads one datagram of at most `max` bytes (the host caps it at 65535; a longer
    /// datagram is truncated) and its sender, or fails with `WouldBlock`; see
    /// [`EventLoop::sock_recvfrom`](crate::EventLoop::sock_recvfrom) to wait for one.
    pub fn recv_from(&self, max: usize) -> Result<(Vec<u8>, Address)> {
        match self.with(|s| s.recv_from(max))? {
            Progress::Done(received) => Ok(received),
            Progress::Pending => Err(would_block()),
        }
    }

    /// Sends `data` as one datagram to `addr` (checked against the policy's udp send
    /// rules), or fails with `WouldBlock`.
    pub fn send_to(&self, data: &[u8], addr: impl Into<Address>) -> Result<usize> {
        let addr = addr.into();
        match self.with(|s| s.send_to(data, &addr))? {
            Progress::Done(n) => Ok(n),
            Progress::Pending => Err(would_block()),
        }
    }

    /// Shuts one or both directions down.
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        self.with(|s| s.shutdown(how))
    }

    /// Sets a socket option.
    pub fn set_option(&self, opt: SockOpt) -> Result<()> {
        self.with(|s| s.set_option(opt))
    }

    /// Reads a socket option.
    pub fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        self.with(|s| s.get_option(name))
    }

    /// The local address (`getsockname`).
    pub fn local_addr(&self) -> Result<Address> {
        self.with(|s| s.local_address())
    }

    /// The peer's address (`getpeername`).
    pub fn peer_addr(&self) -> Result<Address> {
        self.with(|s| s.peer_address())
    }

    /// Closes the socket now (every clone sees it closed). Closing twice is harmless.
    pub fn close(&self) {
        let mut watch = self.inner.watch.borrow_mut();
        watch.source = None;
        watch.registered = false;
        watch.reader = None;
        watch.writer = None;
        drop(watch);
        self.inner.host.borrow_mut().take();
    }

    /// Whether the socket is closed (or was taken over by a transport).
    pub fn is_closed(&self) -> bool {
        self.inner.host.borrow().is_none()
    }

    /// Whether two handles refer to the same socket.
    pub fn same(&self, other: &Socket) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Anything the loop can watch with `add_reader`/`add_writer` (asyncio's file
/// descriptors): host sockets and pipe ends (`os::PipeReader` and `os::PipeWriter`, which
/// implement it in `os.rs`).
///
/// ```no_run
/// # fn demo(lp: &sandloop::EventLoop) -> sandloop::Result<()> {
/// use sandloop::net::AsHandle;
/// // Anything AsHandle can be watched: a socket, a pipe end.
/// fn watch(lp: &sandloop::EventLoop, fd: &impl AsHandle) -> sandloop::Result<()> {
///     lp.add_reader(fd, || println!("readable"))
/// }
/// let (a, _b) = sandloop::net::socketpair()?;
/// watch(lp, &a)?;
/// # Ok(()) }
/// ```
pub trait AsHandle {
    /// The watched socket. A pipe end answers with a watch-only socket: it carries the
    /// pipe's readiness and reads as closed for socket calls.
    fn as_socket(&self) -> &Socket;
}

impl AsHandle for Socket {
    fn as_socket(&self) -> &Socket {
        self
    }
}

/// A connected pair of unix stream sockets (Python's `socket.socketpair()`).
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// let (a, b) = sandloop::net::socketpair()?;
/// lp.sock_sendall(&a, b"hi").await?;
/// assert_eq!(lp.sock_recv(&b, 16).await?, b"hi");
/// # Ok(()) }
/// ```
pub fn socketpair() -> Result<(Socket, Socket)> {
    let (a, b) = HostSocket::pair()?;
    Ok((Socket::from_host(a), Socket::from_host(b)))
}
