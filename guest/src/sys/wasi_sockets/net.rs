//! Sockets over `wasi:sockets` (TCP), wrapped in the crate's types: the same surface as
//! the sandloop host's `sys/net.rs`, so `net::Socket`, the transports and the servers use
//! either backend alike.
//!
//! A WASI TCP socket reads and writes through the input and output streams it hands out
//! once connected (or accepted); its own pollable says a connection is pending or a
//! connect finished. A socket is shared (`Rc`) by its `HostSocket` and its reactor
//! registration, so the resource outlives the pollables made from it, as WASI requires
//! of a resource's children.

use std::cell::{Cell, OnceCell};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::rc::Rc;

use super::bindings::network::{
    IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, Network,
};
use super::bindings::poll::Pollable;
use super::bindings::streams::{InputStream, OutputStream, StreamError};
use super::bindings::tcp::{ShutdownType, TcpSocket};
use super::bindings::{instance_network, tcp_create_socket};
use super::errors::{Progress, error_from_code, error_from_stream, progress, unsupported};
use super::files::HostFile;
use super::poll::{self, Slot, Watched};
use crate::addresses::{Address, Family, Shutdown, SockOpt, SockOptName, SocketType};
use crate::error::{Error, Result};
use crate::sys::Written;

const NO_UNIX: &str = "WASI 0.2 has no unix sockets";
const NO_UDP_YET: &str = "datagram sockets over wasi:sockets/udp are not written yet";

thread_local! {
    /// The instance's network (`wasi:sockets/instance-network`), asked for once.
    static NETWORK: Network = instance_network::instance_network();
}

/// Runs `f` with the instance's network.
pub(crate) fn with_network<T>(f: impl FnOnce(&Network) -> T) -> T {
    NETWORK.with(f)
}

pub(crate) fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: a.port(),
            address: a.ip().octets().into(),
        }),
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

pub(crate) fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(x, y, z, w), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                a.port,
                a.flow_info,
                a.scope_id,
            ))
        }
    }
}

fn inet(op: &str, addr: &Address) -> Result<SocketAddr> {
    match addr {
        Address::Inet(sa) => Ok(*sa),
        Address::Unix(_) => Err(unsupported(op, NO_UNIX)),
    }
}

/// A TCP socket and, once connected, its streams.
struct Tcp {
    /// Declared before `socket`: a resource's children go first.
    streams: OnceCell<(InputStream, OutputStream)>,
    socket: TcpSocket,
    family: Family,
    /// A connect was started and not yet finished.
    connecting: Cell<bool>,
}

impl Watched for Tcp {
    fn slot(&self, readable: bool) -> Slot {
        match (self.streams.get(), readable) {
            (None, _) => Slot::Own,
            (Some(_), true) => Slot::Input,
            (Some(_), false) => Slot::Output,
        }
    }

    fn subscribe(&self, slot: Slot) -> Pollable {
        match (slot, self.streams.get()) {
            (Slot::Input, Some((input, _))) => input.subscribe(),
            (Slot::Output, Some((_, output))) => output.subscribe(),
            _ => self.socket.subscribe(),
        }
    }
}

/// A socket of `wasi:sockets` (TCP; datagram sockets are not written yet).
pub(crate) struct HostSocket(Rc<Tcp>);

impl HostSocket {
    pub(crate) fn create(family: Family, ty: SocketType) -> Result<HostSocket> {
        let wasi_family = match family {
            Family::Inet => IpAddressFamily::Ipv4,
            Family::Inet6 => IpAddressFamily::Ipv6,
            Family::Unix => return Err(unsupported("socket(AF_UNIX)", NO_UNIX)),
        };
        if ty == SocketType::Datagram {
            return Err(unsupported("socket(SOCK_DGRAM)", NO_UDP_YET));
        }
        let socket = tcp_create_socket::create_tcp_socket(wasi_family)
            .map_err(|code| error_from_code("socket", code))?;
        Ok(HostSocket::wrap(socket, family, None))
    }

    fn wrap(
        socket: TcpSocket,
        family: Family,
        streams: Option<(InputStream, OutputStream)>,
    ) -> HostSocket {
        let cell = OnceCell::new();
        if let Some(streams) = streams {
            let _ = cell.set(streams);
        }
        HostSocket(Rc::new(Tcp {
            streams: cell,
            socket,
            family,
            connecting: Cell::new(false),
        }))
    }

