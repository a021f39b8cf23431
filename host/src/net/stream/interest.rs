//! A stream's registration with the reactor (see "Registration" in the parent module): the
//! interest it needs now, kept in step with what it is registered with.

use std::io;

use mio::unix::SourceFd;
use wasmtime::component::{Resource, ResourceTable};

use super::{Stream, WriteEof};
use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::reactor::{TokenKind, token};

impl Stream {
    /// The interest the stream needs now.
    pub(super) fn wanted_interest(&self) -> Option<mio::Interest> {
        if self.failure.is_some() {
            return None;
        }
        let (read, write) = match &self.tls {
            Some(tls) => (self.tls_wants_read(tls), tls.has_wire_pending()),
            None => (self.reading && !self.read_closed, self.has_pending()),
        };
        match (read, write) {
            (true, true) => Some(mio::Interest::READABLE | mio::Interest::WRITABLE),
            (true, false) => Some(mio::Interest::READABLE),
            (false, true) => Some(mio::Interest::WRITABLE),
            // A pipe's write end stays watched while open, so that its reader closing is
            // reported even with nothing buffered. Readability never comes on a write
            // end: the only event is the error epoll reports once the reader is gone,
            // with no wake-up each time the reader makes room.
            (false, false) if self.io.is_pipe_writer() && self.write_eof == WriteEof::Open => {
                Some(mio::Interest::READABLE)
            }
            (false, false) => None,
        }
    }

    /// Brings the registration in line with what the stream needs; `force` re-registers
    /// even when nothing changed (a re-arm: the kernel re-checks readiness).
    pub(super) fn sync_interest(
        &mut self,
        registry: &mio::Registry,
        force: bool,
    ) -> io::Result<()> {
        let wanted = self.wanted_interest();
        if wanted == self.registered && !force {
            return Ok(());
        }
        let fd = self.io.as_raw_fd();
        let mut source = SourceFd(&fd);
        let token = token(TokenKind::Stream, self.rep);
        match (self.registered, wanted) {
            (None, None) => {}
            (None, Some(interest)) => registry.register(&mut source, token, interest)?,
            (Some(_), Some(interest)) => registry.reregister(&mut source, token, interest)?,
            (Some(_), None) => registry.deregister(&mut source)?,
        }
        self.registered = wanted;
        Ok(())
    }

    /// Re-registers the stream so that the kernel reports it again if it is still ready
    /// (after a read that stopped at a limit).
    pub(crate) fn rearm(&mut self, registry: &mio::Registry) {
        if self.registered.is_none() {
            return;
        }
        if let Err(err) = self.sync_interest(registry, true) {
            tracing::debug!(token = self.token, %err, "stream: re-arming failed");
        }
    }

    /// Ends the stream with `failure`: nothing more is read or written, the buffer is
    /// discarded and the socket is no longer watched.
    pub(super) fn fail(&mut self, failure: Error, registry: &mio::Registry) {
        self.failure = Some(failure);
        self.write_buffer.clear();
        self.outgoing.clear();
        if let Some(tls) = &mut self.tls {
            tls.discard_wire();
        }
        if let Err(err) = self.sync_interest(registry, false) {
            tracing::debug!(token = self.token, %err, "stream: deregistering a failed stream failed");
        }
    }

    /// Deregisters the stream (before it is dropped).
    pub(crate) fn deregister(&mut self, registry: &mio::Registry) {
        if self.registered.take().is_some() {
            let fd = self.io.as_raw_fd();
            if let Err(err) = registry.deregister(&mut SourceFd(&fd)) {
                tracing::debug!(token = self.token, %err, "stream: deregistering failed");
            }
        }
    }
}

/// Puts `stream` in the table and registers it with the reactor under its table index;
/// on failure the stream (and what it owns) is closed and the error names `op`.
pub(crate) fn install(
    table: &mut ResourceTable,
    registry: &mio::Registry,
    stream: Stream,
    op: &str,
) -> wasmtime::Result<Result<Resource<Stream>, Error>> {
    let stream = table.push(stream)?;
    let entry = table.get_mut(&stream)?;
    entry.rep = stream.rep();
    if let Err(err) = entry.sync_interest(registry, false) {
        let err = match err.kind() {
            // The stream shares its descriptor with the reactor sources the guest made
            // before handing it over, and epoll watches a descriptor once.
            io::ErrorKind::AlreadyExists => error(
                ErrorKind::InvalidInput,
                format!(
                    "{op}: a reactor source of the same descriptor is still registered; \
                     deregister or drop it first"
                ),
            ),
            _ => io_error_untargeted(&format!("{op}: register with the reactor"), &err),
        };
        table.delete(stream)?;
        return Ok(Err(err));
    }
    Ok(Ok(stream))
}
