//! `sendfile` and `sock_sendfile` (asyncio's `loop.sendfile`, `loop.sock_sendfile` and
//! their `_sendfile_native` / `_sendfile_fallback` halves in `base_events.py`).
//!
//! The native path hands a [`fs::File`](crate::fs::File) to the host, which sends it with
//! `sendfile(2)`: the bytes go from the file to the socket inside the kernel. On the
//! default loop (completion mode) the host queues the file behind the transport's
//! buffered bytes and sends it on writability, reporting progress as it reports flushes;
//! on a `SelectorEventLoop` the transport calls the host's one-shot `send-file` itself
//! on writability, as asyncio's selector loop does. Any other source (a `std::fs::File`,
//! a `Cursor`) goes through the read-and-write fallback, chosen visibly (a debug log
//! line) unless `fallback` is `false`, which makes it `Error::SendfileNotAvailable`.
//!
//! As the seed says: after the call the file's position is `offset` plus the bytes sent,
//! even when the call failed.

use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::fs::File;
use crate::log::{self, Level};
use crate::net::Socket;
use crate::readiness::Direction;
use crate::sys::errors::Progress;
use crate::transports::{Transport, TransportInner};

/// The block size of the read-and-write fallback: each chunk is read from the file, then
/// written once the transport's buffer is under its high-water mark (asyncio reads 16 KiB
/// at a time; a larger block costs fewer crossings for the same flow control).
const FALLBACK_BLOCK: usize = 64 * 1024;