    pub(crate) fn pair() -> Result<(HostSocket, HostSocket)> {
        Err(unsupported("socketpair", NO_UNIX))
    }

    pub(crate) fn family(&self) -> Family {
        self.0.family
    }

    pub(crate) fn socket_type(&self) -> SocketType {
        SocketType::Stream
    }

    /// Waits (blocking the instance) for a two-phase call's second half: binds and
    /// listens finish at once on the hosts we know, so this rarely waits.
    fn finish<T>(
        &self,
        op: &dyn Fn() -> String,
        mut f: impl FnMut() -> std::result::Result<T, super::bindings::network::ErrorCode>,
    ) -> Result<T> {
        loop {
            match progress(op, f())? {
                Progress::Done(v) => return Ok(v),
                Progress::Pending => self.0.socket.subscribe().block(),
            }
        }
    }

    pub(crate) fn bind(&self, addr: &Address) -> Result<()> {
        let sa = inet("bind", addr)?;
        let op = || format!("bind {sa}");
        with_network(|net| self.0.socket.start_bind(net, to_wasi(sa)))
            .map_err(|code| error_from_code(&op(), code))?;
        self.finish(&op, || self.0.socket.finish_bind())
    }

    pub(crate) fn listen(&self, backlog: u32) -> Result<()> {
        let op = || match self.local_address() {
            Ok(addr) => format!("listen on {addr}"),
            Err(_) => "listen".to_string(),
        };
        // Not every host lets the backlog be set before listening; its default then.
        let _ = self
            .0
            .socket
            .set_listen_backlog_size(u64::from(backlog.max(1)));
        self.0
            .socket
            .start_listen()
            .map_err(|code| error_from_code(&op(), code))?;
        self.finish(&op, || self.0.socket.finish_listen())
    }

