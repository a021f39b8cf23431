//! Pipes (what asyncio users get from `os.pipe()`) and the workload's own stdin, stdout
//! and stderr as pipe ends.
//!
//! A pipe end is non-blocking and closed when dropped. Use it directly ([`PipeReader::read`],
//! [`PipeWriter::write`], watched with `add_reader`/`add_writer`), or hand it to
//! [`EventLoop::connect_read_pipe`](crate::EventLoop::connect_read_pipe) /
//! [`EventLoop::connect_write_pipe`](crate::EventLoop::connect_write_pipe) for a pipe
//! transport. The two ends are distinct types, so a read end cannot be given to a write
//! transport by mistake.
//!
//! ```no_run
//! # async fn demo() -> sandloop::Result<()> {
//! let (reader, writer) = sandloop::os::pipe()?;
//! writer.write(b"ping")?;
//! drop(writer); // the reader sees the end of the stream after "ping"
//! # Ok(()) }
//! ```
//!
//! The workload's stdio is a pipe end only when the run inherits the host's stdio and it
//! is a pipe, a socket or a character device (asyncio's rule for pipe transports); the
//! `sandloop` CLI inherits all three. Otherwise [`stdin`], [`stdout`] and [`stderr`] fail
//! with `Unsupported` and say why (the embedding captures the output, stdin is a regular
//! file, ...). No policy grant is needed: a pipe reaches nothing outside the workload.

use std::cell::OnceCell;
use std::fmt;
use std::io;

use crate::error::{Error, Result};
use crate::net::{AsHandle, Socket};
use crate::sys::errors::Progress;
use crate::sys::fs::HostPipe;
pub use crate::sys::fs::PipeEnd;

/// What `get_extra_info("pipe")` of a pipe transport tells: which end, of what.
///
/// ```no_run
/// let (reader, writer) = sandloop::os::pipe()?;
/// assert_eq!(reader.info().name, "pipe");
/// assert_eq!(writer.info().end, sandloop::os::PipeEnd::Write);
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PipeInfo {
    /// `pipe` for an end of [`pipe()`], or `stdin`, `stdout`, `stderr`.
    pub name: String,
    /// Which end the transport drives.
    pub end: PipeEnd,
}

/// One end of a pipe, held until dropped (which closes it) or handed to a transport.
struct PipeHandle {
    host: HostPipe,
    /// The watch-only socket `add_reader`/`add_writer` use, made on first use (a
    /// duplicate of the descriptor, as for a socket).
    watch: OnceCell<Socket>,
}

impl PipeHandle {
    fn new(host: HostPipe) -> PipeHandle {
        PipeHandle {
            host,
            watch: OnceCell::new(),
        }
    }

    fn watch(&self) -> &Socket {
        // A source that cannot be made (out of descriptors) leaves a watch that reports
        // the socket as closed when `add_reader` tries it.
        self.watch
            .get_or_init(|| Socket::watch_only(self.host.source().ok()))
    }

    fn info(&self) -> PipeInfo {
        PipeInfo {
            name: self.host.name(),
            end: self.host.end(),
        }
    }
}

/// The read end of a pipe.
///
/// ```no_run
/// # fn demo(lp: &sandloop::EventLoop) -> sandloop::Result<()> {
/// use std::rc::Rc;
/// let (reader, writer) = sandloop::os::pipe()?;
/// let reader = Rc::new(reader);
/// let r = reader.clone();
/// lp.add_reader(&*reader, move || {
///     if let Ok(data) = r.read(4096) {
///         println!("{} bytes", data.len());
///     }
/// })?;
/// writer.write(b"hello")?;
/// # Ok(()) }
/// ```
pub struct PipeReader(PipeHandle);

/// The write end of a pipe.
///
/// ```no_run
/// let out = sandloop::os::stdout()?;
/// match out.write(b"hello\n") {
///     Ok(n) => assert!(n <= 6),
///     Err(e) => eprintln!("stdout is full or gone: {e}"),
/// }
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct PipeWriter(PipeHandle);

