//! The I/O under a stream transport, in one of two modes.
//!
//! - Completion (`ProactorEventLoop`, and the default `EventLoop` on the sandloop host):
//!   the host reads on readiness and hands the bytes over inside the event batch; a write
//!   copies once into the host, which buffers what the kernel does not take.
//! - Readiness (`SelectorEventLoop`): the loop watches the socket and reads and writes
//!   itself, one host call per `recv`/`send`, buffering unsent bytes in the guest, as
//!   asyncio's selector transports do.
//!
//! Both present the same events to the transport: [`StreamIo::complete`] does, in readiness
//! mode, the I/O the host would have done, and fills the event the way the host fills it.
//!
//! In completion mode a write is queued, not sent: the loop hands every stream's queued
//! bytes to the host inside its next wait ([`StreamWrite`]), so a batch of callbacks that
//! writes to many streams makes one crossing, not one per write. A large write is not
//! queued (the copy would cost more than the crossing), and the transport sends the queue
//! at once (`flush_queued`) where the order or the timing of the bytes shows: past the
//! high-water mark, before `write_eof`, and when the transport closes.

use crate::error::Result;
use crate::net::{Address, SockOpt, SockOptName};
use crate::sys::net::{HostSocket, HostSource, HostStream, Progress};
use crate::sys::{Event, StreamWrite};

/// The most read for one stream per event (asyncio reads 256 KiB at a time).
pub(crate) const READ_BUDGET: u32 = 256 * 1024;

/// How a loop does the I/O of its stream transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoMode {
    Completion,
    Readiness,
}

/// A queue buffer keeps its allocation for the next batch up to this size.
const KEPT_QUEUE_CAPACITY: usize = 64 * 1024;

/// Writes this large are handed to the host at once rather than queued: at 4 KiB, copying
/// into the queue costs about what a crossing does.
const DIRECT_WRITE_MIN: usize = 4 * 1024;

/// The I/O of one connected stream.
pub(crate) enum StreamIo {
    Completion(CompletionStream),
    Readiness(Box<ReadinessStream>),
}

/// A stream whose I/O the host does, and the bytes written since the loop's last wait.
pub(crate) struct CompletionStream {
    stream: HostStream,
    queued: Vec<u8>,
}

/// What a write did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Queued for the loop's next wait; `first`: nothing was queued before.
    Queued { first: bool },
    /// Sent, or buffered below us: the bytes buffered afterwards.
    Done(u64),
}

/// A socket the loop reads and writes itself.
pub(crate) struct ReadinessStream {
    sock: HostSocket,
    source: HostSource,
    token: u64,
    registered: bool,
    reading: bool,
    read_eof: bool,
    /// Unsent bytes, from `sent` on.
    buf: Vec<u8>,
    sent: usize,
    eof_requested: bool,
}

impl StreamIo {
    /// Takes `sock` over under `token`, reading on.
    pub(crate) fn open(sock: HostSocket, token: u64, mode: IoMode) -> Result<StreamIo> {
        match mode {
            IoMode::Completion => sock.into_stream(token, READ_BUDGET).map(|stream| {
                StreamIo::Completion(CompletionStream {
                    stream,
                    queued: Vec::new(),
                })
            }),
            IoMode::Readiness => {
                let source = sock.source()?;
                let mut stream = ReadinessStream {
                    sock,
                    source,
                    token,
                    registered: false,
                    reading: true,
                    read_eof: false,
                    buf: Vec::new(),
                    sent: 0,
                    eof_requested: false,
                };
                stream.update_interest()?;
                Ok(StreamIo::Readiness(Box::new(stream)))
            }
        }
    }