    pub(crate) fn accept(&self) -> Result<Progress<(HostSocket, Address)>> {
        match progress(|| "accept".to_string(), self.0.socket.accept())? {
            Progress::Done((socket, input, output)) => {
                let peer = socket
                    .remote_address()
                    .map_err(|code| error_from_code("accept: peer address", code))?;
                let sock = HostSocket::wrap(socket, self.0.family, Some((input, output)));
                Ok(Progress::Done((sock, Address::Inet(from_wasi(peer)))))
            }
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Starts a connect: always `Pending` (a WASI connect finishes later); the socket's
    /// pollable says when, and `take_error` finishes it.
    pub(crate) fn connect(&self, addr: &Address) -> Result<Progress<()>> {
        let sa = inet("connect", addr)?;
        with_network(|net| self.0.socket.start_connect(net, to_wasi(sa)))
            .map_err(|code| error_from_code(&format!("connect {sa}"), code))?;
        self.0.connecting.set(true);
        Ok(Progress::Pending)
    }

    /// Finishes a connect the socket's readiness said is done: `Ok` once connected, its
    /// failure otherwise (the `SO_ERROR` of the sandloop host's sockets).
    pub(crate) fn take_error(&self) -> Result<()> {
        if !self.0.connecting.get() || self.0.streams.get().is_some() {
            return Ok(());
        }
        match self.0.socket.finish_connect() {
            Ok(streams) => {
                self.0.connecting.set(false);
                let _ = self.0.streams.set(streams);
                Ok(())
            }
            Err(code) => {
                if code != super::bindings::network::ErrorCode::WouldBlock {
                    self.0.connecting.set(false);
                }
                // The connect's caller names the address.
                Err(error_from_code("", code))
            }
        }
    }

    fn streams(&self, op: &str) -> Result<&(InputStream, OutputStream)> {
        self.0.streams.get().ok_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("{op}: the socket is not connected"),
            ))
        })
    }

    /// Reads at most `max` bytes: `Done` with them, `Done` with none at the end of the
    /// stream, `Pending` when none are there yet.
    pub(crate) fn recv(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        let (input, _) = self.streams("recv")?;
        match input.read(max as u64) {
            Ok(data) if data.is_empty() && max > 0 => Ok(Progress::Pending),
            Ok(data) => Ok(Progress::Done(data)),
            Err(StreamError::Closed) => Ok(Progress::Done(Vec::new())),
            Err(e) => Err(error_from_stream("recv", e)),
        }
    }

    /// Writes what the output stream takes now (its `check-write` permit), or `Pending`.
    pub(crate) fn send(&self, data: &[u8]) -> Result<Progress<usize>> {
        let (_, output) = self.streams("send")?;
        let permit = match output.check_write() {
            Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Err(e) => return Err(error_from_stream("send", e)),
        };
        if permit == 0 && !data.is_empty() {
            return Ok(Progress::Pending);
        }
        let n = data.len().min(permit).min(crate::sys::MAX_SEND);
        output
            .write(&data[..n])
            .map_err(|e| error_from_stream("send", e))?;
        Ok(Progress::Done(n))
    }

    pub(crate) fn recv_from(&self, _max: usize) -> Result<Progress<(Vec<u8>, Address)>> {
        Err(unsupported("recvfrom", NO_UDP_YET))
    }

    pub(crate) fn send_to(&self, _data: &[u8], _addr: &Address) -> Result<Progress<usize>> {
        Err(unsupported("sendto", NO_UDP_YET))
    }

    /// Shuts a direction down. The write side first waits for what the output stream
    /// still holds to reach the kernel (the host writes in the background; a shutdown
    /// before it finished would cut those bytes off).
    pub(crate) fn shutdown(&self, how: Shutdown) -> Result<()> {
        let kind = match how {
            Shutdown::Read => ShutdownType::Receive,
            Shutdown::Write => ShutdownType::Send,
            Shutdown::Both => ShutdownType::Both,
        };
        if how != Shutdown::Read
            && let Some((_, output)) = self.0.streams.get()
        {
            output
                .blocking_flush()
                .map_err(|e| error_from_stream("shutdown", e))?;
        }
        self.0
            .socket
            .shutdown(kind)
            .map_err(|code| error_from_code("shutdown", code))
    }

    /// Sets an option. WASI 0.2 has no `TCP_NODELAY` and no `SO_REUSEADDR` (hosts set
    /// the address reusable on bind, as wasmtime does): turning either on is accepted and
    /// left to the host; what WASI cannot set is `Unsupported`.
    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        let s = &self.0.socket;
        let r = match opt {
            SockOpt::NoDelay(true) | SockOpt::ReuseAddress(true) => Ok(()),
            SockOpt::KeepAlive(v) => s.set_keep_alive_enabled(v),
            SockOpt::RecvBufferSize(v) => s.set_receive_buffer_size(u64::from(v)),
            SockOpt::SendBufferSize(v) => s.set_send_buffer_size(u64::from(v)),
            other => {
                return Err(unsupported(
                    &format!("setsockopt {other:?}"),
                    "WASI 0.2 has no such TCP option",
                ));
            }
        };
        r.map_err(|code| error_from_code(&format!("setsockopt {opt:?}"), code))
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        let s = &self.0.socket;
        let op = || format!("getsockopt {name:?}");
        let r = match name {
            SockOptName::KeepAlive => s.keep_alive_enabled().map(SockOpt::KeepAlive),
            SockOptName::RecvBufferSize => s
                .receive_buffer_size()
                .map(|v| SockOpt::RecvBufferSize(u32::try_from(v).unwrap_or(u32::MAX))),
            SockOptName::SendBufferSize => s
                .send_buffer_size()
                .map(|v| SockOpt::SendBufferSize(u32::try_from(v).unwrap_or(u32::MAX))),
            _ => return Err(unsupported(&op(), "WASI 0.2 has no such TCP option")),
        };
        r.map_err(|code| error_from_code(&op(), code))
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        self.0
            .socket
            .local_address()
            .map(|a| Address::Inet(from_wasi(a)))
            .map_err(|code| error_from_code("getsockname", code))
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        self.0
            .socket
            .remote_address()
            .map(|a| Address::Inet(from_wasi(a)))
            .map_err(|code| error_from_code("getpeername", code))
    }

    /// No socket file: WASI 0.2 has no unix sockets.
    pub(crate) fn remove_bound_path(&self) -> Result<bool> {
        Ok(false)
    }

    pub(crate) fn source(&self) -> Result<HostSource> {
        let watched: Rc<dyn Watched> = self.0.clone();
        Ok(HostSource {
            key: poll::register(watched),
        })
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
    /// A registration of `resource` (a lookup's answer, say).
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
