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

    /// The port of an IP address; `None` for a unix path.
    pub fn port(&self) -> Option<u16> {
        self.as_inet().map(|sa| sa.port())
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

/// A host and a port, asyncio's `(host, port)` address tuple: what the options of
/// `create_connection` (`local_addr`) and `create_datagram_endpoint` (`local_addr`,
/// `remote_addr`) take, so both spell addresses the same way. The host is a name or an IP
/// literal, resolved with `getaddrinfo` when used; an empty host is asyncio's `None`.
///
/// It converts from a `SocketAddr`, from `(&str, u16)` / `(String, u16)` /
/// `(IpAddr, u16)`, and parses from `"host:port"` (`"[::1]:0"` for IPv6):
///
/// ```
/// use sandloop::net::HostPort;
/// let a: HostPort = "127.0.0.1:0".parse().unwrap();
/// let b = HostPort::from(("localhost", 8080));
/// let c = HostPort::from(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
/// assert_eq!(a, c);
/// assert_eq!(b.to_string(), "localhost:8080");
/// assert_eq!("[::1]:53".parse::<HostPort>().unwrap().host, "::1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A host name or an IP literal (IPv6 without brackets).
    pub host: String,
    /// The port (0: any free port, when binding).
    pub port: u16,
}

impl HostPort {
    /// The socket address, when the host is an IP literal (no lookup needed).
    pub fn as_socket_addr(&self) -> Option<SocketAddr> {
        let ip: std::net::IpAddr = self.host.parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }
}

impl From<SocketAddr> for HostPort {
    fn from(sa: SocketAddr) -> HostPort {
        HostPort {
            host: sa.ip().to_string(),
            port: sa.port(),
        }
    }
}

impl From<(&str, u16)> for HostPort {
    fn from((host, port): (&str, u16)) -> HostPort {
        HostPort {
            host: host.to_owned(),
            port,
        }
    }
}

impl From<(String, u16)> for HostPort {
    fn from((host, port): (String, u16)) -> HostPort {
        HostPort { host, port }
    }
}

impl From<(std::net::IpAddr, u16)> for HostPort {
    fn from(addr: (std::net::IpAddr, u16)) -> HostPort {
        HostPort::from(SocketAddr::from(addr))
    }
}

impl std::str::FromStr for HostPort {
    type Err = std::io::Error;

    /// `"host:port"`, `"1.2.3.4:port"` or `"[v6]:port"`.
    fn from_str(s: &str) -> std::result::Result<HostPort, std::io::Error> {
        let invalid = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{s:?} is not an address of the form host:port"),
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(invalid)?;
        let port = port.parse().map_err(|_| invalid())?;
        let host = match host.strip_prefix('[') {
            Some(v6) => v6.strip_suffix(']').ok_or_else(invalid)?,
            None if host.contains(':') => return Err(invalid()),
            None => host,
        };
        Ok(HostPort {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What `Socket::bind` takes: an [`Address`], a `SocketAddr`,
/// `(IpAddr, u16)`, a [`HostPort`] or `(&str, u16)` whose host is an IP literal, or a
/// string: `"127.0.0.1:0"` / `"[::1]:0"` for an IP socket, a path for a unix socket (as
/// Python's `socket.bind` reads a `str` by the socket's family). Binding does not resolve
/// names (it is not async): resolve them first with `getaddrinfo`.
///
/// ```no_run
/// # fn demo() -> sandloop::Result<()> {
/// use sandloop::net::{Family, Socket, SocketType};
/// let sock = Socket::new(Family::Inet, SocketType::Stream)?;
/// sock.bind("127.0.0.1:0")?; // asyncio: sock.bind(("127.0.0.1", 0))
/// println!("bound to port {:?}", sock.local_addr()?.port());
/// # Ok(()) }
/// ```
pub trait ToAddress {
    /// The address for a socket of `family`; `InvalidInput` when it does not make one.
    fn to_address(self, family: Family) -> std::io::Result<Address>;
}

impl ToAddress for Address {
    fn to_address(self, _: Family) -> std::io::Result<Address> {
        Ok(self)
    }
}

impl ToAddress for SocketAddr {
    fn to_address(self, _: Family) -> std::io::Result<Address> {
        Ok(Address::Inet(self))
    }
}

impl ToAddress for (std::net::IpAddr, u16) {
    fn to_address(self, _: Family) -> std::io::Result<Address> {
        Ok(Address::Inet(self.into()))
    }
}

impl ToAddress for HostPort {
    fn to_address(self, _: Family) -> std::io::Result<Address> {
        self.as_socket_addr().map(Address::Inet).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{self}: bind takes an IP address, not a name (resolve it with getaddrinfo)"
                ),
            )
        })
    }
}

impl ToAddress for (&str, u16) {
    fn to_address(self, family: Family) -> std::io::Result<Address> {
        HostPort::from(self).to_address(family)
    }
}

impl ToAddress for &str {
    fn to_address(self, family: Family) -> std::io::Result<Address> {
        match family {
            Family::Unix => Ok(Address::Unix(self.as_bytes().to_vec())),
            Family::Inet | Family::Inet6 => self.parse::<HostPort>()?.to_address(family),
        }
    }
}

impl ToAddress for &String {
    fn to_address(self, family: Family) -> std::io::Result<Address> {
        self.as_str().to_address(family)
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
