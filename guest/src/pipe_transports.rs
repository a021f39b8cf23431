//! Pipe transports (asyncio's `_UnixReadPipeTransport` and `_UnixWritePipeTransport` of
//! `unix_events.py`): `connect_read_pipe` and `connect_write_pipe`.
//!
//! Both are built on the stream [`Transport`]: in the default loop the host does the
//! pipe's I/O (completion mode), on a `SelectorEventLoop` the loop reads and writes on
//! readiness; flow control, buffering and the order of the protocol callbacks are the
//! stream transport's. What differs from a socket:
//! - a read pipe calls `data_received`, then `eof_received` and `connection_lost(None)`
//!   when the writer closes, whatever `eof_received` returns (a pipe cannot half-close);
//! - a write pipe's `write_eof` is `close`: buffered bytes are still written, then the
//!   pipe is closed (the reader sees the end) and `connection_lost(None)` runs;
//! - a write pipe whose reader closed ends with `connection_lost(Some(BrokenPipe))`, with
//!   or without bytes buffered: the host watches the write end for the reader going away
//!   even when there is nothing to write (asyncio's transport calls `connection_lost(None)`
//!   when nothing is buffered; here the error says what happened).
//!
//! The protocol's `connection_made` receives the underlying [`Transport`]; the pipe
//! transports returned by these methods are the same connection, with only the methods
//! that apply to their direction.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::error::Result;
use crate::events::EventLoop;
use crate::os::{PipeReader, PipeWriter};
use crate::protocols::Protocol;
use crate::transports::{ExtraInfo, SharedProtocol, Transport};

/// The read side of a pipe, driven by the loop (asyncio's read pipe transport).
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Lines;
/// impl sandloop::Protocol for Lines {}
/// let (stdin, _lines) = lp.connect_read_pipe(|| Lines, sandloop::os::stdin()?).await?;
/// stdin.pause_reading(); // flow control, as on a socket's transport
/// assert!(!stdin.is_reading());
/// stdin.resume_reading();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ReadPipeTransport(Transport);

/// The write side of a pipe, driven by the loop (asyncio's write pipe transport).
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Out;
/// impl sandloop::Protocol for Out {}
/// let (_r, w) = sandloop::os::pipe()?;
/// let (pipe, _out) = lp.connect_write_pipe(|| Out, w).await?;
/// pipe.set_write_buffer_limits(Some(64 * 1024), None)?;
/// pipe.write(b"data");
/// pipe.write_eof();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct WritePipeTransport(Transport);

impl EventLoop {
    /// Runs a protocol made by `factory` on the read end `pipe` (asyncio's
    /// `connect_read_pipe`). Resolves once `connection_made` has run.
    ///
    /// asyncio: `await loop.connect_read_pipe(factory, sys.stdin)`; here stdin is echoed in
    /// upper case until it ends:
    ///
    /// ```no_run
    /// use sandloop::{Error, Protocol};
    ///
    /// struct Shout;
    ///
    /// impl Protocol for Shout {
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         print!("{}", String::from_utf8_lossy(&data.to_ascii_uppercase()));
    ///     }
    ///     fn connection_lost(&mut self, _exc: Option<Error>) {
    ///         println!("(stdin closed)");
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let (stdin, _shout) = lp.connect_read_pipe(|| Shout, sandloop::os::stdin()?).await?;
    ///     while !stdin.is_closing() {
    ///         sandloop::sleep(std::time::Duration::from_millis(50)).await?;
    ///     }
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn connect_read_pipe<P, F>(
        &self,
        factory: F,
        pipe: PipeReader,
    ) -> Result<(ReadPipeTransport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let info = pipe.info();
        let protocol = Rc::new(RefCell::new(factory()));
        let transport = Transport::open_pipe(self, pipe.into_host(), info, protocol.clone())?;
        // connection_made was scheduled before this task's next step.
        crate::sleep(Duration::ZERO).await?;
        Ok((ReadPipeTransport(transport), protocol))
    }

