//! Completion-mode streams: the WIT `net.stream`, the fast path of stream transports.
//!
//! The host does a stream's I/O itself. When the socket is readable and reading is on,
//! the reactor's `wait` reads up to the stream's budget and returns the bytes inside the
//! event; a write is sent at once as far as the kernel takes it, and the rest is buffered
//! here and flushed by `wait` on writability. The guest loop hands its small writes to the
//! next `wait` (`stream-write`) rather than calling `write` for each, so a batch of
//! callbacks costs one crossing in all, not one per `recv`/`send` nor one per write.
//!
//! # Events
//!
//! `wait` reports at most one event per stream per batch, under the guest's token, and
//! only when there is something to say:
//! - `readable` with `data-len` bytes read, appended to the batch's `data` (never 0 when
//!   `readable` is set);
//! - `hangup` without `error`: the peer's end of stream (a zero-byte read), reported once;
//!   reading stops;
//! - `writable`: the host flushed buffered bytes; `write-buffered` tells how many remain
//!   (0: everything was sent, and a requested `write-eof` has been done); the unsent part
//!   of file segments queued by `send-file` counts as buffered (see `super::sendfile`);
//! - `error` (with `hangup`): the failure that ended the stream; the socket is no longer
//!   watched and what was buffered is discarded (`write-buffered` says how much that was,
//!   so a `sendfile` learns how far its file went).
//!
//! One event can carry several of these (data read just before the end of stream, for
//! example): the guest handles `data` first, then `hangup` or `error`. `write-buffered`
//! is always the current count.
//!
//! # Registration
//!
//! mio is edge-triggered. A stream is registered with the interest it needs now:
//! readable while reading is on and the end was not seen, writable while bytes are
//! buffered; with neither it is deregistered (mio refuses empty interests). Changing the
//! interest re-registers, which makes the kernel re-check readiness, so data that arrived
//! while reading was off is reported as soon as reading is back on. A read that stopped at
//! the budget, before the kernel said "would block", leaves data behind with no new edge
//! coming: the reactor re-arms such a stream before its next wait.

mod endpoint;
// The limit on host-buffered bytes (issue 8).
pub(crate) mod room;
// TLS (issue 7): the rustls layer `tls.start` puts into a stream.
pub(crate) mod tls;

use std::io;
use std::net::SocketAddr;

use mio::unix::SourceFd;
use wasmtime::component::{Resource, ResourceTable};

use super::sendfile::{Advance, FileSegment, Outgoing};
use super::{Socket, options, socket};
use crate::bindings::net::{OptionName, SocketOption, Written};
use crate::bindings::reactor::{Event, Interest};
use crate::bindings::types::Address;
use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::fs::Pipe;
use crate::reactor::{self, Reactor, TokenKind};
use endpoint::Endpoint;
use room::Room;

/// The largest read budget of a stream (a larger one is lowered to this).
pub const MAX_READ_BUDGET: usize = 1 << 20;

/// The most bytes one `wait` carries in the events of all its streams together: a batch
/// stays a bounded copy however many streams are ready. A stream that could not read
/// because the batch was full is reported by the next wait.
pub const MAX_BATCH_DATA: usize = 1 << 20;

/// The first allocation of a read; it grows (doubling) up to the budget when the socket
/// has more. Small messages then cost a small allocation.
const FIRST_READ_CAPACITY: usize = 16 << 10;

/// A write buffer that keeps its allocation while bytes come and go.
const KEPT_WRITE_CAPACITY: usize = 64 << 10;

