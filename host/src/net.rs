//! Sockets: the host side of the WIT interface `sandloop:host/net`.
//!
//! A [`Socket`] wraps a non-blocking, close-on-exec `socket2::Socket`; the guest drives it
//! in readiness mode (register `socket.source()` with
//! the reactor, then `recv`/`send`), or hands it over to a [`Stream`], whose I/O the host
//! does itself (completion mode, see [`stream`]).
//!
//! `send-file` sends a file of the workload's preopened directories with `sendfile(2)`
//! (`net/sendfile.rs`): once per call on a socket, queued behind the buffered bytes on a
//! stream.
//!
//! Every `bind`, `listen` and `connect` (and a datagram socket's every `send-to`, see
//! `net/datagram.rs`) passes the workload's [`Policy`] first; a denial is
//! an error of kind `denied` that names the operation and the address, and an audit line
//! in the host log. Unix socket paths and abstract names are checked against the policy's
//! unix rules (see [`unix`]); `socketpair` needs no grant (it reaches nothing outside the
//! workload).

mod address;
mod datagram;
mod options;
mod sendfile;
pub mod stream;
mod unix;

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use socket2::{Domain, SockAddr, Type};
use wasmtime::component::Resource;

use crate::bindings::net::{self as wit, OptionName, ShutdownHow, SocketOption, SocketType};
use crate::bindings::types::{Address, AddressFamily, Error, ErrorKind};
use crate::error::{error, io_error, io_error_untargeted};
use crate::reactor::Source;
use crate::state::NetView;

use address::{Local, Peer};
pub use datagram::MAX_DATAGRAM;
pub use stream::Stream;

#[cfg(test)]
mod tests;

/// The most one `recv` returns: a hostile guest must not make the host allocate gigabytes
/// by asking for them.
pub const MAX_RECV: usize = 1 << 20;

/// A non-blocking socket of a workload: the WIT `net.socket`.
///
/// Created by the guest through `socket.create`, `accept` or `socketpair`; closed when the
/// guest drops its handle (a [`Source`] made from it holds a duplicate of the descriptor,
/// so the connection stays open until both are gone).
pub struct Socket {
    inner: socket2::Socket,
    family: AddressFamily,
    /// Where the last `connect` went, so `take-error` can name it.
    connecting_to: Option<SocketAddr>,
    /// The peer, as `connect` or `accept` learned it, for error messages.
    peer: Option<SocketAddr>,
    /// Made by `accept`: connected once, even if its peer has reset it since.
    accepted: bool,
    /// The socket file this socket's `bind` created, for `remove-bound-path`.
    unix_bound: Option<unix::BoundFile>,
    /// A datagram socket: checked against the udp rules; `recv-from`/`send-to` allowed.
    datagram: bool,
}

impl Socket {
    pub(crate) fn new(inner: socket2::Socket, family: AddressFamily) -> Socket {
        Socket {
            inner,
            family,
            connecting_to: None,
            peer: None,
            accepted: false,
            unix_bound: None,
            datagram: false,
        }
    }

    /// The socket itself, its peer, and whether `accept` made it, for a [`Stream`] that
    /// takes it over.
    fn into_parts(self) -> (socket2::Socket, Option<SocketAddr>, bool) {
        (self.inner, self.peer, self.accepted)
    }
}

/// Retries a syscall that a signal interrupted (the instance's thread may receive
/// signals meant for the process).
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Sends what the kernel takes of `data`, without raising SIGPIPE when the peer is gone
/// (that would kill the whole host; EPIPE is reported instead).
pub(crate) fn send(socket: &socket2::Socket, data: &[u8]) -> io::Result<usize> {
    retry(|| socket.send_with_flags(data, libc::MSG_NOSIGNAL))
}

/// Reads at most `max_len` bytes into a vector of that capacity, once.
fn recv(socket: &socket2::Socket, max_len: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(max_len);
    let n = retry(|| socket.recv(data.spare_capacity_mut()))?;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
    unsafe { data.set_len(n) };
    Ok(data)
}

