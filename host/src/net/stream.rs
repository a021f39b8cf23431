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
//!
//! # The files
//!
//! The reactor knows a stream only as a `Completion`: it serves it one `Turn` at a
//! time, and `Stream::serve` here dispatches each (the stream's every event is built by
//! `Stream::event`). `read.rs` holds the reads on readiness, `write.rs` the one write
//! path (buffering, flushing, `write-eof`, `send-file`), `interest.rs` the registration,
//! `endpoint.rs` what is under the stream (a socket or a pipe end), `tls.rs` the rustls
//! layer.

mod endpoint;
mod interest;
mod read;
// TLS (issue 7): the rustls layer `tls.start` puts into a stream.
pub(crate) mod tls;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;

use super::address::Address;
use super::options::{self, OptionName, SocketOption};
use super::sendfile::Outgoing;
use super::{Socket, socket};
use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::fs::Pipe;
use crate::reactor::{BatchOut, Completion, Event, Follow, Interest, Reactor, Ready, Turn};
use crate::stats::Counters;
use endpoint::Endpoint;
pub(crate) use interest::install;
use read::ReadEnd;
use write::WriteBuffer;
pub(crate) use write::{Written, write_now};

/// The largest read budget of a stream (a larger one is lowered to this).
pub const MAX_READ_BUDGET: usize = 1 << 20;

pub use crate::reactor::MAX_BATCH_DATA;

/// The least a read asks the kernel for, and what a stream's first read asks (see
/// `read.rs`: later reads ask twice what the last one took, so that they follow the
/// message size).
const MIN_READ_SIZE: usize = 4 << 10;

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
    /// What the next read asks the kernel for first: twice what the last read took (see
    /// `read.rs`).
    read_size: usize,
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
            read_size: MIN_READ_SIZE,
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
    /// closed if it cannot become a stream), whose bytes count in `stats`.
    pub(crate) fn open(
        socket: Socket,
        token: u64,
        read_budget: u32,
        stats: &Arc<Counters>,
    ) -> Result<Stream, Error> {
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
            Endpoint::Socket(socket, Arc::clone(stats)),
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

    /// The error of a call on a stream that already failed.
    fn failed(&self, op: &str) -> Option<Error> {
        self.failure.as_ref().map(|failure| {
            error(
                failure.kind,
                format!("{op}: the stream already failed: {}", failure.message),
            )
        })
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

    /// Does the I/O `ready` allows and reports it in `batch` (at most one event).
    fn serve_ready(
        &mut self,
        ready: Ready,
        registry: &mio::Registry,
        batch: &mut BatchOut,
    ) -> Follow {
        let BatchOut {
            data,
            data_room: room,
            ..
        } = batch;
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

        let follow = Follow {
            rearm,
            hold: self.holds_input(),
            ..Follow::default()
        };
        if readiness == Interest::empty() {
            return follow;
        }
        // The event carries the current count, which is all a batched write must report.
        self.report_buffer = false;
        let data_len = (data.len() - start) as u32;
        let write_buffered = match failure {
            Some(_) => unsent as u64,
            None => self.write_buffered() as u64,
        };
        let event = self.event(readiness, data_len, write_buffered, failure);
        batch.push(event);
        follow
    }

    /// The event of this stream under its token: every event a stream reports is built
    /// here. It carries what the batch's writes had refused, reported once.
    fn event(
        &mut self,
        readiness: Interest,
        data_len: u32,
        write_buffered: u64,
        error: Option<Error>,
    ) -> Event {
        Event {
            token: self.token,
            readiness,
            data_len,
            write_buffered,
            write_refused: std::mem::take(&mut self.refused),
            error,
        }
    }

    /// The end of a batch: the event that reports the bytes its writes left buffered (or
    /// refused), unless an event of the batch already carried the count.
    fn report_written(&mut self, batch: &mut BatchOut) {
        if !std::mem::take(&mut self.report_buffer) {
            return;
        }
        let buffered = self.write_buffered() as u64;
        let event = self.event(Interest::WRITABLE, 0, buffered, None);
        batch.push(event);
    }

    /// A starved stream that has room again: `writable`, with the count; nothing once the
    /// stream failed (its failure was reported).
    fn report_room(&mut self, batch: &mut BatchOut) {
        if self.failure.is_some() {
            return;
        }
        let buffered = self.write_buffered() as u64;
        let event = self.event(Interest::WRITABLE, 0, buffered, None);
        batch.announce_room(event);
    }
}

impl Completion for Stream {
    fn serve(&mut self, turn: Turn<'_>, registry: &mio::Registry, batch: &mut BatchOut) -> Follow {
        match turn {
            Turn::Write(data) => self.write_queued(data, registry, batch),
            Turn::Ready(ready) => self.serve_ready(ready, registry, batch),
            Turn::Held => self.serve_ready(Ready::HELD, registry, batch),
            Turn::Written => {
                self.report_written(batch);
                Follow::default()
            }
            Turn::Fed => {
                self.report_room(batch);
                Follow::default()
            }
        }
    }

    fn rearm(&mut self, registry: &mio::Registry) {
        Stream::rearm(self, registry);
    }

    fn memory_buffered(&self) -> usize {
        Stream::memory_buffered(self)
    }
}

#[cfg(test)]
mod tests;