    /// Queues `data` for the next wait (completion mode), or sends what the kernel takes
    /// and buffers the rest (readiness mode).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<Written> {
        match self {
            StreamIo::Completion(s) if data.len() < DIRECT_WRITE_MIN => {
                let first = s.queued.is_empty();
                s.queued.extend_from_slice(data);
                Ok(Written::Queued { first })
            }
            // A large write goes at once: copying it into the queue would cost more than
            // the crossing it saves.
            StreamIo::Completion(s) => {
                if !s.queued.is_empty() {
                    s.stream.write(&s.queued)?;
                    s.queued.clear();
                }
                s.stream.write(data).map(Written::Done)
            }
            StreamIo::Readiness(s) => s.write(data).map(Written::Done),
        }
    }

    /// The bytes written but not yet handed to the host.
    pub(crate) fn queued_len(&self) -> usize {
        match self {
            StreamIo::Completion(s) => s.queued.len(),
            StreamIo::Readiness(_) => 0,
        }
    }

    /// Hands the queued bytes to the host now; `Some(bytes buffered afterwards)` if there
    /// were any.
    pub(crate) fn flush_queued(&mut self) -> Result<Option<u64>> {
        match self {
            StreamIo::Completion(s) if !s.queued.is_empty() => {
                let buffered = s.stream.write(&s.queued);
                s.queued.clear();
                buffered.map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The queued bytes, for the loop's next wait.
    pub(crate) fn take_queued(&mut self) -> Option<StreamWrite> {
        match self {
            StreamIo::Completion(s) if !s.queued.is_empty() => Some(StreamWrite {
                id: s.stream.id(),
                data: std::mem::take(&mut s.queued),
            }),
            _ => None,
        }
    }

    /// Takes back the buffer of a write the wait did, to queue the next writes in.
    pub(crate) fn reuse(&mut self, mut data: Vec<u8>) {
        if let StreamIo::Completion(s) = self
            && s.queued.is_empty()
            && data.capacity() <= KEPT_QUEUE_CAPACITY
        {
            data.clear();
            s.queued = data;
        }
    }

    /// Shuts the write side down once everything buffered is sent (the queue must have
    /// been flushed).
    pub(crate) fn write_eof(&mut self) -> Result<()> {
        match self {
            StreamIo::Completion(s) => {
                debug_assert!(
                    s.queued.is_empty(),
                    "write_eof before the queue was flushed"
                );
                s.stream.write_eof()
            }
            StreamIo::Readiness(s) => {
                s.eof_requested = true;
                if s.pending() == 0 {
                    s.sock.shutdown(crate::net::Shutdown::Write)?;
                }
                Ok(())
            }
        }
    }

    /// Turns reading on or off.
    pub(crate) fn set_reading(&mut self, on: bool) -> Result<()> {
        match self {
            StreamIo::Completion(s) => s.stream.set_reading(on),
            StreamIo::Readiness(s) => {
                s.reading = on;
                s.update_interest()
            }
        }
    }

    /// Completes `ev` as the host does in completion mode (readiness mode reads and writes
    /// here; completion mode's events come complete).
    pub(crate) fn complete(&mut self, ev: &mut Event) {
        if let StreamIo::Readiness(s) = self {
            s.complete(ev);
        }
    }

    pub(crate) fn set_option(&self, opt: SockOpt) -> Result<()> {
        match self {
            StreamIo::Completion(s) => s.stream.set_option(opt),
            StreamIo::Readiness(s) => s.sock.set_option(opt),
        }
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        match self {
            StreamIo::Completion(s) => s.stream.get_option(name),
            StreamIo::Readiness(s) => s.sock.get_option(name),
        }
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.stream.local_address(),
            StreamIo::Readiness(s) => s.sock.local_address(),
        }
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.stream.peer_address(),
            StreamIo::Readiness(s) => s.sock.peer_address(),
        }
    }
}

impl ReadinessStream {
    fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Watches what is wanted now: reading while on and before EOF, writing while bytes wait.
    fn update_interest(&mut self) -> Result<()> {
        let readable = self.reading && !self.read_eof;
        let writable = self.pending() > 0;
        self.source
            .watch(self.registered, self.token, readable, writable)?;
        self.registered = readable || writable;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<u64> {
        let mut taken = 0;
        if self.pending() == 0 {
            // The common case: the kernel takes it all, nothing is buffered.
            if let Progress::Done(n) = self.sock.send(data)? {
                taken = n;
            }
            if taken == data.len() {
                return Ok(0);
            }
            self.buf.clear();
            self.sent = 0;
        }
        self.buf.extend_from_slice(&data[taken..]);
        self.update_interest()?;
        Ok(self.pending() as u64)
    }

    /// Reads and flushes as the event allows, and rewrites the event the way the host
    /// reports completions: data, end of stream as `hangup`, flushes as `writable`.
    fn complete(&mut self, ev: &mut Event) {
        let r = ev.readiness;
        ev.readiness.readable = false;
        ev.readiness.writable = false;
        ev.readiness.hangup = false;
        if (r.readable || r.hangup) && self.reading && !self.read_eof {
            match self.sock.recv(READ_BUDGET as usize) {
                Ok(Progress::Done(data)) if data.is_empty() => {
                    self.read_eof = true;
                    ev.readiness.hangup = true;
                }
                Ok(Progress::Done(data)) => {
                    ev.readiness.readable = true;
                    ev.data = data;
                }
                Ok(Progress::Pending) => {}
                Err(err) => {
                    ev.readiness.hangup = true;
                    ev.error = Some(err);
                    return;
                }
            }
        }
        if (r.writable || r.hangup) && self.pending() > 0 {
            while self.pending() > 0 {
                match self.sock.send(&self.buf[self.sent..]) {
                    Ok(Progress::Done(n)) => self.sent += n,
                    Ok(Progress::Pending) => break,
                    Err(err) => {
                        ev.readiness.hangup = true;
                        ev.error = Some(err);
                        return;
                    }
                }
            }
            if self.pending() == 0 {
                self.buf.clear();
                self.sent = 0;
                if self.eof_requested
                    && let Err(err) = self.sock.shutdown(crate::net::Shutdown::Write)
                {
                    ev.error = Some(err);
                }
            } else if self.sent > self.buf.len() / 2 {
                self.buf.drain(..self.sent);
                self.sent = 0;
            }
            ev.readiness.writable = true;
            ev.write_buffered = self.pending() as u64;
        }
        if let Err(err) = self.update_interest() {
            ev.error.get_or_insert(err);
        }
    }
}