/// Reads into the spare capacity of `data`, at most `max` bytes, and extends its length.
pub(crate) fn recv_into(
    socket: &socket2::Socket,
    data: &mut Vec<u8>,
    max: usize,
) -> io::Result<usize> {
    let spare: &mut [MaybeUninit<u8>] = data.spare_capacity_mut();
    let len = spare.len().min(max);
    let n = retry(|| socket.recv(&mut spare[..len]))?;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
    unsafe { data.set_len(data.len() + n) };
    Ok(n)
}

fn denied(denial: crate::policy::Denied) -> Error {
    error(ErrorKind::Denied, denial.to_string())
}

impl wit::Host for NetView<'_> {
    fn socketpair(
        &mut self,
    ) -> wasmtime::Result<Result<(Resource<Socket>, Resource<Socket>), Error>> {
        // Room for both ends before making either.
        if let Err(err) =
            crate::limits::check_room(self.table, &self.policy.limits, "socketpair", 2)
        {
            return Ok(Err(err));
        }
        // `pair` sets close-on-exec; both ends are non-blocking from the start.
        let (a, b) = match socket2::Socket::pair(Domain::UNIX, Type::STREAM.nonblocking(), None) {
            Ok(pair) => pair,
            Err(err) => return Ok(Err(io_error_untargeted("socketpair", &err))),
        };
        let a = self.table.push(Socket::new(a, AddressFamily::Unix))?;
        let b = self.table.push(Socket::new(b, AddressFamily::Unix))?;
        Ok(Ok((a, b)))
    }

    fn remove_stale_socket_file(&mut self, path: Vec<u8>) -> wasmtime::Result<Result<bool, Error>> {
        Ok(unix::remove_stale_socket_file(self.policy, &path))
    }
}

