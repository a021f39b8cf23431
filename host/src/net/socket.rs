//! A socket of the workload in readiness mode: the WIT `net.socket`.
//!
//! Every `bind`, `listen` and `connect` passes the workload's [`Policy`] first (a
//! datagram socket's against the udp rules, and its every `send-to` too, see
//! `datagram.rs`; unix paths and abstract names against the unix rules, see `unix.rs`); a
//! denial is an error of kind `denied` that names the operation and the address, and an
//! audit line in the host log.

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, SockAddr, Type};

use super::address::{self, Address, AddressFamily, Local, Peer, SocketType};
use super::io::{recv, retry, send};
use super::options::{self, OptionName, SocketOption};
use super::unix::{self, BoundFile};
use crate::error::{Error, ErrorKind, error, io_error, io_error_untargeted};
use crate::policy::{Denied, Policy};
use crate::reactor::{Drained, Source};

/// The most one `recv` returns: a hostile guest must not make the host allocate gigabytes
/// by asking for them.
pub const MAX_RECV: usize = 1 << 20;

/// A non-blocking socket of a workload: the WIT `net.socket`.
///
/// Created by the guest through `socket.create`, `accept` or `socketpair`; closed when the
/// guest drops its handle (a [`Source`] made from it shares the descriptor, so the
/// connection stays open until both are gone).
pub struct Socket {
    /// Shared with the reactor sources made from this socket, and with the stream that
    /// takes it over: one descriptor for all of them, closed when the last is gone.
    pub(super) inner: Arc<socket2::Socket>,
    pub(super) family: AddressFamily,
    /// Where the last `connect` went, so `take-error` can name it.
    connecting_to: Option<SocketAddr>,
    /// The peer, as `connect` or `accept` learned it, for error messages.
    pub(super) peer: Option<SocketAddr>,
    /// Made by `accept`: connected once, even if its peer has reset it since.
    accepted: bool,
    /// The socket file this socket's `bind` created, for `remove-bound-path`.
    pub(super) unix_bound: Option<BoundFile>,
    /// A datagram socket: checked against the udp rules; `recv-from`/`send-to` allowed.
    pub(super) datagram: bool,
    /// Shared with its reactor sources: a stream's `recv` notes here that it emptied the
    /// socket, which spares the reactor a re-arm.
    drained: Arc<Drained>,
}

/// A policy's denial as the guest's error.
pub(super) fn denied(denial: Denied) -> Error {
    error(ErrorKind::Denied, denial.to_string())
}

impl Socket {
    pub(crate) fn new(inner: socket2::Socket, family: AddressFamily) -> Socket {
        Socket {
            inner: Arc::new(inner),
            family,
            connecting_to: None,
            peer: None,
            accepted: false,
            unix_bound: None,
            datagram: false,
            drained: Arc::default(),
        }
    }

    /// `socket.create`: a non-blocking, close-on-exec socket of `family` and `type_`.
    pub(crate) fn create(family: AddressFamily, type_: SocketType) -> Result<Socket, Error> {
        let domain = match family {
            AddressFamily::Ipv4 => Domain::IPV4,
            AddressFamily::Ipv6 => Domain::IPV6,
            AddressFamily::Unix => Domain::UNIX,
        };
        let ty = match type_ {
            SocketType::Stream => Type::STREAM,
            SocketType::Datagram => Type::DGRAM,
        };
        // socket2 sets close-on-exec on every socket it creates.
        let inner = match socket2::Socket::new(domain, ty.nonblocking(), None) {
            Ok(inner) => inner,
            Err(err) => {
                let what = address::family_name(family);
                return Err(io_error("create", format_args!("{what} socket"), &err));
            }
        };
        if family == AddressFamily::Ipv6 {
            // As asyncio does for servers: an IPv6 socket is IPv6 only, so that listening
            // on `::` and on `0.0.0.0` side by side works, and so that the policy sees
            // IPv4 peers as IPv4 addresses, never as mapped IPv6 ones.
            if let Err(err) = inner.set_only_v6(true) {
                return Err(io_error_untargeted("create: set IPV6_V6ONLY", &err));
            }
        }
        let mut socket = Socket::new(inner, family);
        socket.datagram = type_ == SocketType::Datagram;
        Ok(socket)
    }