/// A connected stream socket (or a pipe end) whose I/O the host does: the WIT
/// `net.stream`.
///
/// Made by `stream.open` from a [`Socket`], or by `fs.open-stream` from a [`Pipe`];
/// dropping it deregisters it from the reactor and closes the socket, discarding what is
/// still buffered (a transport's `abort`).
pub struct Stream {
    io: Endpoint,
    /// The guest's token for this stream's events.
    token: u64,
    /// The stream's `ResourceTable` index: its mio token is made from it.
    rep: u32,
    /// The peer, for error messages (after a reset the kernel no longer knows it).
    peer: Option<SocketAddr>,
    read_budget: usize,
    /// The guest wants data (`set-reading`).
    reading: bool,
    /// The end of the peer's stream was reported: nothing more to read.
    read_closed: bool,
    write_buffer: WriteBuffer,
    /// What goes after `write_buffer` once a file segment is queued (`send-file`).
    outgoing: Outgoing,
    write_eof: WriteEof,
    /// The failure that ended the stream, once it happened.
    failure: Option<Error>,
    /// The interest the socket is registered with, `None` when not registered.
    registered: Option<mio::Interest>,
    /// A write done by `wait` left bytes buffered or refused some: the batch must report
    /// the count.
    report_buffer: bool,
    /// The bytes of the current batch's writes refused under the limit on host-buffered
    /// bytes, for the stream's next event; once some were, the batch's later writes to
    /// the stream are refused whole, so that the guest keeps one run of bytes.
    refused: u64,
    /// The TLS session once `tls.start` was called (see [`tls`]).
    tls: Option<Box<tls::Session>>,
}

/// Where the write side stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteEof {
    /// Writes are accepted.
    Open,
    /// `write-eof` was called: shut the write side down once the buffer is flushed.
    Requested,
    /// The write side is shut down.
    Done,
}

/// What a `wait` made of one readiness event of a stream.
pub(crate) struct Readiness {
    /// The event for the guest, if there is anything to report.
    pub(crate) event: Option<Event>,
    /// The read stopped at a limit with data maybe left: re-arm before the next wait.
    pub(crate) rearm: bool,
    /// The stream holds input it read (TLS) that no kernel edge will announce: serve it
    /// at the next wait without waiting (see [`Stream::on_held`]).
    pub(crate) held: bool,
}

/// What the kernel reported of a stream (or, for held input, what the host assumes).
#[derive(Clone, Copy)]
struct Ready {
    readable: bool,
    writable: bool,
    /// An error or a hangup: read to the end, and try the write that will fail.
    trouble: bool,
}

/// How a read on readiness ended.
enum ReadEnd {
    /// The kernel had no more ("would block"): the next edge will come.
    Drained,
    /// The budget or the batch's room ran out first: data may be left.
    Stopped,
    /// The peer ended its stream.
    Eof,
    /// Reading failed.
    Failed(Error),
}

impl Stream {
    fn new(io: Endpoint, peer: Option<SocketAddr>, token: u64, read_budget: u32) -> Stream {
        Stream {
            // A pipe's write end has nothing to read: it starts as if at the end.
            read_closed: !io.can_read(),
            io,
            token,
            rep: 0,
            peer,
            read_budget: (read_budget as usize).clamp(1, MAX_READ_BUDGET),
            reading: true,
            write_buffer: WriteBuffer::default(),
            outgoing: Outgoing::default(),
            write_eof: WriteEof::Open,
            failure: None,
            registered: None,
            report_buffer: false,
            refused: 0,
            tls: None,
        }
    }

    /// `stream.open`: a stream over a connected stream socket the guest hands over (it is
    /// closed if it cannot become a stream).
    pub(crate) fn open(socket: Socket, token: u64, read_budget: u32) -> Result<Stream, Error> {
        let (socket, known_peer, accepted) = socket.into_parts();
        let peer = match socket.peer_addr() {
            Ok(peer) => known_peer.or(peer.as_socket()),
            // A connection its peer reset while it waited in the accept queue: still a
            // stream, whose first read reports the reset (and the loop treats that as
            // routine, as asyncio does), not a failure to open one.
            Err(err) if accepted && err.raw_os_error() == Some(libc::ENOTCONN) => known_peer,
            Err(err) => {
                return Err(io_error_untargeted(
                    "open a stream: the socket is not connected",
                    &err,
                ));
            }
        };
        if !matches!(socket.r#type(), Ok(ty) if ty == socket2::Type::STREAM) {
            return Err(error(
                ErrorKind::InvalidInput,
                "open a stream: the socket is not a stream socket",
            ));
        }
        Ok(Stream::new(
            Endpoint::Socket(socket),
            peer,
            token,
            read_budget,
        ))
    }