impl wit::HostSocket for NetView<'_> {
    fn create(
        &mut self,
        family: AddressFamily,
        type_: SocketType,
    ) -> wasmtime::Result<Result<Resource<Socket>, Error>> {
        let domain = match family {
            AddressFamily::Ipv4 => Domain::IPV4,
            AddressFamily::Ipv6 => Domain::IPV6,
            AddressFamily::Unix => Domain::UNIX,
        };
        let ty = match type_ {
            SocketType::Stream => Type::STREAM,
            SocketType::Datagram => Type::DGRAM,
        };
        if let Err(err) =
            crate::limits::check_room(self.table, &self.policy.limits, "create socket", 1)
        {
            return Ok(Err(err));
        }
        // socket2 sets close-on-exec on every socket it creates.
        let inner = match socket2::Socket::new(domain, ty.nonblocking(), None) {
            Ok(inner) => inner,
            Err(err) => {
                let what = address::family_name(family);
                return Ok(Err(io_error("create", format_args!("{what} socket"), &err)));
            }
        };
        if family == AddressFamily::Ipv6 {
            // As asyncio does for servers: an IPv6 socket is IPv6 only, so that listening
            // on `::` and on `0.0.0.0` side by side works, and so that the policy sees
            // IPv4 peers as IPv4 addresses, never as mapped IPv6 ones.
            if let Err(err) = inner.set_only_v6(true) {
                return Ok(Err(io_error_untargeted("create: set IPV6_V6ONLY", &err)));
            }
        }
        let mut socket = Socket::new(inner, family);
        socket.datagram = type_ == SocketType::Datagram;
        Ok(Ok(self.table.push(socket)?))
    }

    fn family(&mut self, self_: Resource<Socket>) -> wasmtime::Result<AddressFamily> {
        Ok(self.table.get(&self_)?.family)
    }

    fn socket_type(&mut self, self_: Resource<Socket>) -> wasmtime::Result<SocketType> {
        Ok(match self.table.get(&self_)?.datagram {
            true => SocketType::Datagram,
            false => SocketType::Stream,
        })
    }

    fn bind(
        &mut self,
        self_: Resource<Socket>,
        addr: Address,
    ) -> wasmtime::Result<Result<(), Error>> {
        let socket = self.table.get_mut(&self_)?;
        let addr = match addr {
            Address::Unix(path) => return Ok(unix::bind(self.policy, socket, &path)),
            Address::Inet(text) => match address::parse_inet("bind", &text) {
                Ok(addr) => addr,
                Err(err) => return Ok(Err(err)),
            },
        };
        if let Err(err) = address::check_family("bind", socket.family, &addr) {
            return Ok(Err(err));
        }
        let allowed = if socket.datagram {
            self.policy.check_udp_bind(&addr)
        } else {
            self.policy.check_bind(&addr)
        };
        if let Err(denial) = allowed {
            return Ok(Err(denied(denial)));
        }
        Ok(socket
            .inner
            .bind(&SockAddr::from(addr))
            .map_err(|err| io_error("bind", addr, &err)))
    }

    fn listen(
        &mut self,
        self_: Resource<Socket>,
        backlog: u32,
    ) -> wasmtime::Result<Result<(), Error>> {
        let socket = self.table.get(&self_)?;
        let local = match socket.inner.local_addr() {
            Ok(local) => local,
            Err(err) => return Ok(Err(io_error_untargeted("listen", &err))),
        };
        // An unbound socket listens on the address the kernel picks (any address, a free
        // port): that is what the policy sees.
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        let Some(local) = local.as_socket() else {
            if let Err(err) = unix::check_listen(self.policy, &local) {
                return Ok(Err(err));
            }
            return Ok(socket
                .inner
                .listen(backlog)
                .map_err(|err| io_error("listen on", Local(&socket.inner), &err)));
        };
        if let Err(denial) = self.policy.check_listen(&local) {
            return Ok(Err(denied(denial)));
        }
        Ok(socket
            .inner
            .listen(backlog)
            .map_err(|err| io_error("listen on", local, &err)))
    }

    fn accept(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<(Resource<Socket>, Address), Error>> {
        // Checked before accepting: at the limit the connection stays in the backlog,
        // for an accept once the guest has closed something.
        if let Err(err) = crate::limits::check_room(self.table, &self.policy.limits, "accept", 1) {
            return Ok(Err(err));
        }
        let socket = self.table.get(&self_)?;
        let family = socket.family;
        let flags = libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
        let (conn, peer) = match retry(|| socket.inner.accept4(flags)) {
            Ok(accepted) => accepted,
            Err(err) => return Ok(Err(io_error("accept on", Local(&socket.inner), &err))),
        };
        let mut conn = Socket::new(conn, family);
        conn.peer = peer.as_socket();
        conn.accepted = true;
        let conn = self.table.push(conn)?;
        Ok(Ok((conn, address::to_wit(&peer))))
    }

    fn connect(
        &mut self,
        self_: Resource<Socket>,
        addr: Address,
    ) -> wasmtime::Result<Result<(), Error>> {
        let socket = self.table.get_mut(&self_)?;
        let addr = match addr {
            Address::Unix(path) => return Ok(unix::connect(self.policy, socket, &path)),
            Address::Inet(text) => match address::parse_inet("connect", &text) {
                Ok(addr) => addr,
                Err(err) => return Ok(Err(err)),
            },
        };
        if let Err(err) = address::check_family("connect", socket.family, &addr) {
            return Ok(Err(err));
        }
        let allowed = if socket.datagram {
            self.policy.check_udp_send(&addr)
        } else {
            self.policy.check_connect(&addr)
        };
        if let Err(denial) = allowed {
            return Ok(Err(denied(denial)));
        }
        socket.connecting_to = Some(addr);
        socket.peer = Some(addr);
        // A signal during a non-blocking connect leaves it in progress: not retried, the
        // guest sees `in-progress` either way.
        Ok(socket
            .inner
            .connect(&SockAddr::from(addr))
            .map_err(|err| match err.raw_os_error() {
                Some(libc::EINTR) => error(ErrorKind::InProgress, String::new()),
                _ => io_error("connect", addr, &err),
            }))
    }

    fn take_error(&mut self, self_: Resource<Socket>) -> wasmtime::Result<Result<(), Error>> {
        let socket = self.table.get(&self_)?;
        Ok(match socket.inner.take_error() {
            Ok(None) => Ok(()),
            Ok(Some(err)) => Err(match socket.connecting_to {
                Some(addr) => io_error("connect", addr, &err),
                None => io_error_untargeted("socket error", &err),
            }),
            Err(err) => Err(io_error_untargeted("take-error", &err)),
        })
    }

    fn recv(
        &mut self,
        self_: Resource<Socket>,
        max_len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let socket = self.table.get(&self_)?;
        let max_len = (max_len as usize).min(MAX_RECV);
        Ok(recv(&socket.inner, max_len)
            .map_err(|err| io_error("recv from", Peer(socket.peer, &socket.inner), &err)))
    }

    fn send(
        &mut self,
        self_: Resource<Socket>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let socket = self.table.get(&self_)?;
        Ok(match send(&socket.inner, &data) {
            // A wasm32 guest cannot pass more than 4 GiB, so this always fits.
            Ok(n) => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
            Err(err) => Err(io_error("send to", Peer(socket.peer, &socket.inner), &err)),
        })
    }

    fn recv_from(
        &mut self,
        self_: Resource<Socket>,
        max_len: u32,
    ) -> wasmtime::Result<Result<(Vec<u8>, Address), Error>> {
        Ok(datagram::recv_from(self.table.get(&self_)?, max_len))
    }

    fn send_to(
        &mut self,
        self_: Resource<Socket>,
        data: Vec<u8>,
        addr: Address,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let socket = self.table.get(&self_)?;
        Ok(datagram::send_to(socket, self.policy, &data, addr))
    }

    fn send_file(
        &mut self,
        self_: Resource<Socket>,
        file: Resource<wasmtime_wasi::filesystem::Descriptor>,
        offset: u64,
        count: u64,
    ) -> wasmtime::Result<Result<u64, Error>> {
        sendfile::socket_send_file(self.table, &self_, &file, offset, count)
    }

    fn shutdown(
        &mut self,
        self_: Resource<Socket>,
        how: ShutdownHow,
    ) -> wasmtime::Result<Result<(), Error>> {
        let socket = self.table.get(&self_)?;
        let how = match how {
            ShutdownHow::Read => std::net::Shutdown::Read,
            ShutdownHow::Write => std::net::Shutdown::Write,
            ShutdownHow::Both => std::net::Shutdown::Both,
        };
        Ok(socket
            .inner
            .shutdown(how)
            .map_err(|err| io_error("shutdown", Peer(socket.peer, &socket.inner), &err)))
    }

    fn set_option(
        &mut self,
        self_: Resource<Socket>,
        opt: SocketOption,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(options::set(&self.table.get(&self_)?.inner, opt))
    }

    fn get_option(
        &mut self,
        self_: Resource<Socket>,
        name: OptionName,
    ) -> wasmtime::Result<Result<SocketOption, Error>> {
        Ok(options::get(&self.table.get(&self_)?.inner, name))
    }

    fn local_address(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(local_address(&self.table.get(&self_)?.inner))
    }

    fn peer_address(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Address, Error>> {
        Ok(peer_address(&self.table.get(&self_)?.inner))
    }

    fn source(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<Resource<Source>, Error>> {
        let socket = self.table.get(&self_)?;
        // `try_clone` duplicates the descriptor with close-on-exec set.
        let dup = match socket.inner.try_clone() {
            Ok(dup) => dup,
            Err(err) => {
                return Ok(Err(io_error_untargeted(
                    "source: duplicate the socket",
                    &err,
                )));
            }
        };
        let source = Source::from_fd(OwnedFd::from(dup));
        crate::limits::push_limited(self.table, &self.policy.limits, "source", source)
    }

    fn remove_bound_path(
        &mut self,
        self_: Resource<Socket>,
    ) -> wasmtime::Result<Result<bool, Error>> {
        Ok(unix::remove_bound_path(
            self.policy,
            self.table.get(&self_)?,
        ))
    }

    fn drop(&mut self, rep: Resource<Socket>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

/// The local address of `socket` as the WIT `address`.
pub(crate) fn local_address(socket: &socket2::Socket) -> Result<Address, Error> {
    socket
        .local_addr()
        .map(|addr| address::to_wit(&addr))
        .map_err(|err| io_error_untargeted("local-address", &err))
}

/// The peer's address of `socket` as the WIT `address`.
pub(crate) fn peer_address(socket: &socket2::Socket) -> Result<Address, Error> {
    socket
        .peer_addr()
        .map(|addr| address::to_wit(&addr))
        .map_err(|err| io_error_untargeted("peer-address", &err))
}
