//! What a completion-mode stream reads from and writes to: a connected socket or one end
//! of a pipe.
//!
//! The stream's logic (budgets, buffering, events) is the same for both; only the calls
//! differ: a socket is read with `recv`, written with `send(MSG_NOSIGNAL)` and its write
//! side shut down with `shutdown(2)`; a pipe end is read or written with `read`/`write`
//! (never raising SIGPIPE), can do only one of the two, and has no write side to shut
//! down apart from closing it (the guest drops the stream for that). The match on the
//! kind costs a branch per call, nothing per byte.
//!
//! A socket's reads and writes count in the instance's network bytes (see `stats.rs`),
//! the ciphertext of a TLS stream included, as every byte on the wire passes here; a
//! pipe's do not (it is no network).

use std::net::SocketAddr;
use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::Arc;

use crate::error::{Error, ErrorKind, error, io_error};
use crate::fs::{Pipe, PipeEnd};
use crate::net::{address, io};
use crate::stats::Counters;

/// The descriptor under a [`super::Stream`].
pub(crate) enum Endpoint {
    /// A socket (shared with the reactor sources the guest made from it before handing
    /// it over, see `net::Socket`), and the counters of the instance's network bytes.
    Socket(Arc<socket2::Socket>, Arc<Counters>),
    Pipe(Pipe),
}

impl Endpoint {
    pub(crate) fn as_raw_fd(&self) -> RawFd {
        match self {
            Endpoint::Socket(socket, _) => socket.as_raw_fd(),
            Endpoint::Pipe(pipe) => pipe.as_raw_fd(),
        }
    }

    /// Whether there is anything to read from this end (a pipe's write end has not).
    pub(crate) fn can_read(&self) -> bool {
        !matches!(self, Endpoint::Pipe(pipe) if pipe.end() == PipeEnd::Write)
    }

    /// A pipe's write end: its reader closing must be watched for even with nothing
    /// buffered, and is an error of kind `broken-pipe`.
    pub(crate) fn is_pipe_writer(&self) -> bool {
        matches!(self, Endpoint::Pipe(pipe) if pipe.end() == PipeEnd::Write)
    }

    /// Reads into the spare capacity of `data`, at most `max` bytes; 0 at the end.
    pub(crate) fn read_into(
        &self,
        data: &mut Vec<u8>,
        max: usize,
        peer: Option<SocketAddr>,
    ) -> Result<usize, Error> {
        match self {
            Endpoint::Socket(socket, stats) => match io::recv_into(socket, data, max) {
                Ok(n) => {
                    stats.received(n);
                    Ok(n)
                }
                Err(err) => Err(io_error("recv from", address::Peer(peer, socket), &err)),
            },
            Endpoint::Pipe(pipe) => pipe.read_into(data, max),
        }
    }

    /// Writes what the kernel takes of `data`; `Ok(0)` when it would block.
    pub(crate) fn write(&self, data: &[u8], peer: Option<SocketAddr>) -> Result<usize, Error> {
        let written = match self {
            Endpoint::Socket(socket, stats) => match io::send(socket, data) {
                Ok(n) => {
                    stats.sent(n);
                    Ok(n)
                }
                Err(err) => Err(io_error("send to", address::Peer(peer, socket), &err)),
            },
            Endpoint::Pipe(pipe) => pipe.write(data),
        };
        match written {
            Err(err) if err.kind == ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// Counts `bytes` that `sendfile(2)` sent to this end (a socket's only).
    pub(crate) fn sent_from_file(&self, bytes: usize) {
        if let Endpoint::Socket(_, stats) = self {
            stats.sent(bytes);
        }
    }

    /// The error of a `sendfile(2)` to this end, naming the peer or the pipe.
    pub(crate) fn sendfile_error(&self, err: &std::io::Error, peer: Option<SocketAddr>) -> Error {
        match self {
            Endpoint::Socket(socket, _) => {
                io_error("sendfile to", address::Peer(peer, socket), err)
            }
            Endpoint::Pipe(pipe) => io_error("sendfile to", pipe.describe(), err),
        }
    }

    /// Shuts the write side down (sockets only).
    pub(crate) fn shutdown_write(&self, peer: Option<SocketAddr>) -> Result<(), Error> {
        match self {
            Endpoint::Socket(socket, _) => socket
                .shutdown(std::net::Shutdown::Write)
                .map_err(|err| io_error("shutdown (write) of", address::Peer(peer, socket), &err)),
            Endpoint::Pipe(pipe) => Err(error(
                ErrorKind::Unsupported,
                format!(
                    "write-eof on {}: a pipe has no write side to shut down; drop the stream \
                     once nothing is buffered",
                    pipe.describe()
                ),
            )),
        }
    }

    /// The socket, for options and addresses; an `unsupported` error naming `op` for a
    /// pipe.
    pub(crate) fn socket(&self, op: &str) -> Result<&socket2::Socket, Error> {
        match self {
            Endpoint::Socket(socket, _) => Ok(socket),
            Endpoint::Pipe(pipe) => Err(error(
                ErrorKind::Unsupported,
                format!("{op} on {}: not a socket", pipe.describe()),
            )),
        }
    }

    /// The error of a pipe writer whose reader closed (epoll reported an error on it).
    pub(crate) fn reader_gone(&self) -> Error {
        let what = match self {
            Endpoint::Pipe(pipe) => pipe.describe().to_string(),
            Endpoint::Socket(..) => "socket".into(),
        };
        error(
            ErrorKind::BrokenPipe,
            format!("write to {what}: the reader closed the pipe"),
        )
    }
}
