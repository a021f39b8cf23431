//! Streams: [`open_connection`], [`start_server`], [`StreamReader`] and [`StreamWriter`]
//! (asyncio's `streams.py`).
//!
//! Streams are the high-level way to use a connection: instead of writing a
//! [`Protocol`](crate::Protocol) that reacts to callbacks, a coroutine reads with
//! `readline().await` and writes with `write` + `drain().await`. Underneath, a
//! [`StreamReaderProtocol`] runs on an ordinary [`Transport`] and feeds
//! what arrives into a [`StreamReader`]; a [`StreamWriter`] wraps the transport and waits
//! for its flow control.
//!
//! A client, as in asyncio's documentation:
//!
//! ```no_run
//! use sandloop::streams;
//!
//! sandloop::run(async {
//!     let (reader, writer) =
//!         streams::open_connection("127.0.0.1", 8888, Default::default()).await?;
//!     writer.write(b"Hello World!\n");
//!     writer.drain().await?;
//!     let line = reader.readline().await?;
//!     println!("Received: {}", String::from_utf8_lossy(&line));
//!     writer.close();
//!     writer.wait_closed().await
//! })
//! .unwrap();
//! ```
//!
//! An echo server; each connection runs the callback as its own task:
//!
//! ```no_run
//! use sandloop::streams::{self, StreamReader, StreamWriter};
//!
//! async fn echo(reader: StreamReader, writer: StreamWriter) -> sandloop::Result<()> {
//!     loop {
//!         let data = reader.read(64 * 1024).await?;
//!         if data.is_empty() {
//!             break;
//!         }
//!         writer.write(&data);
//!         writer.drain().await?;
//!     }
//!     writer.close();
//!     writer.wait_closed().await
//! }
//!
//! sandloop::run(async {
//!     let server = streams::start_server(echo, "127.0.0.1", 8888, Default::default()).await?;
//!     server.serve_forever().await
//! })
//! .unwrap();
//! ```
//!
//! Both halves also implement the `futures-io` traits
//! ([`AsyncRead`](futures_io::AsyncRead) for the reader and `&StreamReader`,
//! [`AsyncWrite`](futures_io::AsyncWrite) for the writer and `&StreamWriter`), so the
//! `futures` ecosystem's adapters work on them. [`Connection`] holds both halves as one
//! duplex value (`AsyncRead + AsyncBufRead + AsyncWrite`, and hyper's I/O traits with the
//! `hyper` feature), what crates written for a `TcpStream` expect.
//!
//! Differences from asyncio, each for a Rust reason:
//! - `read(-1)` is [`StreamReader::read_to_end`]; `read(n)` takes a `usize`.
//! - `IncompleteReadError` and `LimitOverrunError` are [`Error::Os`] errors of kind
//!   `UnexpectedEof` and `InvalidData` (what `std`'s `read_exact` and line readers use);
//!   [`IncompleteReadError::find`] and [`LimitOverrunError::find`] recover the details.
//! - `async for line in reader` is [`StreamReader::lines`] (a `futures_core::Stream`), or
//!   `while let Some(line) = reader.next_line().await? {}`.
//! - Dropping the [`StreamWriter`] and every [`StreamReader`] handle closes the connection
//!   (dropping only the writer half-closes it), where asyncio leaves that to the garbage
//!   collector.
//! - Streams are not registered with `shutdown_asyncgens`: they are not async generators
//!   (asyncio does not register them either), and a loop-wide list of every connection
//!   would grow with each one accepted.

mod buffer;
mod connection;
mod protocol;
mod reader;
mod unix;
mod writer;

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;

use crate::connections::ConnectOptions;
use crate::error::{Error, IntoResult, Result};
use crate::events::get_running_loop;
use crate::servers::{Hosts, Server, ServerOptions};
use crate::transports::Transport;

pub use connection::Connection;
pub use protocol::StreamReaderProtocol;
pub use reader::{Lines, StreamReader};
pub use unix::{
    open_unix_connection, open_unix_connection_with_limit, start_unix_server,
    start_unix_server_with_limit,
};
pub use writer::StreamWriter;

