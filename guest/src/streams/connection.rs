//! [`Connection`]: a connection's [`StreamReader`] and [`StreamWriter`] as one duplex value,
//! what Rust's I/O crates expect of a `TcpStream`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

use super::buffer::Buffer;
use super::{StreamReader, StreamWriter, open_connection};
use crate::connections::ConnectOptions;
use crate::error::Result;
use crate::transports::ExtraInfo;

/// A connected stream, both directions in one value: the [`StreamReader`] and
/// [`StreamWriter`] that [`open_connection`], [`start_server`](super::start_server) and
/// their unix and TLS forms give, put together (asyncio keeps the two apart; Rust's I/O
/// crates, `futures`' adapters and hyper want one `TcpStream`-like value).
///
/// It is the same type for TCP, unix sockets and TLS (a connection made with
/// [`ConnectOptions::ssl`](crate::ConnectOptions) or upgraded with
/// [`StreamWriter::start_tls`]), hence the neutral name.
///
/// It implements `futures-io`'s [`AsyncRead`], [`AsyncBufRead`] and [`AsyncWrite`] (and,
/// with the `hyper` feature, `hyper::rt::Read` and `hyper::rt::Write`).
/// [`Connection::halves`] lends the two halves, [`Connection::into_split`] gives them back.
/// (The borrowing form is not called `split`: `futures`' `AsyncReadExt::split`, which takes
/// the value and returns lock-guarded halves, would shadow it wherever that trait is in
/// scope.)
///
/// Closing follows the halves: dropping the connection drops both, which closes it after
/// the buffered bytes are sent.
///
/// ```no_run
/// use futures_util::{AsyncBufReadExt, AsyncWriteExt};
/// use sandloop::streams::Connection;
///
/// sandloop::run(async {
///     let mut conn = Connection::connect("127.0.0.1", 8888).await?;
///     conn.write_all(b"ping\n").await?;
///     let mut reply = String::new();
///     conn.read_line(&mut reply).await?;
///     print!("{reply}");
///     Ok::<_, sandloop::Error>(())
/// })
/// .unwrap();
/// ```
pub struct Connection {
    reader: StreamReader,
    writer: StreamWriter,
    /// Bytes `poll_fill_buf` took out of the reader's buffer (by swapping the two buffers,
    /// without copying) and that were not consumed yet; reads take these first.
    front: Buffer,
}

impl Connection {
    /// Connects to `host`:`port` over TCP ([`open_connection`] with default options).
    pub async fn connect(host: &str, port: u16) -> Result<Connection> {
        Connection::connect_with(host, port, ConnectOptions::default()).await
    }

    /// Connects to `host`:`port` with `opts` (TLS with `opts.ssl`, a local address, ...),
    /// as [`open_connection`] does.
    pub async fn connect_with(host: &str, port: u16, opts: ConnectOptions) -> Result<Connection> {
        Ok(open_connection(host, port, opts).await?.into())
    }

    /// The read half, to call [`StreamReader`]'s own methods (`readline`, ...). Bytes that
    /// [`AsyncBufRead::poll_fill_buf`] took and were not consumed are not seen there: call
    /// [`Connection::halves`] first, which puts them back.
    pub fn reader(&self) -> &StreamReader {
        &self.reader
    }

    /// The write half, to call [`StreamWriter`]'s own methods (`write`, `drain`, ...).
    pub fn writer(&self) -> &StreamWriter {
        &self.writer
    }

    /// Lends the two halves, e.g. to read in one future and write in another (tokio's
    /// `TcpStream::split`).
    pub fn halves(&mut self) -> (&StreamReader, &StreamWriter) {
        self.give_back_front();
        (&self.reader, &self.writer)
    }

    /// Gives the two halves back.
    pub fn into_split(mut self) -> (StreamReader, StreamWriter) {
        self.give_back_front();
        (self.reader, self.writer)
    }

    /// Transport information: `peername`, `sockname`, ... (see
    /// [`StreamWriter::get_extra_info`]).
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.writer.get_extra_info(name)
    }

    /// Puts the bytes `poll_fill_buf` took and nobody consumed back into the reader.
    fn give_back_front(&mut self) {
        let front = std::mem::take(&mut self.front);
        self.reader.unread(front);
    }

    /// The poll under the read traits: with bytes at hand (taken by `poll_fill_buf`, or in
    /// the reader's buffer), `Some` of what `take` makes of them; `None` at the end of the
    /// stream; otherwise waits.
    fn poll_bytes<R>(
        &mut self,
        cx: &mut TaskCx<'_>,
        take: impl FnOnce(&mut Buffer) -> R,
    ) -> Poll<io::Result<Option<R>>> {
        if !self.front.is_empty() {
            return Poll::Ready(Ok(Some(take(&mut self.front))));
        }
        self.reader.poll_buffer(cx, take)
    }

    /// Offers the bytes at hand to `copy`, which returns how many it took (at least one);
    /// `Ok(0)` at the end of the stream; otherwise waits. hyper's `rt::Read` reads so,
    /// straight from the reader's buffer into its own.
    #[cfg(feature = "hyper")]
    pub(crate) fn poll_read_with(
        &mut self,
        cx: &mut TaskCx<'_>,
        copy: impl FnOnce(&[u8]) -> usize,
    ) -> Poll<io::Result<usize>> {
        self.poll_bytes(cx, |buffer| {
            let n = copy(buffer.as_slice());
            buffer.consume(n);
            n
        })
        .map_ok(|n| n.unwrap_or(0))
    }

    /// Ends the write side (`write_eof`; `close` with TLS), as a socket's shutdown does:
    /// what hyper's `poll_shutdown` means.
    #[cfg(feature = "hyper")]
    pub(crate) fn shutdown(&self) {
        self.writer.shutdown();
    }
}

impl From<(StreamReader, StreamWriter)> for Connection {
    /// The two halves of one connection (as [`open_connection`] returns them) as one value.
    fn from((reader, writer): (StreamReader, StreamWriter)) -> Connection {
        Connection {
            reader,
            writer,
            front: Buffer::default(),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Connection {:?}", self.writer)?;
        if !self.front.is_empty() {
            write!(f, " front={} bytes", self.front.len())?;
        }
        write!(f, ">")
    }
}

/// Reads what is buffered, or waits for the next chunk; `Ok(0)` at the end of the stream.
impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut()
            .poll_bytes(cx, |buffer| buffer.read_into(buf))
            .map_ok(|n| n.unwrap_or(0))
    }
}

/// `poll_fill_buf` hands out the reader's whole buffer without copying it (the connection
/// swaps it for its own empty one); `consume` moves past the bytes used.
impl AsyncBufRead for Connection {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.front.is_empty() {
            let front = &mut this.front;
            if std::task::ready!(
                this.reader
                    .poll_buffer(cx, |buffer| std::mem::swap(buffer, front))
            )?
            .is_none()
            {
                return Poll::Ready(Ok(&[]));
            }
        }
        Poll::Ready(Ok(this.front.as_slice()))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().front.consume(amt);
    }
}

/// As [`StreamWriter`]'s: `poll_write` queues the bytes (waiting while `drain` would),
/// `poll_flush` is `drain` (`Ok` once the connection closed cleanly), `poll_close` is
/// `close` then `wait_closed`.
impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.writer.poll_write_bytes(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_flush_bytes(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_close_bytes(cx)
    }
}