/// A file `sendfile` can send: anything readable and seekable. A [`fs::File`](File)
/// (a file of the workload's preopened directories) is sent natively by the host; others
/// (`std::fs::File`, `std::io::Cursor`, ...) are read and written by the fallback.
///
/// Bytes in memory go by the read-and-write fallback:
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop, transport: sandloop::Transport) -> sandloop::Result<()> {
/// let mut page = std::io::Cursor::new(b"HTTP/1.0 200 OK\r\n\r\nhello".to_vec());
/// let sent = lp.sendfile(&transport, &mut page, 0, None, true).await?;
/// assert_eq!(sent, 24);
/// # Ok(()) }
/// ```
pub trait SendfileSource: Read + Seek {
    /// The file as the host can send it natively, if it is one.
    fn host_file(&self) -> Option<&File> {
        None
    }
}

impl SendfileSource for File {
    fn host_file(&self) -> Option<&File> {
        Some(self)
    }
}

impl SendfileSource for std::fs::File {}

impl<T: AsRef<[u8]>> SendfileSource for io::Cursor<T> {}

/// asyncio's checks of `offset` and `count`: a count, when given, is positive.
fn check_params(count: Option<u64>) -> Result<()> {
    if count == Some(0) {
        return Err(Error::Os(io::Error::new(
            io::ErrorKind::InvalidInput,
            "count must be a positive integer (got 0)",
        )));
    }
    Ok(())
}

/// Puts the file's position at `pos`, after a native send (which does not move it).
fn set_position<F: SendfileSource + ?Sized>(file: &mut F, pos: u64) -> Result<()> {
    file.seek(SeekFrom::Start(pos))?;
    Ok(())
}

impl EventLoop {
    /// Sends `file` over `transport` (asyncio's `loop.sendfile`): from `offset`, `count`
    /// bytes (`None`: to the end of the file); returns the bytes sent.
    ///
    /// A [`fs::File`](File) on a host transport goes natively: the host's `sendfile(2)`
    /// sends it behind the bytes the transport buffers, and writes made meanwhile follow
    /// it. Other sources are read and written through the transport with its flow control
    /// when `fallback` is `true`, and are `Error::SendfileNotAvailable` when it is
    /// `false`. A closing transport is an error (`Runtime("Transport is closing")`), as
    /// is a failure of the connection while sending (the transport then closes).
    ///
    /// Afterwards the file's position is `offset` plus the bytes sent, even when the call
    /// failed (then it counts what the kernel took, which may be less than what reached
    /// the peer, never more). A `count` past the end of the file sends what there is.
    /// Cancelling the call does not take back a native segment the host already queued.
    ///
    /// ```no_run
    /// # async fn f(lp: sandloop::EventLoop, transport: sandloop::Transport) -> sandloop::Result<()> {
    /// let mut file = sandloop::fs::File::open("/www/big.iso")?;
    /// let sent = lp.sendfile(&transport, &mut file, 0, None, true).await?;
    /// # Ok(()) }
    /// ```
    pub async fn sendfile<F: SendfileSource + ?Sized>(
        &self,
        transport: &Transport,
        file: &mut F,
        offset: u64,
        count: Option<u64>,
        fallback: bool,
    ) -> Result<u64> {
        check_params(count)?;
        if transport.is_closing() {
            return Err(Error::Runtime("Transport is closing".into()));
        }
        if transport.inner.is_tls() {
            // The bytes must pass through the host's encryption: no sendfile(2).
            self.tls_fallback_allowed(fallback)?;
        } else if let Some(host_file) = file.host_file() {
            let (sent, result) = sendfile_native(&transport.inner, host_file, offset, count).await;
            set_position(file, offset + sent)?;
            return result.map(|()| sent);
        } else {
            self.fallback_allowed(fallback, "sendfile")?;
        }
        let inner = Rc::clone(&transport.inner);
        let (low_water, _) = transport.get_write_buffer_limits();
        sendfile_fallback(file, offset, count, move |chunk: Vec<u8>| {
            let inner = Rc::clone(&inner);
            let transport = Transport { inner };
            async move {
                // asyncio's `_SendfileFallbackProtocol.drain`: wait until the buffer is
                // down to the low-water mark (where a paused protocol would resume).
                while transport.inner.pending_writes(false) > low_water {
                    if let Some(err) = transport.inner.torn_down() {
                        return Err(err);
                    }
                    transport.inner.write_progress().await?;
                }
                if let Some(err) = transport.inner.torn_down() {
                    return Err(err);
                }
                if transport.is_closing() {
                    return Err(Error::Runtime("Transport is closing".into()));
                }
                transport.write(&chunk);
                Ok(())
            }
        })
        .await
    }

    /// Sends `file` over the connected stream socket `sock` (asyncio's
    /// `loop.sock_sendfile`): from `offset`, `count` bytes (`None`: to the end); returns
    /// the bytes sent. A [`fs::File`](File) goes with the host's `sendfile(2)`, one
    /// non-blocking call at a time, waiting for writability in between; other sources
    /// are read and sent with `sock_sendall` when `fallback` is `true`, and are
    /// `Error::SendfileNotAvailable` when it is `false`. The file's position afterwards is
    /// `offset` plus the bytes sent, even when the call failed.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
    /// let mut file = sandloop::fs::File::open("/www/big.iso")?;
    /// let sent = lp.sock_sendfile(&sock, &mut file, 0, None, true).await?;
    /// println!("{sent} bytes sent by the host's sendfile(2)");
    /// # Ok(()) }
    /// ```
    pub async fn sock_sendfile<F: SendfileSource + ?Sized>(
        &self,
        sock: &Socket,
        file: &mut F,
        offset: u64,
        count: Option<u64>,
        fallback: bool,
    ) -> Result<u64> {
        check_params(count)?;
        if let Some(host_file) = file.host_file() {
            let mut sent = 0u64;
            let result = loop {
                let left = count.map_or(u64::MAX, |c| c - sent);
                if left == 0 {
                    break Ok(());
                }
                match sock.with(|s| s.send_file(host_file.host(), offset + sent, left)) {
                    Ok(Progress::Done(0)) => break Ok(()),
                    Ok(Progress::Done(n)) => sent += n,
                    Ok(Progress::Pending) => {
                        if let Err(err) = self.wait_ready(sock, Direction::Write).await {
                            break Err(err);
                        }
                    }
                    Err(err) => break Err(err),
                }
            };
            set_position(file, offset + sent)?;
            return result.map(|()| sent);
        }
        self.fallback_allowed(fallback, "sock_sendfile")?;
        let lp = self.clone();
        let sock = sock.clone();
        sendfile_fallback(file, offset, count, move |chunk: Vec<u8>| {
            let lp = lp.clone();
            let sock = sock.clone();
            async move { lp.sock_sendall(&sock, &chunk).await }
        })
        .await
    }
}

impl EventLoop {
    /// The file has no native path: `Error::SendfileNotAvailable` unless `fallback`
    /// allows the read-and-write fallback, which debug mode logs.
    /// asyncio's rule for a TLS transport: native sendfile is unavailable, the fallback
    /// is taken (visibly, in debug mode) unless `fallback` is `false`.
    fn tls_fallback_allowed(&self, fallback: bool) -> Result<()> {
        if !fallback {
            return Err(Error::SendfileNotAvailable(
                "sendfile: the transport has TLS, whose bytes the host must encrypt".into(),
            ));
        }
        if self.get_debug() {
            log::log(
                Level::Debug,
                format_args!("sendfile: TLS transport, using the read-and-write fallback"),
            );
        }
        Ok(())
    }

    fn fallback_allowed(&self, fallback: bool, op: &str) -> Result<()> {
        if !fallback {
            return Err(Error::SendfileNotAvailable(
                "the file is not a sandloop::fs::File, which the host can send natively".into(),
            ));
        }
        if self.get_debug() {
            log::log(
                Level::Debug,
                format_args!("{op}: not a sandloop::fs::File, using the read-and-write fallback"),
            );
        }
        Ok(())
    }
}

/// The native half of `sendfile` on a transport: queues the file behind the buffered
/// bytes, then follows the write buffer's reports until it is empty. Returns the bytes of
/// the file sent (on failure, what the kernel took as far as the last report tells) and
/// the outcome.
async fn sendfile_native(
    inner: &Rc<TransportInner>,
    file: &File,
    offset: u64,
    count: Option<u64>,
) -> (u64, Result<()>) {
    // Queued small writes go to the host first: they were written before the file. So do
    // bytes the host refused (its limit on buffered bytes), once it has room for them.
    inner.pending_writes(true);
    while inner.refused_len() > 0 {
        if let Err(err) = inner.write_progress().await {
            return (0, Err(err));
        }
    }
    let queued = inner.with_io(|io| io.send_file(file, offset, count.unwrap_or(u64::MAX)));
    let (count, mut left) = match queued {
        Ok((count, buffered)) => {
            inner.set_buffered(buffered);
            (count, buffered)
        }
        Err(err) => {
            inner.write_failed(err.clone());
            return (0, Err(err));
        }
    };
    // What the buffer holds beyond the file (written before it) is sent first: the file
    // has gone as far as the buffer shrank below its own size.
    let sent = |left: u64| count - left.min(count);
    loop {
        if let Some(err) = inner.torn_down() {
            // A failed stream said what it left unsent; an aborted one discarded what the
            // last report counted.
            let left = inner.unsent_at_failure().map_or(left, |n| n as u64);
            return (sent(left), Err(err));
        }
        left = inner.pending_writes(false) as u64;
        if left == 0 {
            return (count, Ok(()));
        }
        if let Err(err) = inner.write_progress().await {
            let left = inner.unsent_at_failure().map_or(left, |n| n as u64);
            return (sent(left), Err(inner.torn_down().unwrap_or(err)));
        }
    }
}

/// The read-and-write fallback (asyncio's `_sendfile_fallback`): reads blocks from
/// `offset` and hands each to `write`, which waits as its transport's flow control
/// requires. The position ends at `offset` plus the bytes written, failure or not.
async fn sendfile_fallback<F, W, Fut>(
    file: &mut F,
    offset: u64,
    count: Option<u64>,
    mut write: W,
) -> Result<u64>
where
    F: SendfileSource + ?Sized,
    W: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    file.seek(SeekFrom::Start(offset))?;
    let mut sent = 0u64;
    let result = loop {
        let left = count.map_or(u64::MAX, |c| c - sent);
        if left == 0 {
            break Ok(());
        }
        let block = (FALLBACK_BLOCK as u64).min(left) as usize;
        let mut chunk = vec![0; block];
        let n = match file.read(&mut chunk) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => break Err(Error::Os(err)),
        };
        if n == 0 {
            break Ok(());
        }
        chunk.truncate(n);
        if let Err(err) = write(chunk).await {
            break Err(err);
        }
        sent += n as u64;
    };
    set_position(file, offset + sent)?;
    result.map(|()| sent)
}