    /// Runs a protocol made by `factory` on the write end `pipe` (asyncio's
    /// `connect_write_pipe`). Resolves once `connection_made` has run.
    ///
    /// asyncio: `await loop.connect_write_pipe(factory, sys.stdout)`.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// struct Out;
    /// impl sandloop::Protocol for Out {}
    /// let (stdout, _out) = lp.connect_write_pipe(|| Out, sandloop::os::stdout()?).await?;
    /// stdout.write(b"written by the loop, with flow control\n");
    /// stdout.close();
    /// # Ok(()) }
    /// ```
    pub async fn connect_write_pipe<P, F>(
        &self,
        factory: F,
        pipe: PipeWriter,
    ) -> Result<(WritePipeTransport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let info = pipe.info();
        let protocol = Rc::new(RefCell::new(factory()));
        let transport = Transport::open_pipe(self, pipe.into_host(), info, protocol.clone())?;
        crate::sleep(Duration::ZERO).await?;
        // Nothing is read from a write end; the host or the stream knows (no read
        // interest), so no call is needed here.
        Ok((WritePipeTransport(transport), protocol))
    }
}

impl ReadPipeTransport {
    /// The read pipe transport over `transport` (a child's stdout or stderr).
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) fn from_transport(transport: Transport) -> ReadPipeTransport {
        ReadPipeTransport(transport)
    }

    /// The loop the transport runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.0.get_loop()
    }

    /// Stops delivering data until [`ReadPipeTransport::resume_reading`]; the pipe is
    /// not read meanwhile, so its writer fills it and then waits.
    pub fn pause_reading(&self) {
        self.0.pause_reading();
    }

    /// Delivers data again.
    pub fn resume_reading(&self) {
        self.0.resume_reading();
    }

    /// Whether data is delivered (not paused, not closing).
    pub fn is_reading(&self) -> bool {
        self.0.is_reading()
    }

    /// Closes the pipe end; `connection_lost(None)` runs soon.
    pub fn close(&self) {
        self.0.close();
    }

    /// `true` once `close` was called or the pipe ended.
    pub fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    /// `pipe` gives [`ExtraInfo::Pipe`]; other names `None`.
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.0.get_extra_info(name)
    }

    /// Replaces the protocol that receives the callbacks.
    pub fn set_protocol(&self, protocol: SharedProtocol) {
        self.0.set_protocol(protocol);
    }

    /// The protocol that receives the callbacks (`None` after `connection_lost`).
    pub fn get_protocol(&self) -> Option<SharedProtocol> {
        self.0.get_protocol()
    }
}

impl WritePipeTransport {
    /// The write pipe transport over `transport` (a child's stdin).
    #[cfg_attr(not(feature = "host-reactor"), allow(dead_code))]
    pub(crate) fn from_transport(transport: Transport) -> WritePipeTransport {
        WritePipeTransport(transport)
    }

    /// The loop the transport runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.0.get_loop()
    }

    /// Writes `data`: what the pipe takes now, the rest buffered and written as the reader
    /// makes room. Ignored once the transport is closing.
    pub fn write(&self, data: &[u8]) {
        self.0.write(data);
    }

    /// Writes the concatenation of `chunks` with a single write.
    pub fn writelines<'a>(&self, chunks: impl IntoIterator<Item = &'a [u8]>) {
        self.0.writelines(chunks);
    }

    /// Closes the pipe once everything buffered is written: the reader sees the end of
    /// the stream. The same as [`WritePipeTransport::close`], as in asyncio.
    pub fn write_eof(&self) {
        self.0.close();
    }

    /// Always `true`.
    pub fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes at once, discarding what is buffered; `connection_lost(None)` runs soon.
    pub fn abort(&self) {
        self.0.abort();
    }

    /// Closes once everything buffered is written; then `connection_lost(None)` runs.
    pub fn close(&self) {
        self.0.close();
    }

    /// `true` once `close`, `write_eof` or `abort` was called, or the pipe broke.
    pub fn is_closing(&self) -> bool {
        self.0.is_closing()
    }

    /// The bytes written but not yet taken by the pipe.
    pub fn get_write_buffer_size(&self) -> usize {
        self.0.get_write_buffer_size()
    }

    /// Sets the water marks of the write buffer (see
    /// [`Transport::set_write_buffer_limits`]).
    pub fn set_write_buffer_limits(&self, high: Option<usize>, low: Option<usize>) -> Result<()> {
        self.0.set_write_buffer_limits(high, low)
    }

    /// `(low, high)`: the water marks of the write buffer.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.0.get_write_buffer_limits()
    }

    /// `pipe` gives [`ExtraInfo::Pipe`]; other names `None`.
    pub fn get_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        self.0.get_extra_info(name)
    }

    /// Replaces the protocol that receives the callbacks.
    pub fn set_protocol(&self, protocol: SharedProtocol) {
        self.0.set_protocol(protocol);
    }

    /// The protocol that receives the callbacks (`None` after `connection_lost`).
    pub fn get_protocol(&self) -> Option<SharedProtocol> {
        self.0.get_protocol()
    }
}
