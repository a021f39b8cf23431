//! The `sandloop:host/net` and `reactor` source bindings, wrapped in the crate's types.
//!
//! Every call returns `crate::Result`: a WIT error of kind `denied` becomes
//! `Error::PermissionDenied` (the host's policy said no), every other kind an `Error::Os`
//! with the matching `io::ErrorKind` and the host's message.

use std::io;
use std::net::SocketAddr;

use super::Written;
use super::bindings::{net, reactor, types};
use super::errors::{Progress, progress, wit_result};
use crate::addresses::{Address, Family, Shutdown, SockOpt, SockOptName, SocketType};
use crate::error::{Error, Result};

pub(crate) fn family_to_wit(f: Family) -> types::AddressFamily {
    match f {
        Family::Inet => types::AddressFamily::Ipv4,
        Family::Inet6 => types::AddressFamily::Ipv6,
        Family::Unix => types::AddressFamily::Unix,
    }
}

pub(crate) fn family_from_wit(f: types::AddressFamily) -> Family {
    match f {
        types::AddressFamily::Ipv4 => Family::Inet,
        types::AddressFamily::Ipv6 => Family::Inet6,
        types::AddressFamily::Unix => Family::Unix,
    }
}

pub(crate) fn type_to_wit(t: SocketType) -> net::SocketType {
    match t {
        SocketType::Stream => net::SocketType::Stream,
        SocketType::Datagram => net::SocketType::Datagram,
    }
}

pub(crate) fn type_from_wit(t: net::SocketType) -> SocketType {
    match t {
        net::SocketType::Stream => SocketType::Stream,
        net::SocketType::Datagram => SocketType::Datagram,
    }
}

pub(crate) fn address_to_wit(addr: &Address) -> types::Address {
    match addr {
        Address::Inet(sa) => types::Address::Inet(sa.to_string()),
        Address::Unix(path) => types::Address::Unix(path.clone()),
    }
}

pub(crate) fn address_from_wit(addr: types::Address) -> Result<Address> {
    match addr {
        types::Address::Inet(s) => s.parse::<SocketAddr>().map(Address::Inet).map_err(|_| {
            Error::Os(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the host returned a malformed address: {s:?}"),
            ))
        }),
        types::Address::Unix(path) => Ok(Address::Unix(path)),
    }
}

fn option_to_wit(opt: SockOpt) -> net::SocketOption {
    match opt {
        SockOpt::NoDelay(v) => net::SocketOption::NoDelay(v),
        SockOpt::KeepAlive(v) => net::SocketOption::KeepAlive(v),
        SockOpt::ReuseAddress(v) => net::SocketOption::ReuseAddress(v),
        SockOpt::ReusePort(v) => net::SocketOption::ReusePort(v),
        SockOpt::RecvBufferSize(v) => net::SocketOption::RecvBufferSize(v),
        SockOpt::SendBufferSize(v) => net::SocketOption::SendBufferSize(v),
        SockOpt::Broadcast(v) => net::SocketOption::Broadcast(v),
    }
}

fn option_from_wit(opt: net::SocketOption) -> SockOpt {
    match opt {
        net::SocketOption::NoDelay(v) => SockOpt::NoDelay(v),
        net::SocketOption::KeepAlive(v) => SockOpt::KeepAlive(v),
        net::SocketOption::ReuseAddress(v) => SockOpt::ReuseAddress(v),
        net::SocketOption::ReusePort(v) => SockOpt::ReusePort(v),
        net::SocketOption::RecvBufferSize(v) => SockOpt::RecvBufferSize(v),
        net::SocketOption::SendBufferSize(v) => SockOpt::SendBufferSize(v),
        net::SocketOption::Broadcast(v) => SockOpt::Broadcast(v),
    }
}

fn option_name_to_wit(name: SockOptName) -> net::OptionName {
    match name {
        SockOptName::NoDelay => net::OptionName::NoDelay,
        SockOptName::KeepAlive => net::OptionName::KeepAlive,
        SockOptName::ReuseAddress => net::OptionName::ReuseAddress,
        SockOptName::ReusePort => net::OptionName::ReusePort,
        SockOptName::RecvBufferSize => net::OptionName::RecvBufferSize,
        SockOptName::SendBufferSize => net::OptionName::SendBufferSize,
        SockOptName::Broadcast => net::OptionName::Broadcast,
    }
}

/// A host socket (`net.socket`).
pub(crate) struct HostSocket(net::Socket);

