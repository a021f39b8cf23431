//! A stream's write path, one for every write: sent at once as far as the kernel takes
//! it, the rest buffered (under the limit on host-buffered bytes, see
//! `crate::reactor::room`) and flushed by `wait` on writability; then `write-eof` and
//! `send-file`, which queue behind what is buffered.
//!
//! The guest's writes come two ways: a large one at once (`stream.write`, [`write_now`]),
//! the small ones queued for the next `wait` (`stream-write`), which hands each to the
//! stream as a [`Turn::Write`](crate::reactor::Turn); both go through [`Stream::write`].
//! Bytes the limit refused are the guest's to write again: a queued write reports them in
//! the stream's next event (`write-refused`), a write made at once in what it returns.

use std::borrow::Cow;

use wasmtime::component::{Resource, ResourceTable};

use super::{KEPT_WRITE_CAPACITY, Stream, WriteEof};
use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::net::sendfile::{Advance, FileSegment};
use crate::reactor::room::Room;
use crate::reactor::{BatchOut, Follow, Interest, Reactor, buffered};

/// What a write did: the bytes it took (sent or buffered; the rest was refused under the
/// limit), and what the stream buffers afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) taken: u64,
    pub(crate) buffered: u64,
}

impl Stream {
    /// `write`: sends at once what the kernel takes and buffers what `room` lets it of the
    /// rest. `data` is the guest's bytes: borrowed from the guest's memory (`stream.write`,
    /// a wait's `write-data`: see `crate::guest_bytes`), so that only what is buffered is
    /// copied; owned when a caller made a copy of its own, which an empty buffer takes as
    /// it is.
    pub(crate) fn write(
        &mut self,
        data: Cow<'_, [u8]>,
        registry: &mio::Registry,
        room: &mut Room,
    ) -> Result<Written, Error> {
        let sent = self.send_now(&data, registry)?;
        let kept = room.take(data.len() - sent);
        if kept > 0 {
            if !self.outgoing.is_empty() {
                self.outgoing.push_bytes(&data[sent..sent + kept]);
            } else {
                match data {
                    Cow::Owned(mut data) => {
                        data.truncate(sent + kept);
                        self.write_buffer.push(data, sent);
                    }
                    Cow::Borrowed(data) => self.write_buffer.push_slice(&data[sent..sent + kept]),
                }
            }
        }
        self.buffered(sent + kept, kept, registry)
    }

    /// A write the guest queued for this wait ([`Turn::Write`](crate::reactor::Turn)):
    /// what [`Stream::write`] does, with the outcome reported in the batch. A failure is
    /// an event now; bytes left buffered or refused are reported at the batch's end. Once
    /// some bytes of the batch's writes were refused, its later writes to the stream are
    /// refused whole, so that the guest keeps one run of bytes.
    pub(super) fn write_queued(
        &mut self,
        data: &[u8],
        registry: &mio::Registry,
        batch: &mut BatchOut,
    ) -> Follow {
        if self.refused > 0 {
            // A write ahead of this one was refused in part: this one goes after it.
            self.refused += data.len() as u64;
        } else {
            match self.write(Cow::Borrowed(data), registry, &mut batch.write_room) {
                Ok(written) => {
                    self.refused = data.len() as u64 - written.taken;
                    if written.buffered > 0 || self.refused > 0 {
                        self.report_buffer = true;
                    }
                }
                Err(err) => {
                    let unsent = self.write_buffered() as u64;
                    let event = self.event(Interest::HANGUP, 0, unsent, Some(err));
                    batch.push(event);
                }
            }
        }
        Follow {
            report: self.report_buffer,
            starve: self.starving(self.refused > 0),
            ..Follow::default()
        }
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
    pub(super) fn watch_writability(&mut self, registry: &mio::Registry) -> Result<(), Error> {
        self.sync_interest(registry, false).map_err(|err| {
            let err = io_error_untargeted("write: watch for writability", &err);
            self.fail(err.clone(), registry);
            err
        })
    }

    /// Whether bytes were refused while the stream buffers nothing, so that no flush of
    /// its own will announce room: the stream starves (see [`room`]).
    fn starving(&self, refused: bool) -> bool {
        refused && self.write_buffered() == 0 && self.failure.is_none()
    }

    /// Sends buffered bytes until the kernel takes no more or the buffer is empty; then
    /// does a requested `write-eof`. Returns how many bytes were sent.
    pub(super) fn flush(&mut self) -> Result<usize, Error> {
        let mut flushed = 0;
        loop {
            self.flush_bytes(&mut flushed)?;
            if !self.write_buffer.is_empty() || self.outgoing.is_empty() {
                break;
            }
            // The bytes ahead are sent: the file segments (and the bytes after them) go.
            let mut from_file = 0;
            let advanced = self.outgoing.advance(self.io.as_raw_fd(), &mut from_file);
            flushed += from_file;
            self.io.sent_from_file(from_file);
            let advanced = advanced.map_err(|err| self.io.sendfile_error(&err, self.peer))?;
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

    pub(super) fn shutdown_write(&mut self) -> Result<(), Error> {
        self.write_eof = WriteEof::Done;
        self.io.shutdown_write(self.peer)
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
}

/// `stream.write`, made at once (the guest's large writes; small ones ride in the next
/// `wait`): see [`Stream::write`]. A stream that refused bytes with nothing of its own
/// buffered starves until the instance has room again (see [`room`]).
pub(crate) fn write_now(
    reactor: &mut Reactor,
    table: &mut ResourceTable,
    stream: &Resource<Stream>,
    data: Cow<'_, [u8]>,
) -> wasmtime::Result<Result<Written, Error>> {
    let len = data.len() as u64;
    let mut room = reactor.buffers.room(|| buffered::<Stream>(table));
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

/// Bytes waiting to be sent: a vector and the offset of the first unsent byte, so that
/// sending a prefix costs no move; compacted when it is consumed.
#[derive(Default)]
pub(super) struct WriteBuffer {
    pub(super) bytes: Vec<u8>,
    start: usize,
}

impl WriteBuffer {
    pub(super) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Appends `data[sent..]`. When the buffer is empty it takes `data` itself (the copy
    /// the guest's call already made), so buffering costs no second copy.
    pub(super) fn push(&mut self, data: Vec<u8>, sent: usize) {
        if self.is_empty() {
            self.bytes = data;
            self.start = sent;
            return;
        }
        self.push_slice(&data[sent..]);
    }

    /// Appends a copy of `data`.
    pub(super) fn push_slice(&mut self, data: &[u8]) {
        if self.start > self.bytes.len() / 2 {
            // Most of the vector is sent bytes: move the rest to the front first.
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.bytes.len() {
            self.clear();
        }
    }

    /// Empties the buffer, keeping a modest allocation for the next bytes.
    pub(super) fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
        if self.bytes.capacity() > KEPT_WRITE_CAPACITY {
            self.bytes.shrink_to(KEPT_WRITE_CAPACITY);
        }
    }
}
