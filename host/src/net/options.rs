//! Socket options, shared by `socket` and `stream` (a stream is a socket whose I/O the
//! host does; its options are the socket's). The WIT's `option-name` and `socket-option`
//! mirror [`OptionName`] and [`SocketOption`] one to one.

use crate::error::{Error, io_error_untargeted};

/// The socket options a workload may read and set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OptionName {
    /// TCP_NODELAY.
    NoDelay,
    /// SO_KEEPALIVE.
    KeepAlive,
    /// SO_REUSEADDR.
    ReuseAddress,
    /// SO_REUSEPORT.
    ReusePort,
    /// SO_RCVBUF, in bytes.
    RecvBufferSize,
    /// SO_SNDBUF, in bytes.
    SendBufferSize,
    /// SO_BROADCAST (datagram sockets: may send to a broadcast address).
    Broadcast,
}

/// A socket option with its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SocketOption {
    NoDelay(bool),
    KeepAlive(bool),
    ReuseAddress(bool),
    ReusePort(bool),
    RecvBufferSize(u32),
    SendBufferSize(u32),
    Broadcast(bool),
}

/// Sets `opt` on `socket`.
pub(crate) fn set(socket: &socket2::Socket, opt: SocketOption) -> Result<(), Error> {
    let (name, result) = match opt {
        SocketOption::NoDelay(on) => ("set no-delay", socket.set_tcp_nodelay(on)),
        SocketOption::KeepAlive(on) => ("set keep-alive", socket.set_keepalive(on)),
        SocketOption::ReuseAddress(on) => ("set reuse-address", socket.set_reuse_address(on)),
        SocketOption::ReusePort(on) => ("set reuse-port", socket.set_reuse_port(on)),
        SocketOption::RecvBufferSize(size) => (
            "set recv-buffer-size",
            socket.set_recv_buffer_size(size as usize),
        ),
        SocketOption::SendBufferSize(size) => (
            "set send-buffer-size",
            socket.set_send_buffer_size(size as usize),
        ),
        SocketOption::Broadcast(on) => ("set broadcast", socket.set_broadcast(on)),
    };
    result.map_err(|err| io_error_untargeted(name, &err))
}

/// Reads option `name` of `socket`. Buffer sizes are what the kernel reports (Linux
/// doubles the value set, for its bookkeeping), saturated to `u32`.
pub(crate) fn get(socket: &socket2::Socket, name: OptionName) -> Result<SocketOption, Error> {
    let size = |size: usize| u32::try_from(size).unwrap_or(u32::MAX);
    let (label, result) = match name {
        OptionName::NoDelay => (
            "get no-delay",
            socket.tcp_nodelay().map(SocketOption::NoDelay),
        ),
        OptionName::KeepAlive => (
            "get keep-alive",
            socket.keepalive().map(SocketOption::KeepAlive),
        ),
        OptionName::ReuseAddress => (
            "get reuse-address",
            socket.reuse_address().map(SocketOption::ReuseAddress),
        ),
        OptionName::ReusePort => (
            "get reuse-port",
            socket.reuse_port().map(SocketOption::ReusePort),
        ),
        OptionName::RecvBufferSize => (
            "get recv-buffer-size",
            socket
                .recv_buffer_size()
                .map(|s| SocketOption::RecvBufferSize(size(s))),
        ),
        OptionName::SendBufferSize => (
            "get send-buffer-size",
            socket
                .send_buffer_size()
                .map(|s| SocketOption::SendBufferSize(size(s))),
        ),
        OptionName::Broadcast => (
            "get broadcast",
            socket.broadcast().map(SocketOption::Broadcast),
        ),
    };
    result.map_err(|err| io_error_untargeted(label, &err))
}
