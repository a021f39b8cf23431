//! [`StreamReader`]: the buffer a protocol feeds and coroutines read from.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context as TaskCx, Poll, Waker, ready};

use futures_core::Stream;
use futures_io::AsyncRead;

use super::buffer::{Buffer, find};
use super::writer::close_on_drop;
use super::{DEFAULT_LIMIT, IncompleteReadError, LimitOverrunError, into_io};
use crate::asyncgens::AsyncGen;
use crate::error::{Error, Result};
use crate::transports::Transport;
use crate::waiters::OnDrop;

// ---- StreamReader ------------------------------------------------------------------------

/// The read half of a connection (asyncio's `asyncio.StreamReader`): a buffer that a
/// protocol feeds and coroutines read from.
///
/// A cheap handle (`Rc` inside): clones share the buffer. Only one coroutine may wait for
/// data at a time (a second gets `Err(Runtime)`, as in asyncio).
///
/// Reading pauses the transport when more than twice the limit is buffered and resumes it
/// once a read brings the buffer down to the limit, so a slow reader slows the peer down
/// instead of growing the buffer.
///
/// The inherent `read` and `read_to_end` shadow the same-named methods of `futures`'
/// `AsyncReadExt`; call those as `AsyncReadExt::read(&mut reader, &mut buf)`.
///
/// ```no_run
/// use sandloop::streams::StreamReader;
///
/// sandloop::run(async {
///     let reader = StreamReader::new();
///     reader.feed_data(b"line 1\nline 2\n");
///     reader.feed_eof();
///     while let Some(line) = reader.next_line().await? {
///         print!("{}", String::from_utf8_lossy(&line));
///     }
///     Ok::<_, sandloop::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct StreamReader {
    inner: Rc<ReaderInner>,
}

struct ReaderInner {
    limit: usize,
    buffer: RefCell<Buffer>,
    eof: Cell<bool>,
    exception: RefCell<Option<Error>>,
    transport: RefCell<Option<Transport>>,
    /// We paused the transport's reading (the buffer went over twice the limit).
    paused: Cell<bool>,
    /// The task to wake when data, EOF or an error arrives.
    waker: RefCell<Option<Waker>>,
    /// Counts wakeups, so a waiting read can tell a wakeup from a spurious poll.
    wakeups: Cell<u64>,
    /// A read future is waiting for data.
    waiting: Cell<bool>,
    /// The connection's [`StreamWriter`] was dropped while this reader was still in use:
    /// the connection closes when the reader is dropped too, or the peer ends its side.
    writer_gone: Cell<bool>,
}

impl Default for StreamReader {
    fn default() -> StreamReader {
        StreamReader::new()
    }
}

impl StreamReader {
    /// An empty reader with the default limit ([`DEFAULT_LIMIT`]).
    pub fn new() -> StreamReader {
        StreamReader::with_limit(DEFAULT_LIMIT)
    }

    /// An empty reader whose lines (and chunks before a separator) may be `limit` bytes
    /// long.
    ///
    /// # Panics
    /// When `limit` is 0 (asyncio raises `ValueError`).
    pub fn with_limit(limit: usize) -> StreamReader {
        assert!(limit > 0, "StreamReader limit must be > 0");
        StreamReader {
            inner: Rc::new(ReaderInner {
                limit,
                buffer: RefCell::new(Buffer::default()),
                eof: Cell::new(false),
                exception: RefCell::new(None),
                transport: RefCell::new(None),
                paused: Cell::new(false),
                waker: RefCell::new(None),
                wakeups: Cell::new(0),
                waiting: Cell::new(false),
                writer_gone: Cell::new(false),
            }),
        }
    }

    /// The limit given at creation.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The error set with [`StreamReader::set_exception`] (the connection's error), if any.
    pub fn exception(&self) -> Option<Error> {
        self.inner.exception.borrow().clone()
    }

    /// Makes every later read fail with `exc` (and wakes a waiting one).
    pub fn set_exception(&self, exc: Error) {
        *self.inner.exception.borrow_mut() = Some(exc);
        self.wakeup_waiter();
    }