    /// A stream over one end of a pipe (`fs.open-stream`): a read end reads as a socket
    /// does; a write end is watched for its reader closing, buffered bytes or not.
    pub(crate) fn for_pipe(pipe: Pipe, token: u64, read_budget: u32) -> Stream {
        Stream::new(Endpoint::Pipe(pipe), None, token, read_budget)
    }

    /// `stream.id`: the stream's table index, which names it in `wait`'s writes.
    pub(crate) fn id(&self) -> u32 {
        self.rep
    }

    pub(crate) fn set_option(&self, opt: SocketOption) -> Result<(), Error> {
        options::set(self.io.socket("set-option")?, opt)
    }

    pub(crate) fn get_option(&self, name: OptionName) -> Result<SocketOption, Error> {
        options::get(self.io.socket("get-option")?, name)
    }

    pub(crate) fn local_address(&self) -> Result<Address, Error> {
        socket::local_address(self.io.socket("local-address")?)
    }

    pub(crate) fn peer_address(&self) -> Result<Address, Error> {
        socket::peer_address(self.io.socket("peer-address")?)
    }

    /// The bytes buffered for writing.
    pub fn write_buffered(&self) -> usize {
        let wire = self.tls.as_ref().map_or(0, |tls| tls.wire_len());
        self.write_buffer.len() + self.outgoing.len() as usize + wire
    }

    /// The bytes buffered for writing that are in the host's memory: what the limit on
    /// host-buffered bytes counts (queued file segments are on disk, and do not).
    pub(crate) fn memory_buffered(&self) -> usize {
        let wire = self.tls.as_ref().map_or(0, |tls| tls.wire_len());
        self.write_buffer.len() + self.outgoing.memory_len() as usize + wire
    }

    /// Whether anything waits to be sent: buffered bytes or queued file segments.
    fn has_pending(&self) -> bool {
        !self.write_buffer.is_empty() || !self.outgoing.is_empty()
    }

