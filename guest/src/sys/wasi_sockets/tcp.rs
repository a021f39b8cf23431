//! TCP over `wasi:sockets/tcp`: a socket reads and writes through the input and output
//! streams it hands out once connected (or accepted); its own pollable says a connection
//! is pending or a connect finished. `HostSocket` (`net.rs`) wraps it.

use std::cell::{Cell, OnceCell};
use std::io;
use std::rc::Rc;

use super::bindings::network::{ErrorCode, IpAddressFamily};
use super::bindings::poll::Pollable;
use super::bindings::streams::{InputStream, OutputStream, StreamError};
use super::bindings::tcp::{ShutdownType, TcpSocket};
use super::bindings::tcp_create_socket;
use super::errors::{Progress, error_from_code, error_from_stream, progress, unsupported};
use super::network::{from_wasi, inet, socket_address, to_wasi, with_network};
use super::poll::{Slot, Watched};
use crate::addresses::{Address, Family, Shutdown, SockOpt, SockOptName};
use crate::error::{Error, Result};

/// A TCP socket and, once connected, its streams.
pub(super) struct Tcp {
    /// Declared before `socket`: a resource's children go first.
    streams: OnceCell<(InputStream, OutputStream)>,
    socket: TcpSocket,
    pub(super) family: Family,
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

impl Tcp {
    pub(super) fn create(family: Family, wasi_family: IpAddressFamily) -> Result<Rc<Tcp>> {
        let socket = tcp_create_socket::create_tcp_socket(wasi_family)
            .map_err(|code| error_from_code("socket", code))?;
        Ok(Tcp::wrap(socket, family, None))
    }

    fn wrap(
        socket: TcpSocket,
        family: Family,
        streams: Option<(InputStream, OutputStream)>,
    ) -> Rc<Tcp> {
        let cell = OnceCell::new();
        if let Some(streams) = streams {
            let _ = cell.set(streams);
        }
        Rc::new(Tcp {
            streams: cell,
            socket,
            family,
            connecting: Cell::new(false),
        })
    }

    /// Waits (blocking the instance) for a two-phase call's second half: binds and
    /// listens finish at once on the hosts we know, so this rarely waits.
    fn finish<T>(
        &self,
        op: &dyn Fn() -> String,
        mut f: impl FnMut() -> std::result::Result<T, ErrorCode>,
    ) -> Result<T> {
        loop {
            match progress(op, f())? {
                Progress::Done(v) => return Ok(v),
                Progress::Pending => self.socket.subscribe().block(),
            }
        }
    }

    pub(super) fn bind(&self, addr: &Address) -> Result<()> {
        let sa = inet("bind", addr)?;
        let op = || format!("bind {sa}");
        with_network(|net| self.socket.start_bind(net, to_wasi(sa)))
            .map_err(|code| error_from_code(&op(), code))?;
        self.finish(&op, || self.socket.finish_bind())
    }

    pub(super) fn listen(&self, backlog: u32) -> Result<()> {
        let op = || match self.local_address() {
            Ok(addr) => format!("listen on {addr}"),
            Err(_) => "listen".to_string(),
        };
        // Not every host lets the backlog be set before listening; its default then.
        let _ = self
            .socket
            .set_listen_backlog_size(u64::from(backlog.max(1)));
        self.socket
            .start_listen()
            .map_err(|code| error_from_code(&op(), code))?;
        self.finish(&op, || self.socket.finish_listen())
    }

    pub(super) fn accept(&self) -> Result<Progress<(Rc<Tcp>, Address)>> {
        match progress(|| "accept".to_string(), self.socket.accept())? {
            Progress::Done((socket, input, output)) => {
                let peer = socket
                    .remote_address()
                    .map_err(|code| error_from_code("accept: peer address", code))?;
                let sock = Tcp::wrap(socket, self.family, Some((input, output)));
                Ok(Progress::Done((sock, Address::Inet(from_wasi(peer)))))
            }
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    /// Starts a connect: always `Pending` (a WASI connect finishes later); the socket's
    /// pollable says when, and `take_error` finishes it.
    pub(super) fn connect(&self, addr: &Address) -> Result<Progress<()>> {
        let sa = inet("connect", addr)?;
        with_network(|net| self.socket.start_connect(net, to_wasi(sa)))
            .map_err(|code| error_from_code(&format!("connect {sa}"), code))?;
        self.connecting.set(true);
        Ok(Progress::Pending)
    }

    /// Finishes a connect the socket's readiness said is done: `Ok` once connected, its
    /// failure otherwise (the `SO_ERROR` of the sandloop host's sockets).
    pub(super) fn take_error(&self) -> Result<()> {
        if !self.connecting.get() || self.streams.get().is_some() {
            return Ok(());
        }
        match self.socket.finish_connect() {
            Ok(streams) => {
                self.connecting.set(false);
                let _ = self.streams.set(streams);
                Ok(())
            }
            Err(code) => {
                if code != ErrorCode::WouldBlock {
                    self.connecting.set(false);
                }
                // The connect's caller names the address.
                Err(error_from_code("", code))
            }
        }
    }

    fn streams(&self, op: &str) -> Result<&(InputStream, OutputStream)> {
        self.streams.get().ok_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("{op}: the socket is not connected"),
            ))
        })
    }

    /// Reads at most `max` bytes: `Done` with them, `Done` with none at the end of the
    /// stream, `Pending` when none are there yet.
    pub(super) fn recv(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        let (input, _) = self.streams("recv")?;
        match input.read(max as u64) {
            Ok(data) if data.is_empty() && max > 0 => Ok(Progress::Pending),
            Ok(data) => Ok(Progress::Done(data)),
            Err(StreamError::Closed) => Ok(Progress::Done(Vec::new())),
            Err(e) => Err(error_from_stream("recv", e)),
        }
    }

    /// Writes what the output stream takes now (its `check-write` permit), or `Pending`.
    pub(super) fn send(&self, data: &[u8]) -> Result<Progress<usize>> {
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

    /// Shuts a direction down. The write side first waits for what the output stream
    /// still holds to reach the kernel (the host writes in the background; a shutdown
    /// before it finished would cut those bytes off).
    pub(super) fn shutdown(&self, how: Shutdown) -> Result<()> {
        let kind = match how {
            Shutdown::Read => ShutdownType::Receive,
            Shutdown::Write => ShutdownType::Send,
            Shutdown::Both => ShutdownType::Both,
        };
        if how != Shutdown::Read
            && let Some((_, output)) = self.streams.get()
        {
            output
                .blocking_flush()
                .map_err(|e| error_from_stream("shutdown", e))?;
        }
        self.socket
            .shutdown(kind)
            .map_err(|code| error_from_code("shutdown", code))
    }

    /// Sets an option. WASI 0.2 has no `TCP_NODELAY` and no `SO_REUSEADDR` (hosts set
    /// the address reusable on bind, as wasmtime does): turning either on is accepted and
    /// left to the host; what WASI cannot set is `Unsupported`.
    pub(super) fn set_option(&self, opt: SockOpt) -> Result<()> {
        let s = &self.socket;
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

    pub(super) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        let s = &self.socket;
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

    pub(super) fn local_address(&self) -> Result<Address> {
        socket_address(self.socket.local_address(), "getsockname")
    }

    pub(super) fn peer_address(&self) -> Result<Address> {
        socket_address(self.socket.remote_address(), "getpeername")
    }
}