/// asyncio's `_DEFAULT_LIMIT`: the longest line (or chunk before a separator) a
/// [`StreamReader`] accepts, 64 KiB. Reading from the transport pauses when twice this much
/// is buffered.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

// ---- Errors ------------------------------------------------------------------------------

/// The stream ended before the requested bytes arrived (asyncio's `IncompleteReadError`).
///
/// Returned inside `Error::Os` with kind [`io::ErrorKind::UnexpectedEof`], so code that
/// only cares about "the peer hung up early" matches the kind; [`IncompleteReadError::find`]
/// gives the bytes that did arrive.
///
/// ```no_run
/// # async fn demo(reader: sandloop::streams::StreamReader) -> sandloop::Result<()> {
/// use sandloop::streams::IncompleteReadError;
/// match reader.readexactly(4).await {
///     Ok(header) => println!("header {header:?}"),
///     Err(e) => match IncompleteReadError::find(&e) {
///         Some(short) => println!("only {} bytes before EOF", short.partial.len()),
///         None => return Err(e),
///     },
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncompleteReadError {
    /// The bytes read before the end of the stream (taken out of the reader's buffer).
    pub partial: Vec<u8>,
    /// How many bytes were asked for; `None` when reading up to a separator.
    pub expected: Option<usize>,
}

impl fmt::Display for IncompleteReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes read on a total of ", self.partial.len())?;
        match self.expected {
            Some(n) => write!(f, "{n} expected bytes"),
            None => f.write_str("undefined expected bytes"),
        }
    }
}

impl std::error::Error for IncompleteReadError {}