    /// The interest the stream needs now.
    fn wanted_interest(&self) -> Option<mio::Interest> {
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
    fn sync_interest(&mut self, registry: &mio::Registry, force: bool) -> io::Result<()> {
        let wanted = self.wanted_interest();
        if wanted == self.registered && !force {
            return Ok(());
        }
        let fd = self.io.as_raw_fd();
        let mut source = SourceFd(&fd);
        let token = reactor::token(TokenKind::Stream, self.rep);
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
    fn fail(&mut self, failure: Error, registry: &mio::Registry) {
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

    /// Does the I/O one readiness event allows and says what to report.
    ///
    /// The bytes read are appended to `data`, the batch's bytes; `room` is what is left of
    /// the batch's byte cap, and they are taken from it.
    pub(crate) fn on_ready(
        &mut self,
        event: &mio::event::Event,
        registry: &mio::Registry,
        data: &mut Vec<u8>,
        room: &mut usize,
    ) -> Readiness {
        let trouble = event.is_error() || event.is_read_closed() || event.is_write_closed();
        let ready = Ready {
            readable: event.is_readable(),
            writable: event.is_writable(),
            trouble,
        };
        self.serve(ready, registry, data, room)
    }

    /// Serves a stream that holds input no kernel event will announce (TLS plaintext the
    /// read budget left behind), as if its socket were readable.
    pub(crate) fn on_held(
        &mut self,
        registry: &mio::Registry,
        data: &mut Vec<u8>,
        room: &mut usize,
    ) -> Readiness {
        let ready = Ready {
            readable: true,
            writable: false,
            trouble: false,
        };
        self.serve(ready, registry, data, room)
    }

    /// Does the I/O `ready` allows and says what to report.
    fn serve(
        &mut self,
        ready: Ready,
        registry: &mio::Registry,
        data: &mut Vec<u8>,
        room: &mut usize,
    ) -> Readiness {
        let mut readiness = Interest::empty();
        let start = data.len();
        let mut failure = None;
        let mut rearm = false;
        let trouble = ready.trouble;

        if self.tls.is_some() && self.failure.is_none() {
            (readiness, failure, rearm) = self.tls_io(ready.readable, trouble, data, room);
        } else if self.failure.is_none()
            && self.reading
            && !self.read_closed
            && (ready.readable || trouble)
        {
            let end = self.read_ready(data, room, trouble);
            failure = self.settle_read(end, &mut readiness, &mut rearm);
            if data.len() > start {
                readiness |= Interest::READABLE;
            }
        }

        if self.tls.is_none()
            && self.failure.is_none()
            && failure.is_none()
            && self.has_pending()
            && (ready.writable || trouble)
        {
            match self.flush() {
                Ok(0) => {}
                Ok(_) => readiness |= Interest::WRITABLE,
                Err(err) => failure = Some(err),
            }
        }

        if failure.is_none() && self.failure.is_none() && trouble && self.io.is_pipe_writer() {
            // epoll reports an error on a pipe's write end once its reader is gone: no
            // write can succeed any more, buffered bytes or not.
            failure = Some(self.io.reader_gone());
        }

        let unsent = self.write_buffered();
        match failure {
            Some(ref err) => {
                self.fail(err.clone(), registry);
                readiness |= Interest::HANGUP;
            }
            None => {
                if let Err(err) = self.sync_interest(registry, false) {
                    let err = io_error_untargeted("stream: update the registration", &err);
                    self.fail(err.clone(), registry);
                    failure = Some(err);
                    readiness |= Interest::HANGUP;
                }
            }
        }

        let held = self.holds_input();
        if readiness == Interest::empty() {
            return Readiness {
                event: None,
                rearm,
                held,
            };
        }
        // The event carries the current count, which is all a batched write must report.
        self.report_buffer = false;
        Readiness {
            event: Some(Event {
                token: self.token,
                readiness,
                data_len: (data.len() - start) as u32,
                write_buffered: match failure {
                    Some(_) => unsent as u64,
                    None => self.write_buffered() as u64,
                },
                write_refused: std::mem::take(&mut self.refused),
                // Until the reactor speaks the domain's events (the next step).
                error: failure.map(Into::into),
            }),
            rearm,
            held,
        }
    }

    /// What the end of a read on readiness means for the event: a re-arm (data may be
    /// left), the end of the stream, or the failure it returns.
    fn settle_read(
        &mut self,
        end: ReadEnd,
        readiness: &mut Interest,
        rearm: &mut bool,
    ) -> Option<Error> {
        match end {
            ReadEnd::Drained => None,
            ReadEnd::Stopped => {
                *rearm = true;
                None
            }
            ReadEnd::Eof => {
                self.read_closed = true;
                *readiness |= Interest::HANGUP;
                None
            }
            ReadEnd::Failed(err) => Some(err),
        }
    }

    /// Reads, appending to `data`, until the kernel has no more, the end of stream, an
    /// error, or the budget (or the batch's room) is used up.
    ///
    /// A read that returns less than it asked for took everything the socket held, so it
    /// ends the reading without a second `recv` to hear "would block" (tokio does the
    /// same): data arriving later makes a new edge. Unless `to_end`: the event said the
    /// peer closed, and its end of stream must be read now, as no edge will announce it.
    fn read_ready(&mut self, data: &mut Vec<u8>, room: &mut usize, to_end: bool) -> ReadEnd {
        let limit = self.read_budget.min(*room);
        if limit == 0 {
            return ReadEnd::Stopped;
        }
        let start = data.len();
        data.reserve(limit.min(FIRST_READ_CAPACITY));
        loop {
            let left = limit - (data.len() - start);
            if left == 0 {
                return ReadEnd::Stopped;
            }
            if data.len() == data.capacity() {
                // Double, up to the limit.
                data.reserve((data.len() - start).min(left));
            }
            let asked = (data.capacity() - data.len()).min(left);
            match self.io.read_into(data, left, self.peer) {
                Ok(0) => return ReadEnd::Eof,
                Ok(n) => {
                    *room -= n;
                    if n < asked && !to_end {
                        return ReadEnd::Drained;
                    }
                }
                Err(err) if err.kind == ErrorKind::WouldBlock => return ReadEnd::Drained,
                Err(err) => return ReadEnd::Failed(err),
            }
        }
    }

    /// Sends buffered bytes until the kernel takes no more or the buffer is empty; then
    /// does a requested `write-eof`. Returns how many bytes were sent.
    fn flush(&mut self) -> Result<usize, Error> {
        let mut flushed = 0;
        loop {
            self.flush_bytes(&mut flushed)?;
            if !self.write_buffer.is_empty() || self.outgoing.is_empty() {
                break;
            }
            // The bytes ahead are sent: the file segments (and the bytes after them) go.
            let advanced = self
                .outgoing
                .advance(self.io.as_raw_fd(), &mut flushed)
                .map_err(|err| self.io.sendfile_error(&err, self.peer))?;
            match advanced {
                Advance::Bytes(bytes) => self.write_buffer.push(bytes, 0),
                Advance::Blocked | Advance::Done => break,
            }
        }
        if !self.has_pending() && self.write_eof == WriteEof::Requested {
            self.shutdown_write()?;
        }
        Ok(flushed)
    }

    /// Sends buffered bytes until the kernel takes no more or the buffer is empty, adding
    /// the bytes sent to `flushed`.
    fn flush_bytes(&mut self, flushed: &mut usize) -> Result<(), Error> {
        while !self.write_buffer.is_empty() {
            // A stream socket or a pipe takes at least one byte or says "would block"
            // (a zero here); never spin on a zero.
            match self.io.write(self.write_buffer.pending(), self.peer)? {
                0 => break,
                n => {
                    self.write_buffer.consume(n);
                    *flushed += n;
                }
            }
        }
        Ok(())
    }

    fn shutdown_write(&mut self) -> Result<(), Error> {
        self.write_eof = WriteEof::Done;
        self.io.shutdown_write(self.peer)
    }

    /// The error of a call on a stream that already failed.
    fn failed(&self, op: &str) -> Option<Error> {
        self.failure.as_ref().map(|failure| {
            error(
                failure.kind,
                format!("{op}: the stream already failed: {}", failure.message),
            )
        })
    }

    /// `write`: sends at once what the kernel takes and buffers what `room` lets it of the
    /// rest (taking `data` itself when the buffer is empty, so buffering costs no second
    /// copy).
    fn write(
        &mut self,
        mut data: Vec<u8>,
        registry: &mio::Registry,
        room: &mut Room,
    ) -> Result<Written, Error> {
        let sent = self.send_now(&data, registry)?;
        let kept = room.take(data.len() - sent);
        if kept > 0 {
            data.truncate(sent + kept);
            if self.outgoing.is_empty() {
                self.write_buffer.push(data, sent);
            } else {
                self.outgoing.push_bytes(&data[sent..]);
            }
        }
        self.buffered(sent + kept, kept, registry)
    }

    /// `write` of bytes that stay the caller's (a write `wait` does).
    fn write_slice(
        &mut self,
        data: &[u8],
        registry: &mio::Registry,
        room: &mut Room,
    ) -> Result<Written, Error> {
        let sent = self.send_now(data, registry)?;
        let kept = room.take(data.len() - sent);
        if kept > 0 {
            let rest = &data[sent..sent + kept];
            if self.outgoing.is_empty() {
                self.write_buffer.push_slice(rest);
            } else {
                self.outgoing.push_bytes(rest);
            }
        }
        self.buffered(sent + kept, kept, registry)
    }

    /// After a write that took `taken` bytes, `kept` of them buffered: has the buffer
    /// flushed on writability (and, with TLS, sealed now) and says what the write did.
    fn buffered(
        &mut self,
        taken: usize,
        kept: usize,
        registry: &mio::Registry,
    ) -> Result<Written, Error> {
        if kept > 0 {
            if self.tls.is_some() {
                self.tls_flush_now(registry)?;
            }
            self.watch_writability(registry)?;
        }
        Ok(Written {
            taken: taken as u64,
            buffered: self.write_buffered() as u64,
        })
    }

    /// The checks of a write, and the send of as much of `data` as the kernel takes now
    /// (nothing if bytes are buffered already, which go first). Returns the bytes sent.
    fn send_now(&mut self, data: &[u8], registry: &mio::Registry) -> Result<usize, Error> {
        if let Some(err) = self.failed("write") {
            return Err(err);
        }
        if self.write_eof != WriteEof::Open {
            return Err(error(
                ErrorKind::BrokenPipe,
                "write: the stream's write side is closed (write-eof was called)",
            ));
        }
        // With TLS every byte goes through the buffer to rustls (`tls::Session`).
        if data.is_empty() || self.has_pending() || self.tls.is_some() {
            return Ok(0);
        }
        self.io.write(data, self.peer).inspect_err(|err| {
            self.fail(err.clone(), registry);
        })
    }

    /// Watches for writability after bytes were buffered.
    fn watch_writability(&mut self, registry: &mio::Registry) -> Result<(), Error> {
        self.sync_interest(registry, false).map_err(|err| {
            let err = io_error_untargeted("write: watch for writability", &err);
            self.fail(err.clone(), registry);
            err
        })
    }

    /// A write queued by the guest and done by `wait`: what `write` does, with the outcome
    /// reported in the batch. Returns the event of a failure; when bytes stay buffered or
    /// were refused, returns `None` and marks the stream for [`Stream::buffer_event`].
    pub(crate) fn batched_write(
        &mut self,
        data: &[u8],
        registry: &mio::Registry,
        room: &mut Room,
    ) -> Option<Event> {
        if self.refused > 0 {
            // A write ahead of this one was refused in part: this one goes after it.
            self.refused += data.len() as u64;
            return None;
        }
        match self.write_slice(data, registry, room) {
            Ok(written) => {
                self.refused = data.len() as u64 - written.taken;
                if written.buffered > 0 || self.refused > 0 {
                    self.report_buffer = true;
                }
                None
            }
            Err(err) => Some(Event {
                token: self.token,
                readiness: Interest::HANGUP,
                data_len: 0,
                write_buffered: self.write_buffered() as u64,
                write_refused: 0,
                error: Some(err.into()),
            }),
        }
    }

    /// Whether a batched write left something to report: bytes buffered, or refused.
    pub(crate) fn must_report(&self) -> bool {
        self.report_buffer
    }

    /// Whether the current batch's writes to the stream were refused in part.
    pub(crate) fn has_refused(&self) -> bool {
        self.refused > 0
    }

    /// Whether bytes were refused while the stream buffers nothing, so that no flush of
    /// its own will announce room: the stream starves (see [`room`]).
    pub(crate) fn starving(&self, refused: bool) -> bool {
        refused && self.write_buffered() == 0 && self.failure.is_none()
    }

    /// The event that reports the bytes a batched write left buffered (or refused), unless
    /// an event of this batch already carried the count.
    pub(crate) fn buffer_event(&mut self) -> Option<Event> {
        if !std::mem::take(&mut self.report_buffer) {
            return None;
        }
        Some(Event {
            token: self.token,
            readiness: Interest::WRITABLE,
            data_len: 0,
            write_buffered: self.write_buffered() as u64,
            write_refused: std::mem::take(&mut self.refused),
            error: None,
        })
    }

    /// The event of a starved stream that has room again: `writable`, with the count;
    /// `None` once the stream failed (its failure was reported).
    pub(crate) fn room_event(&self) -> Option<Event> {
        self.failure.is_none().then(|| Event {
            token: self.token,
            readiness: Interest::WRITABLE,
            data_len: 0,
            write_buffered: self.write_buffered() as u64,
            write_refused: 0,
            error: None,
        })
    }

    /// `write-eof`: shuts the write side down now, or after the buffer is flushed. With
    /// TLS, `close_notify` goes after the buffer, then the write side is shut down.
    pub(crate) fn write_eof(&mut self, registry: &mio::Registry) -> Result<(), Error> {
        if let Some(err) = self.failed("write-eof") {
            return Err(err);
        }
        if self.write_eof != WriteEof::Open {
            return Ok(());
        }
        if self.tls.is_some() {
            self.write_eof = WriteEof::Requested;
            self.tls_flush_now(registry)?;
            return self.watch_writability(registry);
        }
        // A pipe has no write side to shut down: say so now, not after the flush.
        self.io.socket("write-eof")?;
        if !self.has_pending() {
            self.shutdown_write()
        } else {
            self.write_eof = WriteEof::Requested;
            Ok(())
        }
    }

    /// `send-file`: queues `segment` behind what is buffered. Nothing is sent here, even
    /// when nothing is ahead: watching for writability makes the kernel report the socket
    /// at once if it is writable, and `wait` sends then, so that every byte sent is in an
    /// event's count (a failure here would lose what went before it). Returns the bytes
    /// buffered afterwards.
    pub(crate) fn send_file(
        &mut self,
        segment: FileSegment,
        registry: &mio::Registry,
    ) -> Result<u64, Error> {
        if let Some(err) = self.failed("send-file") {
            return Err(err);
        }
        if self.tls.is_some() {
            return Err(error(
                ErrorKind::Unsupported,
                "send-file over TLS: the host must encrypt the bytes; use the read-and-write \
                 fallback",
            ));
        }
        if self.write_eof != WriteEof::Open {
            return Err(error(
                ErrorKind::BrokenPipe,
                "send-file: the stream's write side is closed (write-eof was called)",
            ));
        }
        self.outgoing.push_file(segment);
        self.watch_writability(registry)?;
        Ok(self.write_buffered() as u64)
    }

    /// `set-reading`. TLS input read while the guest paused waits in the host, where no
    /// kernel edge will announce it: the reactor is told to serve it.
    pub(crate) fn set_reading(&mut self, on: bool, reactor: &mut Reactor) -> Result<(), Error> {
        self.reading = on;
        let result = if self.failure.is_some() {
            Ok(())
        } else {
            self.sync_interest(reactor.registry(), false)
                .map_err(|err| io_error_untargeted("set-reading", &err))
        };
        if self.holds_input() {
            reactor.hold(self.rep);
        }
        result
    }
}

/// Bytes waiting to be sent: a vector and the offset of the first unsent byte, so that
/// sending a prefix costs no move; compacted when it is consumed.
#[derive(Default)]
struct WriteBuffer {
    bytes: Vec<u8>,
    start: usize,
}

impl WriteBuffer {
    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Appends `data[sent..]`. When the buffer is empty it takes `data` itself (the copy
    /// the guest's call already made), so buffering costs no second copy.
    fn push(&mut self, data: Vec<u8>, sent: usize) {
        if self.is_empty() {
            self.bytes = data;
            self.start = sent;
            return;
        }
        self.push_slice(&data[sent..]);
    }

    /// Appends a copy of `data`.
    fn push_slice(&mut self, data: &[u8]) {
        if self.start > self.bytes.len() / 2 {
            // Most of the vector is sent bytes: move the rest to the front first.
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.bytes.len() {
            self.clear();
        }
    }

    /// Empties the buffer, keeping a modest allocation for the next bytes.
    fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
        if self.bytes.capacity() > KEPT_WRITE_CAPACITY {
            self.bytes.shrink_to(KEPT_WRITE_CAPACITY);
        }
    }
}

/// `stream.write`, made at once (the guest's large writes; small ones ride in the next
/// `wait`): see [`Stream::write`]. A stream that refused bytes with nothing of its own
/// buffered starves until the instance has room again (see [`room`]).
pub(crate) fn write_now(
    reactor: &mut Reactor,
    table: &mut ResourceTable,
    stream: &Resource<Stream>,
    data: Vec<u8>,
) -> wasmtime::Result<Result<Written, Error>> {
    let len = data.len() as u64;
    let mut room = reactor.buffers.room(table);
    let registry = reactor.registry();
    let stream = table.get_mut(stream)?;
    let written = stream.write(data, registry, &mut room);
    if let Ok(w) = &written
        && stream.starving(w.taken < len)
    {
        reactor.buffers.starve(stream.rep);
    }
    Ok(written)
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
        let err = io_error_untargeted(&format!("{op}: register with the reactor"), &err);
        table.delete(stream)?;
        return Ok(Err(err));
    }
    Ok(Ok(stream))
}

#[cfg(test)]
mod tests;
