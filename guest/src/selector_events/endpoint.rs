//! What a stream transport reads from and writes to: a connected host socket or one end of
//! a host pipe. A readiness-mode stream calls it itself (its buffering is the same for
//! both; only the calls differ); a completion-mode stream hands it to the host.

use std::io;

use crate::addresses::Shutdown;
use crate::error::{Error, Result};
use crate::os::PipeEnd;
use crate::sys::errors::Progress;
use crate::sys::fs::HostPipe;
use crate::sys::net::{HostSocket, HostSource, HostStream};

/// The host resource under a stream transport.
pub(crate) enum Endpoint {
    Socket(HostSocket),
    Pipe(HostPipe),
}

impl Endpoint {
    /// Hands the socket or pipe end to the host for completion-mode I/O under `token`.
    pub(crate) fn into_stream(self, token: u64, read_budget: u32) -> Result<HostStream> {
        match self {
            Endpoint::Socket(s) => s.into_stream(token, read_budget),
            Endpoint::Pipe(p) => p.into_stream(token, read_budget),
        }
    }

    pub(crate) fn source(&self) -> Result<HostSource> {
        match self {
            Endpoint::Socket(s) => s.source(),
            Endpoint::Pipe(p) => p.source(),
        }
    }

    /// Whether there is anything to read (a pipe's write end has not).
    pub(crate) fn can_read(&self) -> bool {
        !self.is_pipe_writer()
    }

    /// A pipe's write end: its reader closing is watched for even with nothing to send.
    pub(crate) fn is_pipe_writer(&self) -> bool {
        matches!(self, Endpoint::Pipe(p) if p.end() == PipeEnd::Write)
    }

    pub(crate) fn recv(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        match self {
            Endpoint::Socket(s) => s.recv(max),
            Endpoint::Pipe(p) => p.read(max),
        }
    }

    pub(crate) fn send(&self, data: &[u8]) -> Result<Progress<usize>> {
        match self {
            Endpoint::Socket(s) => s.send(data),
            Endpoint::Pipe(p) => p.write(data),
        }
    }

    /// Shuts a socket's write side down; a pipe has none (its transport closes instead).
    pub(crate) fn shutdown_write(&self) -> Result<()> {
        match self {
            Endpoint::Socket(s) => s.shutdown(Shutdown::Write),
            Endpoint::Pipe(_) => Err(Error::Os(io::Error::new(
                io::ErrorKind::Unsupported,
                "write_eof on a pipe: close the transport instead",
            ))),
        }
    }

    /// The socket, for options and addresses; `Unsupported` on a pipe.
    pub(crate) fn socket(&self) -> Result<&HostSocket> {
        match self {
            Endpoint::Socket(s) => Ok(s),
            Endpoint::Pipe(_) => Err(Error::Os(io::Error::new(
                io::ErrorKind::Unsupported,
                "a pipe has no socket options or addresses",
            ))),
        }
    }

    /// The error of a pipe writer whose reader closed.
    pub(crate) fn reader_gone() -> Error {
        Error::Os(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "write to pipe: the reader closed the pipe",
        ))
    }
}