    /// The transport to pause and resume for flow control;
    /// [`StreamReaderProtocol`](super::StreamReaderProtocol) sets it when the connection is
    /// made.
    ///
    /// # Panics
    /// When a transport is set already (asyncio asserts the same).
    ///
    /// From then on the reader is one of the crate's async streams that the loop's
    /// `shutdown_asyncgens` finalizes: if it still exists then, its connection is closed.
    pub fn set_transport(&self, transport: Transport) {
        let lp = transport.get_loop();
        let mut slot = self.inner.transport.borrow_mut();
        assert!(slot.is_none(), "StreamReader transport already set");
        *slot = Some(transport);
        drop(slot);
        let weak: Weak<ReaderInner> = Rc::downgrade(&self.inner);
        lp.watch_asyncgen(weak);
    }

    /// Puts `transport` in the place of the one set (`StreamWriter::start_tls` moved the
    /// connection to a TLS transport): flow control pauses and resumes the new one.
    pub(crate) fn replace_transport(&self, transport: Transport) {
        *self.inner.transport.borrow_mut() = Some(transport);
    }

    /// Appends received bytes and wakes a waiting read; pauses the transport's reading
    /// when more than twice the limit is buffered.
    ///
    /// # Panics
    /// After [`StreamReader::feed_eof`] (asyncio asserts the same).
    pub fn feed_data(&self, data: &[u8]) {
        let inner = &self.inner;
        assert!(!inner.eof.get(), "feed_data after feed_eof");
        if data.is_empty() {
            return;
        }
        let buffered = {
            let mut buffer = inner.buffer.borrow_mut();
            buffer.extend(data);
            buffer.len()
        };
        self.wakeup_waiter();
        if !inner.paused.get()
            && buffered > inner.limit.saturating_mul(2)
            && let Some(transport) = &*inner.transport.borrow()
        {
            transport.pause_reading();
            inner.paused.set(true);
        }
    }

    /// Marks the end of the stream and wakes a waiting read.
    pub fn feed_eof(&self) {
        self.inner.eof.set(true);
        self.wakeup_waiter();
    }

    /// `true` when the stream ended and everything buffered was read.
    pub fn at_eof(&self) -> bool {
        self.inner.eof.get() && self.inner.buffer.borrow().is_empty()
    }

    /// `true` once [`StreamReader::feed_eof`] was called.
    pub(super) fn eof_fed(&self) -> bool {
        self.inner.eof.get()
    }

    /// Whether the connection's writer was dropped while this reader was in use.
    pub(super) fn writer_gone(&self) -> bool {
        self.inner.writer_gone.get()
    }

    /// The writer holding this handle is being dropped: `true` if the reader is still in
    /// use (held beyond the protocol and the writer, and not at EOF), in which case the
    /// last reader handle closes the connection; `false` when it should close now.
    pub(super) fn outlive_writer(&self) -> bool {
        let in_use = Rc::strong_count(&self.inner) > 2 && !self.inner.eof.get();
        if in_use {
            self.inner.writer_gone.set(true);
        }
        in_use
    }

