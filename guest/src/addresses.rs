//! Addresses and the other plain values of sockets: families, types, options, which side
//! a shutdown closes, and `getaddrinfo`'s answers. The vocabulary that `net` (the sockets
//! a workload uses) and `sys/net.rs` (the host's sockets) share, so neither imports the
//! other's; `sandloop::net` re-exports every type here.

use std::fmt;
use std::net::SocketAddr;

/// An address family (`socket.AF_*`).
///
/// ```no_run
/// use std::net::SocketAddr;
/// use sandloop::net::{Family, Socket, SocketType};
/// let addr = SocketAddr::from(([127, 0, 0, 1], 8080));
/// assert_eq!(Family::of(&addr), Family::Inet);
/// let sock = Socket::new(Family::of(&addr), SocketType::Stream)?;
/// # let _ = sock;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `AF_INET`.
    Inet,
    /// `AF_INET6`.
    Inet6,
    /// `AF_UNIX`.
    Unix,
}

impl Family {
    /// The family of an IP socket address.
    pub fn of(addr: &SocketAddr) -> Family {
        if addr.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }
}

/// A socket type (`socket.SOCK_*`).
///
/// ```no_run
/// use sandloop::net::{Family, Socket, SocketType};
/// let udp = Socket::new(Family::Inet6, SocketType::Datagram)?;
/// assert_eq!(udp.socket_type()?, SocketType::Datagram);
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Datagram,
}

/// Which direction a socket's `shutdown` closes.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
/// use sandloop::net::Shutdown;
/// lp.sock_sendall(&sock, b"request").await?;
/// sock.shutdown(Shutdown::Write)?; // the peer reads end of stream, can still answer
/// let answer = lp.sock_recv(&sock, 4096).await?;
/// # let _ = answer;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `SHUT_RD`.
    Read,
    /// `SHUT_WR`.
    Write,
    /// `SHUT_RDWR`.
    Both,
}

/// A socket option with its value.
///
/// ```no_run
/// use sandloop::net::{Family, SockOpt, SockOptName, Socket, SocketType};
/// let sock = Socket::new(Family::Inet, SocketType::Stream)?;
/// sock.set_option(SockOpt::NoDelay(true))?;
/// sock.set_option(SockOpt::SendBufferSize(1 << 20))?;
/// assert_eq!(sock.get_option(SockOptName::NoDelay)?, SockOpt::NoDelay(true));
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOpt {
    /// `TCP_NODELAY`.
    NoDelay(bool),
    /// `SO_KEEPALIVE`.
    KeepAlive(bool),
    /// `SO_REUSEADDR`.
    ReuseAddress(bool),
    /// `SO_REUSEPORT`.
    ReusePort(bool),
    /// `SO_RCVBUF`, bytes.
    RecvBufferSize(u32),
    /// `SO_SNDBUF`, bytes.
    SendBufferSize(u32),
    /// `SO_BROADCAST`: a datagram socket may send to a broadcast address.
    Broadcast(bool),
}

/// The name of a socket option, for a socket's `get_option`.
///
/// ```no_run
/// use sandloop::net::{Family, SockOpt, SockOptName, Socket, SocketType};
/// let sock = Socket::new(Family::Inet, SocketType::Stream)?;
/// if let SockOpt::RecvBufferSize(bytes) = sock.get_option(SockOptName::RecvBufferSize)? {
///     println!("receive buffer: {bytes} bytes");
/// }
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockOptName {
    /// `TCP_NODELAY`.
    NoDelay,
    /// `SO_KEEPALIVE`.
    KeepAlive,
    /// `SO_REUSEADDR`.
    ReuseAddress,
    /// `SO_REUSEPORT`.
    ReusePort,
    /// `SO_RCVBUF`.
    RecvBufferSize,
    /// `SO_SNDBUF`.
    SendBufferSize,
    /// `SO_BROADCAST`.
    Broadcast,
}

/// A socket address: IP, or a unix path (asyncio's `peername`/`sockname` values).
///
/// ```no_run
/// use std::net::SocketAddr;
/// use sandloop::net::Address;
/// let addr: Address = SocketAddr::from(([127, 0, 0, 1], 8080)).into();
/// assert_eq!(addr.to_string(), "127.0.0.1:8080");
/// assert_eq!(addr.as_inet().map(|a| a.port()), Some(8080));
/// let abstract_name = Address::Unix(b"\0sandloop".to_vec());
/// assert_eq!(abstract_name.to_string(), "@sandloop");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// An IPv4 or IPv6 socket address.
    Inet(SocketAddr),
    /// A unix socket path (a leading NUL byte: an abstract name, displayed as `@name`;
    /// empty: unnamed, as the client end of a connection usually is).
    Unix(Vec<u8>),
}

impl Address {
    /// The IP socket address, if this is one.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            Address::Inet(sa) => Some(*sa),
            Address::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Address {
    fn from(sa: SocketAddr) -> Address {
        Address::Inet(sa)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet(sa) => sa.fmt(f),
            // An abstract name shows as `@name`, as `ss` and the host's policy write it.
            Address::Unix(path) => match path.split_first() {
                Some((0, name)) => write!(f, "@{}", String::from_utf8_lossy(name)),
                _ => write!(f, "{}", String::from_utf8_lossy(path)),
            },
        }
    }
}

/// One answer of `getaddrinfo`: asyncio's `(family, type, proto, canonname, sockaddr)`.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// use sandloop::net::{AddrInfo, SocketType};
/// let hints = Default::default();
/// let infos: Vec<AddrInfo> = lp.getaddrinfo(Some("localhost"), Some("80"), hints).await?;
/// for AddrInfo { family, socktype, address, .. } in infos {
///     if socktype == SocketType::Stream {
///         println!("{family:?} {address}");
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address family.
    pub family: Family,
    /// The socket type.
    pub socktype: SocketType,
    /// The protocol number (6 for TCP, 17 for UDP).
    pub protocol: u32,
    /// The canonical name, when `AI_CANONNAME` was asked for.
    pub canonname: String,
    /// The socket address.
    pub address: Address,
}