impl IncompleteReadError {
    /// The `IncompleteReadError` inside `err`, if that is what it is.
    ///
    /// An `io::Error`'s payload does not survive `Error::clone` (`io::Error` cannot be
    /// cloned), so this finds it in the error a read returned, not in a copy read back from
    /// a task's result; the kind `UnexpectedEof` survives both.
    pub fn find(err: &Error) -> Option<&IncompleteReadError> {
        match err {
            Error::Os(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

impl From<IncompleteReadError> for Error {
    fn from(e: IncompleteReadError) -> Error {
        Error::Os(io::Error::new(io::ErrorKind::UnexpectedEof, e))
    }
}

/// No separator within the reader's limit (asyncio's `LimitOverrunError`).
///
/// Returned inside `Error::Os` with kind [`io::ErrorKind::InvalidData`]. After
/// [`StreamReader::readuntil`] the data stays buffered (`consumed` bytes of it can be read
/// with [`StreamReader::read`]); [`StreamReader::readline`] discards it, as asyncio does.
///
/// ```no_run
/// use sandloop::streams::LimitOverrunError;
/// # async fn demo(reader: sandloop::streams::StreamReader) -> sandloop::Result<()> {
/// match reader.readuntil(b"\r\n\r\n").await {
///     Ok(head) => println!("{} bytes of head", head.len()),
///     Err(e) => match LimitOverrunError::find(&e) {
///         Some(over) => println!("no separator within the limit ({} bytes)", over.consumed),
///         None => return Err(e),
///     },
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitOverrunError {
    /// What was exceeded.
    pub message: &'static str,
    /// How many bytes to consume to get past the overrun.
    pub consumed: usize,
}

impl fmt::Display for LimitOverrunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for LimitOverrunError {}

impl LimitOverrunError {
    /// The `LimitOverrunError` inside `err`, if that is what it is (see
    /// [`IncompleteReadError::find`] for why only in the original error).
    pub fn find(err: &Error) -> Option<&LimitOverrunError> {
        match err {
            Error::Os(e) => e.get_ref()?.downcast_ref(),
            _ => None,
        }
    }
}

impl From<LimitOverrunError> for Error {
    fn from(e: LimitOverrunError) -> Error {
        Error::Os(io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

/// An error for the `futures-io` traits, which speak `io::Error`.
fn into_io(err: Error) -> io::Error {
    match err {
        Error::Os(e) => e,
        other => io::Error::other(other),
    }
}

// ---- open_connection / start_server ------------------------------------------------------

/// Connects to `host`:`port` and returns the connection's two halves (asyncio's
/// `asyncio.open_connection`), on the running loop. `opts` are those of
/// [`crate::EventLoop::create_connection`]; the reader's limit is [`DEFAULT_LIMIT`].
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// use sandloop::streams;
/// let (reader, writer) = streams::open_connection("127.0.0.1", 8888, Default::default()).await?;
/// writer.write(b"ping\n");
/// let reply = reader.readline().await?;
/// # Ok(())
/// # }
/// ```
pub async fn open_connection(
    host: &str,
    port: u16,
    opts: ConnectOptions,
) -> Result<(StreamReader, StreamWriter)> {
    open_connection_with_limit(host, port, opts, DEFAULT_LIMIT).await
}

/// [`open_connection`] with the reader's `limit` (asyncio's `limit=` argument).
pub async fn open_connection_with_limit(
    host: &str,
    port: u16,
    opts: ConnectOptions,
    limit: usize,
) -> Result<(StreamReader, StreamWriter)> {
    let lp = get_running_loop()?;
    open_streams(limit, |fed| {
        lp.create_connection(move || StreamReaderProtocol::new(fed), host, port, opts)
    })
    .await
}

/// The two halves of a connection that `connect` makes with a [`StreamReaderProtocol`]
/// feeding the given reader (TCP or unix alike).
pub(crate) async fn open_streams<F>(
    limit: usize,
    connect: impl FnOnce(StreamReader) -> F,
) -> Result<(StreamReader, StreamWriter)>
where
    F: Future<Output = Result<(Transport, Rc<RefCell<StreamReaderProtocol>>)>>,
{
    let reader = StreamReader::with_limit(limit);
    let (transport, protocol) = connect(reader.clone()).await?;
    let writer = StreamWriter::new(transport, &protocol.borrow(), Some(reader.clone()));
    Ok((reader, writer))
}

/// Listens on `hosts`:`port` and runs `client_connected_cb(reader, writer)` as a task for
/// each connection (asyncio's `asyncio.start_server`), on the running loop. `opts` are
/// those of [`crate::EventLoop::create_server`]; port 0 picks a free port.
///
/// The callback is an async function or closure; it may return `()` or a `Result`. An
/// `Err` goes to the loop's exception handler and closes that connection. When the
/// callback returns, its reader and writer are dropped, which closes the connection (unless
/// it handed them on, e.g. to a task).
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// use sandloop::streams::{self, StreamReader, StreamWriter};
/// let server = streams::start_server(
///     async |reader: StreamReader, writer: StreamWriter| {
///         let line = reader.readline().await?;
///         writer.write(&line);
///         writer.drain().await
///     },
///     "127.0.0.1",
///     0,
///     Default::default(),
/// )
/// .await?;
/// let port = server.port()?;
/// # Ok(())
/// # }
/// ```
pub async fn start_server<F, R>(
    client_connected_cb: F,
    hosts: impl Into<Hosts>,
    port: u16,
    opts: ServerOptions,
) -> Result<Server>
where
    F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
    R: IntoResult<Ok = ()>,
{
    start_server_with_limit(client_connected_cb, hosts, port, opts, DEFAULT_LIMIT).await
}

/// [`start_server`] with the readers' `limit` (asyncio's `limit=` argument).
pub async fn start_server_with_limit<F, R>(
    client_connected_cb: F,
    hosts: impl Into<Hosts>,
    port: u16,
    opts: ServerOptions,
    limit: usize,
) -> Result<Server>
where
    F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
    R: IntoResult<Ok = ()>,
{
    let lp = get_running_loop()?;
    let cb = protocol::erase_client_connected(client_connected_cb);
    lp.create_server(
        move || StreamReaderProtocol::with_erased_cb(StreamReader::with_limit(limit), cb.clone()),
        hosts,
        port,
        opts,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_read_says_what_arrived() {
        let e = IncompleteReadError {
            partial: b"ab".to_vec(),
            expected: Some(4),
        };
        assert_eq!(e.to_string(), "2 bytes read on a total of 4 expected bytes");
        let err: Error = e.clone().into();
        assert_eq!(IncompleteReadError::find(&err), Some(&e));
        assert!(matches!(&err, Error::Os(io) if io.kind() == io::ErrorKind::UnexpectedEof));
    }
}