    /// `socketpair`: two connected unix stream sockets, both non-blocking from the start.
    pub(crate) fn pair() -> Result<(Socket, Socket), Error> {
        // `pair` sets close-on-exec; both ends are non-blocking from the start.
        let (a, b) = socket2::Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None)
            .map_err(|err| io_error_untargeted("socketpair", &err))?;
        Ok((
            Socket::new(a, AddressFamily::Unix),
            Socket::new(b, AddressFamily::Unix),
        ))
    }

    /// The socket itself, its peer, and whether `accept` made it, for a stream that
    /// takes it over.
    pub(super) fn into_parts(self) -> (Arc<socket2::Socket>, Option<SocketAddr>, bool) {
        (self.inner, self.peer, self.accepted)
    }

    pub(crate) fn family(&self) -> AddressFamily {
        self.family
    }

    pub(crate) fn socket_type(&self) -> SocketType {
        match self.datagram {
            true => SocketType::Datagram,
            false => SocketType::Stream,
        }
    }

    /// `bind`, if the policy allows binding there.
    pub(crate) fn bind(&mut self, policy: &Policy, addr: Address) -> Result<(), Error> {
        let addr = match addr {
            Address::Unix(path) => {
                self.unix_bound = unix::bind(&self.inner, self.family, policy, &path)?;
                return Ok(());
            }
            Address::Inet(text) => address::parse_inet("bind", &text)?,
        };
        address::check_family("bind", self.family, &addr)?;
        let allowed = if self.datagram {
            policy.check_udp_bind(&addr)
        } else {
            policy.check_bind(&addr)
        };
        allowed.map_err(denied)?;
        self.inner
            .bind(&SockAddr::from(addr))
            .map_err(|err| io_error("bind", addr, &err))
    }

    /// `listen`, if the policy allows listening on the address the socket is bound to.
    pub(crate) fn listen(&self, policy: &Policy, backlog: u32) -> Result<(), Error> {
        let local = self
            .inner
            .local_addr()
            .map_err(|err| io_error_untargeted("listen", &err))?;
        // An unbound socket listens on the address the kernel picks (any address, a free
        // port): that is what the policy sees.
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        let Some(local) = local.as_socket() else {
            unix::check_listen(policy, &local)?;
            return self
                .inner
                .listen(backlog)
                .map_err(|err| io_error("listen on", Local(&self.inner), &err));
        };
        policy.check_listen(&local).map_err(denied)?;
        self.inner
            .listen(backlog)
            .map_err(|err| io_error("listen on", local, &err))
    }

    /// `accept`: the next connection and its peer's address.
    pub(crate) fn accept(&self) -> Result<(Socket, Address), Error> {
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        let (conn, peer) = retry(|| self.inner.accept4(flags))
            .map_err(|err| io_error("accept on", Local(&self.inner), &err))?;
        let mut conn = Socket::new(conn, self.family);
        conn.peer = peer.as_socket();
        conn.accepted = true;
        Ok((conn, address::from_native(&peer)))
    }

    /// `connect`, if the policy allows connecting there.
    pub(crate) fn connect(&mut self, policy: &Policy, addr: Address) -> Result<(), Error> {
        let addr = match addr {
            Address::Unix(path) => {
                return unix::connect(&self.inner, self.family, policy, &path);
            }
            Address::Inet(text) => address::parse_inet("connect", &text)?,
        };
        address::check_family("connect", self.family, &addr)?;
        let allowed = if self.datagram {
            policy.check_udp_send(&addr)
        } else {
            policy.check_connect(&addr)
        };
        allowed.map_err(denied)?;
        self.connecting_to = Some(addr);
        self.peer = Some(addr);
        // A signal during a non-blocking connect leaves it in progress: not retried, the
        // guest sees `in-progress` either way.
        self.inner
            .connect(&SockAddr::from(addr))
            .map_err(|err| match err.raw_os_error() {
                Some(libc::EINTR) => error(ErrorKind::InProgress, String::new()),
                _ => io_error("connect", addr, &err),
            })
    }

    /// `take-error`: the socket's pending error (a connect's outcome), naming the target.
    pub(crate) fn take_error(&self) -> Result<(), Error> {
        match self.inner.take_error() {
            Ok(None) => Ok(()),
            Ok(Some(err)) => Err(match self.connecting_to {
                Some(addr) => io_error("connect", addr, &err),
                None => io_error_untargeted("socket error", &err),
            }),
            Err(err) => Err(io_error_untargeted("take-error", &err)),
        }
    }

    /// `recv`: at most `max_len` bytes (and at most [`MAX_RECV`]).
    pub(crate) fn recv(&self, max_len: u32) -> Result<Vec<u8>, Error> {
        let max_len = (max_len as usize).min(MAX_RECV);
        let read = recv(&self.inner, max_len);
        if !self.datagram {
            // End of stream (an empty read) is not "emptied": a level-triggered reader
            // is told again, as asyncio's selector would.
            match &read {
                Ok(data) if !data.is_empty() && data.len() < max_len => self.drained.note(),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => self.drained.note(),
                _ => {}
            }
        }
        read.map_err(|err| io_error("recv from", Peer(self.peer, &self.inner), &err))
    }

    /// `send`: what the kernel takes of `data`.
    pub(crate) fn send(&self, data: &[u8]) -> Result<u32, Error> {
        match send(&self.inner, data) {
            // A wasm32 guest cannot pass more than 4 GiB, so this always fits.
            Ok(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(err) => Err(io_error("send to", Peer(self.peer, &self.inner), &err)),
        }
    }

    /// `shutdown`.
    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> Result<(), Error> {
        self.inner
            .shutdown(how)
            .map_err(|err| io_error("shutdown", Peer(self.peer, &self.inner), &err))
    }

    pub(crate) fn set_option(&self, opt: SocketOption) -> Result<(), Error> {
        options::set(&self.inner, opt)
    }

    pub(crate) fn get_option(&self, name: OptionName) -> Result<SocketOption, Error> {
        options::get(&self.inner, name)
    }

    pub(crate) fn local_address(&self) -> Result<Address, Error> {
        local_address(&self.inner)
    }

    pub(crate) fn peer_address(&self) -> Result<Address, Error> {
        peer_address(&self.inner)
    }

    /// `remove-bound-path`: removes the socket file this socket's bind created, if the
    /// path still names it (see `unix.rs`).
    pub(crate) fn remove_bound_path(&self, policy: &Policy) -> Result<bool, Error> {
        unix::remove_bound_path(self.unix_bound.as_ref(), policy)
    }

    /// `source`: a reactor source on the socket's own descriptor, which it shares (no
    /// descriptor of its own: with thousands of instances, a duplicate per source counts).
    pub(crate) fn source(&self) -> Source {
        if self.datagram {
            Source::from_fd(Arc::clone(&self.inner))
        } else {
            Source::from_stream_fd(Arc::clone(&self.inner), Arc::clone(&self.drained))
        }
    }
}

/// The local address of `socket` as the WIT `address`.
pub(crate) fn local_address(socket: &socket2::Socket) -> Result<Address, Error> {
    socket
        .local_addr()
        .map(|addr| address::from_native(&addr))
        .map_err(|err| io_error_untargeted("local-address", &err))
}

/// The peer's address of `socket` as the WIT `address`.
pub(crate) fn peer_address(socket: &socket2::Socket) -> Result<Address, Error> {
    socket
        .peer_addr()
        .map(|addr| address::from_native(&addr))
        .map_err(|err| io_error_untargeted("peer-address", &err))
}