    fn wakeup_waiter(&self) {
        let inner = &self.inner;
        inner.wakeups.set(inner.wakeups.get().wrapping_add(1));
        if let Some(waker) = inner.waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub(super) fn check_exception(&self) -> Result<()> {
        match self.exception() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Resumes the transport we paused once the buffer is down to the limit.
    fn maybe_resume_transport(&self) {
        let inner = &self.inner;
        if inner.paused.get() && inner.buffer.borrow().len() <= inner.limit {
            inner.paused.set(false);
            if let Some(transport) = &*inner.transport.borrow() {
                transport.resume_reading();
            }
        }
    }

    /// Reading may go on while we wait: with nothing more, the buffer cannot shrink.
    fn resume_for_waiting(&self) {
        let inner = &self.inner;
        if inner.paused.replace(false)
            && let Some(transport) = &*inner.transport.borrow()
        {
            transport.resume_reading();
        }
    }

    /// Waits until data, EOF or an error arrives (asyncio's `_wait_for_data`).
    async fn wait_for_data(&self, func: &str) -> Result<()> {
        let inner = &*self.inner;
        if inner.waiting.get() {
            return Err(Error::runtime(format!(
                "{func}() called while another coroutine is already waiting for incoming data"
            )));
        }
        debug_assert!(!inner.eof.get(), "wait_for_data after EOF");
        self.resume_for_waiting();
        inner.waiting.set(true);
        // A cancelled read (its future dropped) frees the slot for the next one.
        let _waiting = OnDrop(Some(|| inner.waiting.set(false)));
        let seen = inner.wakeups.get();
        poll_fn(|cx| {
            if inner.wakeups.get() != seen {
                Poll::Ready(())
            } else {
                *inner.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        self.check_exception()
    }

    /// Reads up to `n` bytes: what is buffered, or the next chunk to arrive. An empty
    /// result means the end of the stream (or `n == 0`).
    pub async fn read(&self, n: usize) -> Result<Vec<u8>> {
        self.check_exception()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.inner.buffer.borrow().is_empty() && !self.inner.eof.get() {
            self.wait_for_data("read").await?;
        }
        let data = self.inner.buffer.borrow_mut().take(n);
        self.maybe_resume_transport();
        Ok(data)
    }

    /// Reads until the end of the stream (asyncio's `read()` / `read(-1)`).
    pub async fn read_to_end(&self) -> Result<Vec<u8>> {
        self.check_exception()?;
        let mut out = Vec::new();
        loop {
            self.inner.buffer.borrow_mut().drain_into(&mut out);
            self.maybe_resume_transport();
            if self.inner.eof.get() {
                return Ok(out);
            }
            self.wait_for_data("read").await?;
        }
    }

    /// Reads one line, `\n` included. At the end of the stream, returns what is left
    /// (without `\n`), then empty lines.
    ///
    /// A line longer than the limit is an error of kind `InvalidData` carrying a
    /// [`LimitOverrunError`]; the long line (or, without a separator yet, the buffer) is
    /// discarded, so the next call reads what follows.
    pub async fn readline(&self) -> Result<Vec<u8>> {
        const SEP: &[u8] = b"\n";
        match self.read_until(SEP, "readline").await {
            Ok(line) => Ok(line),
            Err(UntilError::Incomplete(partial)) => Ok(partial),
            Err(UntilError::Overrun(e)) => {
                {
                    let mut buffer = self.inner.buffer.borrow_mut();
                    if buffer.as_slice()[e.consumed..].starts_with(SEP) {
                        buffer.consume(e.consumed + SEP.len());
                    } else {
                        buffer.clear();
                    }
                }
                self.maybe_resume_transport();
                Err(e.into())
            }
            Err(UntilError::Other(e)) => Err(e),
        }
    }

    /// The next line, or `None` at the end of the stream: asyncio's `async for line in
    /// reader`, as `while let Some(line) = reader.next_line().await? { .. }`.
    pub async fn next_line(&self) -> Result<Option<Vec<u8>>> {
        let line = self.readline().await?;
        Ok((!line.is_empty()).then_some(line))
    }

    /// Reads up to and including `separator`.
    ///
    /// Errors: at the end of the stream, [`IncompleteReadError`] (kind `UnexpectedEof`)
    /// with the rest of the buffer; when no separator shows up within the limit,
    /// [`LimitOverrunError`] (kind `InvalidData`), with the data left in the buffer; an
    /// empty separator is `InvalidInput`.
    pub async fn readuntil(&self, separator: &[u8]) -> Result<Vec<u8>> {
        self.read_until(separator, "readuntil")
            .await
            .map_err(|e| match e {
                UntilError::Incomplete(partial) => IncompleteReadError {
                    partial,
                    expected: None,
                }
                .into(),
                UntilError::Overrun(e) => e.into(),
                UntilError::Other(e) => e,
            })
    }

    async fn read_until(&self, separator: &[u8], func: &str) -> Result<Vec<u8>, UntilError> {
        let seplen = separator.len();
        if seplen == 0 {
            return Err(UntilError::Other(Error::Os(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Separator should be at least one-byte string",
            ))));
        }
        self.check_exception().map_err(UntilError::Other)?;
        let inner = &*self.inner;
        // Where the search resumes: bytes before it were searched already.
        let mut offset = 0;
        let isep = loop {
            {
                let mut buffer = inner.buffer.borrow_mut();
                let buflen = buffer.len();
                if buflen.saturating_sub(offset) >= seplen {
                    if let Some(i) = find(&buffer.as_slice()[offset..], separator) {
                        break offset + i;
                    }
                    offset = buflen + 1 - seplen;
                    if offset > inner.limit {
                        return Err(UntilError::Overrun(LimitOverrunError {
                            message: "Separator is not found, and chunk exceed the limit",
                            consumed: offset,
                        }));
                    }
                }
                if inner.eof.get() {
                    return Err(UntilError::Incomplete(buffer.take_all()));
                }
            }
            self.wait_for_data(func).await.map_err(UntilError::Other)?;
        };
        if isep > inner.limit {
            return Err(UntilError::Overrun(LimitOverrunError {
                message: "Separator is found, but chunk is longer than limit",
                consumed: isep,
            }));
        }
        let chunk = inner.buffer.borrow_mut().take(isep + seplen);
        self.maybe_resume_transport();
        Ok(chunk)
    }

    /// Reads exactly `n` bytes. When the stream ends first: an error of kind
    /// `UnexpectedEof` carrying an [`IncompleteReadError`] with the bytes that arrived.
    pub async fn readexactly(&self, n: usize) -> Result<Vec<u8>> {
        self.check_exception()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        while self.inner.buffer.borrow().len() < n {
            if self.inner.eof.get() {
                let partial = self.inner.buffer.borrow_mut().take_all();
                return Err(IncompleteReadError {
                    partial,
                    expected: Some(n),
                }
                .into());
            }
            self.wait_for_data("readexactly").await?;
        }
        let data = self.inner.buffer.borrow_mut().take(n);
        self.maybe_resume_transport();
        Ok(data)
    }
}

/// Closes the connection when the last reader handle goes after the writer (see
/// [`StreamWriter`](super::StreamWriter)'s drop). The protocol holds one handle while connected.
impl Drop for StreamReader {
    fn drop(&mut self) {
        let inner = &self.inner;
        if inner.writer_gone.get()
            && Rc::strong_count(inner) == 2
            && let Some(transport) = &*inner.transport.borrow()
        {
            close_on_drop(transport);
        }
    }
}

/// How `read_until` fails, before `readline` and `readuntil` each turn it into their error.
enum UntilError {
    Incomplete(Vec<u8>),
    Overrun(LimitOverrunError),
    Other(Error),
}

impl fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        write!(f, "<StreamReader")?;
        let buffered = inner.buffer.borrow().len();
        if buffered > 0 {
            write!(f, " {buffered} bytes")?;
        }
        if inner.eof.get() {
            write!(f, " eof")?;
        }
        if inner.limit != DEFAULT_LIMIT {
            write!(f, " limit={}", inner.limit)?;
        }
        if inner.waiting.get() {
            write!(f, " waiter")?;
        }
        if let Some(e) = &*inner.exception.borrow() {
            write!(f, " exception={e}")?;
        }
        if let Some(t) = &*inner.transport.borrow() {
            write!(f, " transport={t:?}")?;
        }
        if inner.paused.get() {
            write!(f, " paused")?;
        }
        write!(f, ">")
    }
}

impl StreamReader {
    /// The poll under the `futures-io` and hyper read traits: with bytes buffered, `Some`
    /// of what `take` makes of the buffer (it consumes what it uses); `None` at the end of
    /// the stream; otherwise waits for the next chunk. Fails with the connection's error.
    pub(super) fn poll_buffer<R>(
        &self,
        cx: &mut TaskCx<'_>,
        take: impl FnOnce(&mut Buffer) -> R,
    ) -> Poll<io::Result<Option<R>>> {
        let inner = &*self.inner;
        if let Some(e) = self.exception() {
            return Poll::Ready(Err(into_io(e)));
        }
        if !inner.buffer.borrow().is_empty() {
            let taken = take(&mut inner.buffer.borrow_mut());
            self.maybe_resume_transport();
            return Poll::Ready(Ok(Some(taken)));
        }
        if inner.eof.get() {
            return Poll::Ready(Ok(None));
        }
        if inner.waiting.get() {
            return Poll::Ready(Err(io::Error::other(
                "poll_read() called while another coroutine is already waiting for incoming data",
            )));
        }
        self.resume_for_waiting();
        *inner.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Puts bytes taken out of the buffer and not used back in front of it (a
    /// connection giving its halves back).
    pub(super) fn unread(&self, front: Buffer) {
        self.inner.buffer.borrow_mut().unread(front);
    }

    /// Copies what is buffered (up to `buf.len()`) into `buf`, or waits for the next chunk;
    /// `Ok(0)` at the end of the stream.
    fn poll_read_bytes(&self, cx: &mut TaskCx<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return match self.exception() {
                Some(e) => Poll::Ready(Err(into_io(e))),
                None => Poll::Ready(Ok(0)),
            };
        }
        self.poll_buffer(cx, |buffer| buffer.read_into(buf))
            .map_ok(|n| n.unwrap_or(0))
    }

    /// The lines of the stream as a [`futures_core::Stream`] (asyncio's `async for line in
    /// reader`): each `Ok` line ends with `\n` but the last one of the stream may not; the
    /// stream ends at EOF. An error (a line over the limit, the connection's error) is one
    /// item; reading goes on after it, as after a failed
    /// [`readline`](StreamReader::readline).
    ///
    /// ```no_run
    /// use futures_util::StreamExt;
    /// # async fn demo(reader: sandloop::streams::StreamReader) -> sandloop::Result<()> {
    /// let mut lines = reader.lines();
    /// while let Some(line) = lines.next().await {
    ///     print!("{}", String::from_utf8_lossy(&line?));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn lines(&self) -> Lines {
        Lines {
            reader: self.clone(),
            next: None,
            done: false,
        }
    }
}

/// Reads what is buffered, or waits for the next chunk; `Ok(0)` at the end of the stream.
impl AsyncRead for StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_bytes(cx, buf)
    }
}

