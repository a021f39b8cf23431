//! [`StreamWriter`]: the transport's `write` plus waiting for its flow control.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskCx, Poll};
use std::time::Duration;

use futures_io::AsyncWrite;

use super::protocol::{ConnState, StreamReaderProtocol};
use super::{StreamReader, into_io};
use crate::error::Result;
use crate::transports::{ExtraInfo, Transport};

/// The write half of a connection (asyncio's `asyncio.StreamWriter`): the transport's
/// `write` plus [`StreamWriter::drain`], which waits while the transport's buffer is over
/// its high-water mark.
///
/// `write` never blocks and never fails: the bytes go to the transport's buffer. Call
/// `drain` after writing to let the peer catch up; it also reports a connection that is
/// gone.
///
/// Dropping the writer ends the write side, as dropping one half of a split socket does:
/// while the [`StreamReader`] is still held elsewhere, the peer reads EOF (a half-close)
/// and reading goes on, until the peer ends its side too or the last reader handle is
/// dropped; otherwise the connection closes. Either way, buffered bytes are still sent.
/// (asyncio leaves this to the garbage collector.)
///
/// ```no_run
/// # async fn demo(writer: sandloop::streams::StreamWriter) -> sandloop::Result<()> {
/// for chunk in [b"a".as_slice(), b"b", b"c"] {
///     writer.write(chunk);
///     writer.drain().await?;
/// }
/// writer.write_eof();
/// # Ok(())
/// # }
/// ```
pub struct StreamWriter {
    transport: Transport,
    conn: Rc<ConnState>,
    reader: Option<StreamReader>,
}

impl StreamWriter {
    /// A writer on `transport`, whose protocol is `protocol`; `reader`, if given, is the
    /// connection's read half, whose error `drain` reports.
    pub fn new(
        transport: Transport,
        protocol: &StreamReaderProtocol,
        reader: Option<StreamReader>,
    ) -> StreamWriter {
        StreamWriter {
            transport,
            conn: protocol.conn.clone(),
            reader,
        }
    }

    /// The underlying transport.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Queues `data` for sending (see [`Transport::write`]).
    pub fn write(&self, data: &[u8]) {
        self.transport.write(data);
    }