impl PipeReader {
    /// Reads at most `max` bytes without blocking; empty at the end of the stream,
    /// `Err` of kind `WouldBlock` when nothing is there yet.
    pub fn read(&self, max: usize) -> Result<Vec<u8>> {
        match self.0.host.read(max)? {
            Progress::Done(data) => Ok(data),
            Progress::Pending => Err(Error::Os(io::Error::from(io::ErrorKind::WouldBlock))),
        }
    }

    /// Which pipe this is the read end of.
    pub fn info(&self) -> PipeInfo {
        self.0.info()
    }

    pub(crate) fn into_host(self) -> HostPipe {
        self.0.host
    }
}

impl PipeWriter {
    /// Writes what the pipe takes of `data` without blocking; `Err` of kind `WouldBlock`
    /// when the pipe is full, `BrokenPipe` when the reader is gone.
    pub fn write(&self, data: &[u8]) -> Result<usize> {
        match self.0.host.write(data)? {
            Progress::Done(n) => Ok(n),
            Progress::Pending => Err(Error::Os(io::Error::from(io::ErrorKind::WouldBlock))),
        }
    }

    /// Which pipe this is the write end of.
    pub fn info(&self) -> PipeInfo {
        self.0.info()
    }

    pub(crate) fn into_host(self) -> HostPipe {
        self.0.host
    }
}

impl AsHandle for PipeReader {
    fn as_socket(&self) -> &Socket {
        self.0.watch()
    }
}

impl AsHandle for PipeWriter {
    fn as_socket(&self) -> &Socket {
        self.0.watch()
    }
}

impl fmt::Debug for PipeReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PipeReader({})", self.0.host.name())
    }
}

impl fmt::Debug for PipeWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PipeWriter({})", self.0.host.name())
    }
}

/// A new pipe: `(read end, write end)`, both non-blocking (asyncio users call `os.pipe()`).
///
/// asyncio users: `r, w = os.pipe()`. Here one end goes to the loop as a transport:
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Print;
/// impl sandloop::Protocol for Print {
///     fn data_received(&mut self, data: &[u8]) {
///         println!("{}", String::from_utf8_lossy(data));
///     }
/// }
/// let (reader, writer) = sandloop::os::pipe()?;
/// let (_transport, _print) = lp.connect_read_pipe(|| Print, reader).await?;
/// writer.write(b"through the pipe")?;
/// # Ok(()) }
/// ```
pub fn pipe() -> Result<(PipeReader, PipeWriter)> {
    let (read, write) = HostPipe::pair()?;
    Ok((
        PipeReader(PipeHandle::new(read)),
        PipeWriter(PipeHandle::new(write)),
    ))
}

/// The workload's stdin as a pipe's read end. Each call gives a new handle of its own.
///
/// Reading stdin line by line through a stream (asyncio's `connect_read_pipe` with a
/// `StreamReaderProtocol`):
///
/// ```no_run
/// use sandloop::streams::{StreamReader, StreamReaderProtocol};
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let reader = StreamReader::new();
///     let protocol = StreamReaderProtocol::new(reader.clone());
///     lp.connect_read_pipe(move || protocol, sandloop::os::stdin()?).await?;
///     loop {
///         let line = reader.readline().await?;
///         if line.is_empty() {
///             break;
///         }
///         print!("> {}", String::from_utf8_lossy(&line));
///     }
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub fn stdin() -> Result<PipeReader> {
    HostPipe::stdin().map(|p| PipeReader(PipeHandle::new(p)))
}

/// The workload's stdout as a pipe's write end. Each call gives a new handle of its own;
/// what Rust's `println!` writes goes to the same place, unordered with the pipe's bytes.
pub fn stdout() -> Result<PipeWriter> {
    HostPipe::stdout().map(|p| PipeWriter(PipeHandle::new(p)))
}

/// The workload's stderr as a pipe's write end, as [`stdout`].
pub fn stderr() -> Result<PipeWriter> {
    HostPipe::stderr().map(|p| PipeWriter(PipeHandle::new(p)))
}
