//! Socket addresses as the guest names them, to and from native socket addresses; and the
//! address families and socket types. The WIT's `address`, `address-family` and
//! `socket-type` mirror these one to one (the glue converts them at the edge).
//!
//! An IP address crosses the boundary as the text Rust prints (`127.0.0.1:80`,
//! `[::1]:80`) and is parsed back with `SocketAddr::from_str`; a unix address crosses as
//! the path's bytes, with a leading NUL for an abstract name and empty when unnamed.

use std::fmt;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt as _;

use socket2::SockAddr;

use crate::error::{Error, ErrorKind, error};

/// A socket address as the guest names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    /// An IP socket address as Rust prints it: `127.0.0.1:80`, `[::1]:80`.
    Inet(String),
    /// A unix socket path; a leading NUL byte makes it an abstract name; empty when
    /// unnamed.
    Unix(Vec<u8>),
}

/// An address family of sockets and lookups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddressFamily {
    Ipv4,
    Ipv6,
    Unix,
}

/// The type of a socket (and of a lookup's answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketType {
    Stream,
    Datagram,
}

/// Parses the IP socket address of an `op` (`bind`, `connect`), or says what is wrong
/// with it.
pub(crate) fn parse_inet(op: &str, text: &str) -> Result<SocketAddr, Error> {
    text.parse().map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            format!("{op}: {text:?} is not an IP socket address (like 127.0.0.1:80 or [::1]:80)"),
        )
    })
}

/// Refuses an address of the wrong family for the socket, before the OS does it with a
/// less helpful EINVAL.
pub(crate) fn check_family(
    op: &str,
    family: AddressFamily,
    addr: &SocketAddr,
) -> Result<(), Error> {
    let fits = matches!(
        (family, addr),
        (AddressFamily::Ipv4, SocketAddr::V4(_)) | (AddressFamily::Ipv6, SocketAddr::V6(_))
    );
    if fits {
        return Ok(());
    }
    Err(error(
        ErrorKind::InvalidInput,
        format!(
            "{op} {addr}: not an address of this {} socket",
            family_name(family)
        ),
    ))
}

/// A native address as the guest names it.
pub(crate) fn from_native(addr: &SockAddr) -> Address {
    if let Some(inet) = addr.as_socket() {
        return Address::Inet(inet.to_string());
    }
    if let Some(path) = addr.as_pathname() {
        return Address::Unix(path.as_os_str().as_bytes().to_vec());
    }
    if let Some(name) = addr.as_abstract_namespace() {
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        return Address::Unix(bytes);
    }
    Address::Unix(Vec::new())
}

/// A unix address for messages: the path, `@name` for an abstract name (as `ss` prints
/// it), or `(unnamed)`.
pub(crate) struct UnixPath<'a>(pub(crate) &'a [u8]);

impl fmt::Display for UnixPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [] => f.write_str("(unnamed)"),
            [0, name @ ..] => write!(f, "@{}", String::from_utf8_lossy(name)),
            path => write!(f, "{:?}", String::from_utf8_lossy(path)),
        }
    }
}

/// Who is at the other end of a socket, for error messages: the address remembered from
/// `connect` or `accept` (after a reset the kernel no longer knows it), else whatever
/// the kernel says now. Only formatted when an error is being reported.
pub(crate) struct Peer<'a>(
    pub(crate) Option<SocketAddr>,
    pub(crate) &'a socket2::Socket,
);

impl fmt::Display for Peer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(addr) = self.0 {
            return write!(f, "{addr}");
        }
        match self.1.peer_addr().map(|addr| from_native(&addr)) {
            Ok(Address::Inet(addr)) => f.write_str(&addr),
            Ok(Address::Unix(path)) => write!(f, "unix {}", UnixPath(&path)),
            Err(_) => f.write_str("(not connected)"),
        }
    }
}

/// The local address of `socket`, for error messages.
pub(crate) struct Local<'a>(pub(crate) &'a socket2::Socket);

impl fmt::Display for Local<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.local_addr().map(|addr| from_native(&addr)) {
            Ok(Address::Inet(addr)) => f.write_str(&addr),
            Ok(Address::Unix(path)) => write!(f, "unix {}", UnixPath(&path)),
            Err(_) => f.write_str("(unbound)"),
        }
    }
}

/// The family as people write it.
pub(crate) fn family_name(family: AddressFamily) -> &'static str {
    match family {
        AddressFamily::Ipv4 => "IPv4",
        AddressFamily::Ipv6 => "IPv6",
        AddressFamily::Unix => "unix",
    }
}