/// As for `StreamReader`: a shared handle reads from the same buffer.
impl AsyncRead for &StreamReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskCx<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_bytes(cx, buf)
    }
}

/// A `next_line` call kept across polls.
type NextLine = Pin<Box<dyn Future<Output = Result<Option<Vec<u8>>>>>>;

/// The lines of a [`StreamReader`], from [`StreamReader::lines`].
///
/// ```no_run
/// use futures_util::StreamExt;
/// # async fn demo(reader: sandloop::streams::StreamReader) -> sandloop::Result<()> {
/// let mut lines = reader.lines(); // asyncio: `async for line in reader`
/// while let Some(line) = lines.next().await {
///     print!("{}", String::from_utf8_lossy(&line?));
/// }
/// # Ok(()) }
/// ```
pub struct Lines {
    reader: StreamReader,
    /// The `next_line` in progress (kept across polls, so no line is lost half-read).
    next: Option<NextLine>,
    done: bool,
}

impl Stream for Lines {
    type Item = Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        let next = this.next.get_or_insert_with(|| {
            let reader = this.reader.clone();
            Box::pin(async move { reader.next_line().await })
        });
        let line = ready!(next.as_mut().poll(cx));
        this.next = None;
        Poll::Ready(match line {
            Ok(Some(line)) => Some(Ok(line)),
            Ok(None) => {
                this.done = true;
                None
            }
            Err(e) => Some(Err(e)),
        })
    }
}

impl fmt::Debug for Lines {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<Lines of {:?}", self.reader)?;
        if self.done {
            write!(f, " done")?;
        }
        write!(f, ">")
    }
}

/// A stream reader is one of the crate's async streams (API.md: Rust has no async
/// generators): `shutdown_asyncgens` closes its connection if it is still open.
impl AsyncGen for ReaderInner {
    fn describe(&self) -> String {
        match &*self.transport.borrow() {
            Some(t) => format!("StreamReader of {t:?}"),
            None => "StreamReader".to_string(),
        }
    }

    fn aclose(&self) -> Pin<Box<dyn std::future::Future<Output = Result<()>>>> {
        if let Some(transport) = &*self.transport.borrow()
            && !transport.is_closing()
        {
            transport.close();
        }
        Box::pin(async { Ok(()) })
    }
}