impl HostSocket {
    pub(crate) fn create(family: Family, ty: SocketType) -> Result<HostSocket> {
        wit_result(net::Socket::create(family_to_wit(family), type_to_wit(ty))).map(HostSocket)
    }

    pub(crate) fn pair() -> Result<(HostSocket, HostSocket)> {
        let (a, b) = wit_result(net::socketpair())?;
        Ok((HostSocket(a), HostSocket(b)))
    }

    pub(crate) fn family(&self) -> Family {
        family_from_wit(self.0.family())
    }

    pub(crate) fn socket_type(&self) -> SocketType {
        type_from_wit(self.0.socket_type())
    }

    pub(crate) fn bind(&self, addr: &Address) -> Result<()> {
        wit_result(self.0.bind(&address_to_wit(addr)))
    }

    pub(crate) fn listen(&self, backlog: u32) -> Result<()> {
        wit_result(self.0.listen(backlog))
    }

    pub(crate) fn accept(&self) -> Result<Progress<(HostSocket, Address)>> {
        match progress(self.0.accept())? {
            Progress::Done((sock, addr)) => {
                Ok(Progress::Done((HostSocket(sock), address_from_wit(addr)?)))
            }
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Starts a connect: `Done` when it completed at once (unix sockets), `Pending` when the
    /// socket must become writable first (then call `take_error`).
    pub(crate) fn connect(&self, addr: &Address) -> Result<Progress<()>> {
        progress(self.0.connect(&address_to_wit(addr)))
    }

    pub(crate) fn take_error(&self) -> Result<()> {
        wit_result(self.0.take_error())
    }

    pub(crate) fn recv(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        progress(self.0.recv(u32::try_from(max).unwrap_or(u32::MAX)))
    }

    pub(crate) fn send(&self, data: &[u8]) -> Result<Progress<usize>> {
        // A partial send, as the kernel may make one anyway (see `MAX_SEND`).
        let data = &data[..data.len().min(super::MAX_SEND)];
        match progress(self.0.send(data))? {
            Progress::Done(n) => Ok(Progress::Done(n as usize)),
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Reads one datagram and its sender (datagram sockets).
    pub(crate) fn recv_from(&self, max: usize) -> Result<Progress<(Vec<u8>, Address)>> {
        match progress(self.0.recv_from(u32::try_from(max).unwrap_or(u32::MAX)))? {
            Progress::Done((data, from)) => Ok(Progress::Done((data, address_from_wit(from)?))),
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Sends one datagram to `addr` (datagram sockets).
    pub(crate) fn send_to(&self, data: &[u8], addr: &Address) -> Result<Progress<usize>> {
        match progress(self.0.send_to(data, &address_to_wit(addr)))? {
            Progress::Done(n) => Ok(Progress::Done(n as usize)),
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        let how = match how {
            Shutdown::Read => net::ShutdownHow::Read,
            Shutdown::Write => net::ShutdownHow::Write,
            Shutdown::Both => net::ShutdownHow::Both,
        };
        wit_result(self.0.shutdown(how))
    }

    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        wit_result(self.0.set_option(option_to_wit(opt)))
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        wit_result(self.0.get_option(option_name_to_wit(name))).map(option_from_wit)
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        address_from_wit(wit_result(self.0.local_address())?)
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        address_from_wit(wit_result(self.0.peer_address())?)
    }

    /// Removes the socket file this socket's bind created, unless it was replaced.
    pub(crate) fn remove_bound_path(&self) -> Result<bool> {
        wit_result(self.0.remove_bound_path())
    }

    pub(crate) fn source(&self) -> Result<HostSource> {
        wit_result(self.0.source()).map(HostSource)
    }

    /// Hands the socket to the host for completion-mode I/O under `token`.
    /// One non-blocking `sendfile(2)` of at most `count` bytes of `file` from `offset`:
    /// what the kernel took (0 at the end of the file), or `Pending`.
    pub(crate) fn send_file(
        &self,
        file: &super::files::HostFile,
        offset: u64,
        count: u64,
    ) -> Result<Progress<u64>> {
        progress(self.0.send_file(file.descriptor(), offset, count))
    }

    pub(crate) fn into_stream(self, token: u64, read_budget: u32) -> Result<HostStream> {
        let stream = wit_result(net::Stream::open(self.0, token, read_budget))?;
        let id = stream.id();
        Ok(HostStream { stream, id })
    }
}

/// Removes `path` if it is a stale unix socket file; `true` when it did.
pub(crate) fn remove_stale_socket_file(path: &[u8]) -> Result<bool> {
    wit_result(net::remove_stale_socket_file(path))
}

/// A reactor source (`reactor.source`): a socket's readiness, watched under a token.
pub(crate) struct HostSource(reactor::Source);

fn interest(readable: bool, writable: bool) -> reactor::Interest {
    let mut i = reactor::Interest::empty();
    if readable {
        i |= reactor::Interest::READABLE;
    }
    if writable {
        i |= reactor::Interest::WRITABLE;
    }
    i
}

fn reactor_error(op: &str, e: reactor::ErrorCode) -> Error {
    Error::Os(io::Error::other(format!("reactor {op} failed: {e:?}")))
}

impl HostSource {
    /// Wraps a source another interface handed out (a pipe end's).
    pub(crate) fn from_wit(source: reactor::Source) -> HostSource {
        HostSource(source)
    }

    /// Registers or re-registers the source for hang-ups only (a pipe's write end whose
    /// reader may close), the kernel reporting them unasked.
    pub(crate) fn watch_hangup(&self, registered: bool, token: u64) -> Result<()> {
        let want = reactor::Interest::HANGUP;
        if registered {
            reactor::reregister(&self.0, token, want).map_err(|e| reactor_error("reregister", e))
        } else {
            reactor::register(&self.0, token, want).map_err(|e| reactor_error("register", e))
        }
    }

    /// Registers, re-registers or (with neither direction) deregisters the source.
    pub(crate) fn watch(
        &self,
        registered: bool,
        token: u64,
        readable: bool,
        writable: bool,
    ) -> Result<()> {
        if !readable && !writable {
            if registered {
                reactor::deregister(&self.0).map_err(|e| reactor_error("deregister", e))?;
            }
            return Ok(());
        }
        let want = interest(readable, writable);
        if registered {
            reactor::reregister(&self.0, token, want).map_err(|e| reactor_error("reregister", e))
        } else {
            reactor::register(&self.0, token, want).map_err(|e| reactor_error("register", e))
        }
    }
}

/// A stream in the host's completion mode (`net.stream`).
pub(crate) struct HostStream {
    stream: net::Stream,
    /// The host's number for the stream in the reactor's batched writes.
    id: u32,
}

impl HostStream {
    /// Wraps a stream another interface opened (a pipe end's).
    pub(crate) fn from_wit(stream: net::Stream) -> HostStream {
        let id = stream.id();
        HostStream { stream, id }
    }

    /// The WIT resource, for the other interfaces that take a stream (`tls`).
    pub(crate) fn wit(&self) -> &net::Stream {
        &self.stream
    }

    /// The host's number for the stream in the writes a wait does (`host::Writes`).
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// Sends or buffers `data`: what the host took of it (all, unless its limit on
    /// buffered bytes was reached) and the bytes it buffers afterwards. Handed over in
    /// parts of at most [`super::MAX_HOST_COPY`] bytes, up to the first the host cuts short.
    pub(crate) fn write(&self, data: &[u8]) -> Result<Written> {
        let mut written = Written {
            taken: 0,
            buffered: 0,
        };
        for part in data.chunks(super::MAX_HOST_COPY) {
            let w = wit_result(self.stream.write(part))?;
            written.taken += w.taken as usize;
            written.buffered = w.buffered;
            if (w.taken as usize) < part.len() {
                break;
            }
        }
        Ok(written)
    }

    /// The bytes the host buffers now (with TLS, the records not yet on the wire too).
    pub(crate) fn write_buffered(&self) -> u64 {
        self.stream.write_buffered()
    }

    pub(crate) fn write_eof(&self) -> Result<()> {
        wit_result(self.stream.write_eof())
    }

    /// Queues `count` bytes of `file` from `offset` behind what is buffered; returns the
    /// bytes that will be sent (`count` clamped to the file's size) and the bytes the
    /// host buffers afterwards.
    pub(crate) fn send_file(
        &self,
        file: &super::files::HostFile,
        offset: u64,
        count: u64,
    ) -> Result<(u64, u64)> {
        let count = wit_result(self.stream.send_file(file.descriptor(), offset, count))?;
        Ok((count, self.stream.write_buffered()))
    }

    pub(crate) fn set_reading(&self, on: bool) -> Result<()> {
        wit_result(self.stream.set_reading(on))
    }

    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        wit_result(self.stream.set_option(option_to_wit(opt)))
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        wit_result(self.stream.get_option(option_name_to_wit(name))).map(option_from_wit)
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        address_from_wit(wit_result(self.stream.local_address())?)
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        address_from_wit(wit_result(self.stream.peer_address())?)
    }
}