    /// Queues the concatenation of `chunks` for sending.
    pub fn writelines<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) {
        self.transport.writelines(chunks);
    }

    /// Closes the write side once the buffer is sent; the peer reads EOF.
    pub fn write_eof(&self) {
        self.transport.write_eof();
    }

    /// Whether [`StreamWriter::write_eof`] is supported.
    pub fn can_write_eof(&self) -> bool {
        self.transport.can_write_eof()
    }

    /// Closes the connection (the buffer is still sent); see [`StreamWriter::wait_closed`].
    pub fn close(&self) {
        self.transport.close();
    }

    /// `true` once the connection is closing or closed.
    pub fn is_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// Waits until the connection is closed: `Ok` after a regular close, the connection's
    /// error otherwise. Does not close it (call [`StreamWriter::close`] first).
    pub async fn wait_closed(&self) -> Result<()> {
        poll_fn(|cx| self.poll_closed(cx)).await
    }

    fn poll_closed(&self, cx: &mut TaskCx<'_>) -> Poll<Result<()>> {
        if !self.conn.lost.get() {
            self.conn.register(cx.waker());
            return Poll::Pending;
        }
        Poll::Ready(match &*self.conn.exc.borrow() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        })
    }

    /// Transport information: `peername`, `sockname`, `socket` (see
    /// [`Transport::get_extra_info`]).
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.transport.get_extra_info(name)
    }

    /// Upgrades the connection to TLS (asyncio 3.11's `StreamWriter.start_tls`): waits
    /// for the buffer to drain, runs [`EventLoop::start_tls`](crate::EventLoop::start_tls)
    /// with the connection's protocol, and from then on writes (and the reader reads)
    /// through the TLS transport. Returns once the handshake completed.
    pub async fn start_tls(
        &mut self,
        context: crate::tls::TlsContext,
        opts: crate::sslproto::TlsOptions,
    ) -> Result<()> {
        self.drain().await?;
        let protocol = self
            .transport
            .get_protocol()
            .ok_or_else(|| crate::Error::Runtime("start_tls: the connection is closed".into()))?;
        let lp = self.transport.get_loop();
        let transport = lp
            .start_tls(&self.transport, protocol, context, opts)
            .await?;
        if let Some(reader) = &self.reader {
            reader.replace_transport(transport.clone());
        }
        self.transport = transport;
        Ok(())
    }

    /// Waits until writing may go on: while the transport's buffer is over its high-water
    /// mark, until it is down to the low-water mark. Fails with the connection's error
    /// (the reader's, if it has one) or `ConnectionReset` once the connection is gone.
    pub async fn drain(&self) -> Result<()> {
        if let Some(reader) = &self.reader {
            reader.check_exception()?;
        }
        if self.transport.is_closing() {
            // Let connection_lost run first, so that a closed connection reports its error.
            crate::sleep(Duration::ZERO).await?;
        }
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    /// Whether writers should wait. The transport schedules `pause_writing` rather than
    /// calling it from inside `write`, so its buffer size is checked too: a `drain` right
    /// after the write that crossed the high-water mark must wait, not race ahead.
    fn write_paused(&self) -> bool {
        let size = self.transport.get_write_buffer_size();
        let (low, high) = self.transport.get_write_buffer_limits();
        size > high || (self.conn.write_paused.get() && size > low)
    }

    fn poll_drain(&self, cx: &mut TaskCx<'_>) -> Poll<Result<()>> {
        if self.conn.lost.get() {
            return Poll::Ready(Err(self.conn.lost_error()));
        }
        if !self.write_paused() {
            return Poll::Ready(Ok(()));
        }
        self.conn.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn poll_write_bytes(
        &self,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.conn.lost.get() {
            return Poll::Ready(Err(into_io(self.conn.lost_error())));
        }
        if self.transport.is_closing() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write to a closed StreamWriter",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // Back-pressure: accept nothing more while drain would wait.
        if self.write_paused() {
            self.conn.register(cx.waker());
            return Poll::Pending;
        }
        self.transport.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// `drain` as a poll, but `Ok` once the connection ended cleanly: after `close` (or a
    /// shutdown) everything written went out, so there is nothing left to flush (hyper
    /// flushes after shutting down and would report the reset `drain` gives). A connection
    /// lost with an error, or aborted with bytes unsent, is still an error.
    pub(crate) fn poll_flush_bytes(&self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        if let Some(reader) = &self.reader
            && let Some(e) = reader.exception()
        {
            return Poll::Ready(Err(into_io(e)));
        }
        if self.conn.lost.get() {
            let failure = self.conn.exc.borrow().clone();
            return Poll::Ready(match failure.or_else(|| self.transport.inner.torn_down()) {
                Some(e) => Err(into_io(e)),
                None => Ok(()),
            });
        }
        self.poll_drain(cx).map_err(into_io)
    }

    pub(super) fn poll_close_bytes(&self, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.transport.close();
        self.poll_closed(cx).map_err(into_io)
    }

    /// Ends the write side as a socket's `shutdown(SHUT_WR)` does: `write_eof` where the
    /// transport has it (the buffered bytes still go first), `close` with TLS (no
    /// half-close there; `close_notify` follows the buffered bytes).
    #[cfg(feature = "hyper")]
    pub(super) fn shutdown(&self) {
        if self.transport.is_closing() {
            return;
        }
        if self.can_write_eof() {
            self.write_eof();
        } else {
            self.close();
        }
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.transport.is_closing() {
            return;
        }
        match &self.reader {
            Some(reader) if reader.outlive_writer() => {
                if !self.transport.get_loop().is_closed() {
                    self.transport.write_eof();
                }
            }
            _ => close_on_drop(&self.transport),
        }
    }
}

/// Closes `transport` from a destructor; a closed loop can schedule nothing (the host frees
/// the instance's resources when it ends).
pub(super) fn close_on_drop(transport: &Transport) {
    if !transport.is_closing() && !transport.get_loop().is_closed() {
        transport.close();
    }
}

impl fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<StreamWriter transport={:?}", self.transport)?;
        if let Some(reader) = &self.reader {
            write!(f, " reader={reader:?}")?;
        }
        write!(f, ">")
    }
}

/// `poll_write` queues the bytes with the transport's `write` (waiting first while `drain`
/// would), `poll_flush` is [`StreamWriter::drain`], `poll_close` is `close` then
/// [`StreamWriter::wait_closed`].
impl AsyncWrite for StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_bytes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.poll_close_bytes(cx)
    }
}

/// As for `StreamWriter`, so a shared writer (`Rc<StreamWriter>`) can be written to too.
impl AsyncWrite for &StreamWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.poll_flush_bytes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.poll_close_bytes(cx)
    }
}
