//! Sockets over `wasi:sockets` (TCP in `tcp.rs`, UDP in `udp.rs`), wrapped in the crate's
//! types: the same surface as the sandloop host's `sys/net.rs`, so `net::Socket`, the
//! transports, the servers and the datagram endpoints use either backend alike.
//!
//! A socket is shared (`Rc`) by its `HostSocket` and its reactor registrations, so the
//! resource outlives the pollables made from it, as WASI requires of a resource's
//! children.

use std::io;
use std::rc::Rc;

use super::bindings::network::IpAddressFamily;
use super::errors::{Progress, unsupported};
use super::files::HostFile;
use super::network::NO_UNIX;
use super::poll::{self, Watched};
use super::tcp::Tcp;
use super::udp::Udp;
use crate::addresses::{Address, Family, Shutdown, SockOpt, SockOptName, SocketType};
use crate::error::{Error, Result};
use crate::sys::Written;

/// A socket of `wasi:sockets`: TCP (`tcp.rs`) or UDP (`udp.rs`), shared (`Rc`) with its
/// reactor registrations.
pub(crate) struct HostSocket(Kind);

enum Kind {
    Tcp(Rc<Tcp>),
    Udp(Rc<Udp>),
}

fn not_a_stream(op: &str) -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{op}: not a stream socket"),
    ))
}

impl HostSocket {
    pub(crate) fn create(family: Family, ty: SocketType) -> Result<HostSocket> {
        let wasi_family = match family {
            Family::Inet => IpAddressFamily::Ipv4,
            Family::Inet6 => IpAddressFamily::Ipv6,
            Family::Unix => return Err(unsupported("socket(AF_UNIX)", NO_UNIX)),
        };
        Ok(HostSocket(match ty {
            SocketType::Stream => Kind::Tcp(Tcp::create(family, wasi_family)?),
            SocketType::Datagram => Kind::Udp(Udp::create(family, wasi_family)?),
        }))
    }

    pub(crate) fn pair() -> Result<(HostSocket, HostSocket)> {
        Err(unsupported("socketpair", NO_UNIX))
    }

    pub(crate) fn family(&self) -> Family {
        match &self.0 {
            Kind::Tcp(s) => s.family,
            Kind::Udp(s) => s.family,
        }
    }

    pub(crate) fn socket_type(&self) -> SocketType {
        match &self.0 {
            Kind::Tcp(_) => SocketType::Stream,
            Kind::Udp(_) => SocketType::Datagram,
        }
    }

    pub(crate) fn bind(&self, addr: &Address) -> Result<()> {
        match &self.0 {
            Kind::Tcp(s) => s.bind(addr),
            Kind::Udp(s) => s.bind(addr),
        }
    }

    pub(crate) fn listen(&self, backlog: u32) -> Result<()> {
        match &self.0 {
            Kind::Tcp(s) => s.listen(backlog),
            Kind::Udp(_) => Err(not_a_stream("listen")),
        }
    }

    pub(crate) fn accept(&self) -> Result<Progress<(HostSocket, Address)>> {
        match &self.0 {
            Kind::Tcp(s) => Ok(match s.accept()? {
                Progress::Done((sock, addr)) => Progress::Done((HostSocket(Kind::Tcp(sock)), addr)),
                Progress::Pending => Progress::Pending,
            }),
            Kind::Udp(_) => Err(not_a_stream("accept")),
        }
    }

    /// Starts a connect: TCP's is always `Pending` (a WASI connect finishes later; the
    /// socket's pollable says when, and `take_error` finishes it); UDP's is `Done`.
    pub(crate) fn connect(&self, addr: &Address) -> Result<Progress<()>> {
        match &self.0 {
            Kind::Tcp(s) => s.connect(addr),
            Kind::Udp(s) => s.connect(addr),
        }
    }

    /// Finishes a TCP connect the socket's readiness said is done (the `SO_ERROR` of the
    /// sandloop host's sockets).
    pub(crate) fn take_error(&self) -> Result<()> {
        match &self.0 {
            Kind::Tcp(s) => s.take_error(),
            Kind::Udp(_) => Ok(()),
        }
    }

    pub(crate) fn recv(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        match &self.0 {
            Kind::Tcp(s) => s.recv(max),
            Kind::Udp(s) => Ok(match s.recv_from(max)? {
                Progress::Done((data, _)) => Progress::Done(data),
                Progress::Pending => Progress::Pending,
            }),
        }
    }

    pub(crate) fn send(&self, data: &[u8]) -> Result<Progress<usize>> {
        match &self.0 {
            Kind::Tcp(s) => s.send(data),
            Kind::Udp(s) => s.send_to(data, None),
        }
    }

    /// Reads one datagram and its sender (datagram sockets).
    pub(crate) fn recv_from(&self, max: usize) -> Result<Progress<(Vec<u8>, Address)>> {
        match &self.0 {
            Kind::Udp(s) => s.recv_from(max),
            Kind::Tcp(_) => Err(unsupported("recvfrom", "not a datagram socket")),
        }
    }

