//! hyper's I/O traits on [`Connection`]: hyper reads straight out of the reader's buffer
//! and writes into the transport, as the `futures-io` traits do.

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use ::hyper::rt::{Read, ReadBufCursor, Write};

use crate::streams::Connection;

/// Copies what the reader buffers into hyper's buffer (one copy, the one hyper needs), or
/// waits for the next chunk; nothing copied means the end of the stream.
impl Read for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        self.get_mut()
            .poll_read_with(cx, |available| {
                let n = available.len().min(buf.remaining());
                buf.put_slice(&available[..n]);
                n
            })
            .map_ok(|_| ())
    }
}

/// `poll_write` queues the bytes on the transport (waiting while its buffer is over the
/// high-water mark), `poll_flush` waits for the buffer to drain (and is `Ok` once the
/// connection closed cleanly), `poll_shutdown` ends the write side (`write_eof`; with TLS,
/// `close`) after the buffered bytes.
impl Write for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writer().poll_write_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.writer().poll_flush_bytes(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.shutdown();
        Poll::Ready(Ok(()))
    }
}