    /// Sends one datagram to `addr` (datagram sockets).
    pub(crate) fn send_to(&self, data: &[u8], addr: &Address) -> Result<Progress<usize>> {
        match &self.0 {
            Kind::Udp(s) => s.send_to(data, Some(addr)),
            Kind::Tcp(_) => Err(unsupported("sendto", "not a datagram socket")),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        match &self.0 {
            Kind::Tcp(s) => s.shutdown(how),
            Kind::Udp(_) => Err(unsupported("shutdown", "WASI 0.2 has none for UDP")),
        }
    }

    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        match &self.0 {
            Kind::Tcp(s) => s.set_option(opt),
            Kind::Udp(s) => s.set_option(opt),
        }
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        match &self.0 {
            Kind::Tcp(s) => s.get_option(name),
            Kind::Udp(s) => s.get_option(name),
        }
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        match &self.0 {
            Kind::Tcp(s) => s.local_address(),
            Kind::Udp(s) => s.local_address(),
        }
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        match &self.0 {
            Kind::Tcp(s) => s.peer_address(),
            Kind::Udp(s) => s.peer_address(),
        }
    }

    /// No socket file: WASI 0.2 has no unix sockets.
    pub(crate) fn remove_bound_path(&self) -> Result<bool> {
        Ok(false)
    }

    /// A registration with the reactor, watching nothing yet.
    pub(crate) fn source(&self) -> Result<HostSource> {
        let watched: Rc<dyn Watched> = match &self.0 {
            Kind::Tcp(s) => s.clone(),
            Kind::Udp(s) => {
                s.prepare_watch()?;
                s.clone()
            }
        };
        Ok(HostSource::of(watched))
    }

    pub(crate) fn send_file(
        &self,
        file: &HostFile,
        _offset: u64,
        _count: u64,
    ) -> Result<Progress<u64>> {
        file.never()
    }

    /// The sandloop host's completion mode: not in the portable build (its loops stream
    /// in readiness mode).
    pub(crate) fn into_stream(self, _token: u64, _read_budget: u32) -> Result<HostStream> {
        Err(unsupported(
            "completion-mode stream",
            "only the sandloop host's reactor has them",
        ))
    }
}

/// No socket file can be stale: WASI 0.2 has no unix sockets.
pub(crate) fn remove_stale_socket_file(_path: &[u8]) -> Result<bool> {
    Err(unsupported("unix socket path", NO_UNIX))
}

/// A registration with the portable reactor (`poll.rs`): a socket's readiness, watched
/// under a token. Dropping it forgets the registration and its pollables.
pub(crate) struct HostSource {
    key: usize,
}

impl HostSource {
    /// A registration of `resource` (a socket, a lookup's answer).
    pub(crate) fn of(resource: Rc<dyn Watched>) -> HostSource {
        HostSource {
            key: poll::register(resource),
        }
    }

    /// Reports the next readiness of the source under `token`, once.
    pub(crate) fn watch_once(&self, token: u64) {
        poll::set_interest(self.key, token, true, false, true);
    }

    /// Hang-ups only (a pipe's write end): no source here has them.
    pub(crate) fn watch_hangup(&self, _registered: bool, _token: u64) -> Result<()> {
        Ok(())
    }

    /// Watches, re-watches or (with neither direction) stops watching the source.
    pub(crate) fn watch(
        &self,
        _registered: bool,
        token: u64,
        readable: bool,
        writable: bool,
    ) -> Result<()> {
        poll::set_interest(self.key, token, readable, writable, false);
        Ok(())
    }
}

impl Drop for HostSource {
    fn drop(&mut self) {
        poll::deregister(self.key);
    }
}

/// The sandloop host's completion-mode stream: never made in the portable build (see
/// [`HostSocket::into_stream`]), so none of its methods can be reached.
pub(crate) struct HostStream {
    never: std::convert::Infallible,
}

impl HostStream {
    pub(crate) fn id(&self) -> u32 {
        match self.never {}
    }

    pub(crate) fn write(&self, _data: &[u8]) -> Result<Written> {
        match self.never {}
    }

    pub(crate) fn write_buffered(&self) -> u64 {
        match self.never {}
    }

    pub(crate) fn write_eof(&self) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn send_file(
        &self,
        _file: &HostFile,
        _offset: u64,
        _count: u64,
    ) -> Result<(u64, u64)> {
        match self.never {}
    }

    pub(crate) fn set_reading(&self, _on: bool) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn set_option(&self, _opt: SockOpt) -> Result<()> {
        match self.never {}
    }

    pub(crate) fn get_option(&self, _name: SockOptName) -> Result<SockOpt> {
        match self.never {}
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        match self.never {}
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        match self.never {}
    }
}
