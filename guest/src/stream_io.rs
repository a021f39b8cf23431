//! The I/O under a stream transport (a connected socket or a pipe end), in one of two modes.
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
//! In completion mode the transport does not call [`StreamIo::write`] for small writes: it
//! queues them in the loop's outbox (`outbox.rs`), which the next wait hands to the host.

mod endpoint;

use std::cell::Cell;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::fs::File;
use crate::net::{Address, SockOpt, SockOptName};
use crate::sys::Event;
use crate::sys::errors::Progress;
use crate::sys::files::HostFile;
use crate::sys::fs::HostPipe;
use crate::sys::net::{HostSocket, HostSource, HostStream, Written};
use endpoint::Endpoint;

/// The most read for one stream per event (asyncio reads 256 KiB at a time).
pub(crate) const READ_BUDGET: u32 = 256 * 1024;

/// How a loop does the I/O of its stream transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoMode {
    Completion,
    Readiness,
}

impl Default for IoMode {
    /// The host's completion mode: what `EventLoop::new()` and `ProactorEventLoop` use.
    fn default() -> IoMode {
        IoMode::Completion
    }
}

impl EventLoop {
    /// How the loop's stream transports do their I/O.
    pub(crate) fn io_mode(&self) -> IoMode {
        self.existing_slot::<Cell<IoMode>>()
            .map_or_else(IoMode::default, |mode| mode.get())
    }

    /// Sets how the loop's stream transports do their I/O (`SelectorEventLoop`,
    /// `ProactorEventLoop`).
    pub(crate) fn set_io_mode(&self, mode: IoMode) {
        self.slot::<Cell<IoMode>>().set(mode);
    }
}

/// The I/O of one connected stream.
pub(crate) enum StreamIo {
    Completion(HostStream),
    Readiness(Box<ReadinessStream>),
}

/// A socket (or pipe end) the loop reads and writes itself.
pub(crate) struct ReadinessStream {
    io: Endpoint,
    source: HostSource,
    token: u64,
    registered: bool,
    reading: bool,
    read_eof: bool,
    /// Unsent bytes, from `sent` on.
    buf: Vec<u8>,
    sent: usize,
    eof_requested: bool,
    /// A file being sent (`sendfile`) once `buf` is empty.
    file: Option<FileSegment>,
    /// Bytes written while a file is being sent: they follow it.
    after: Vec<u8>,
}

/// Bytes `offset..end` of a file, still to be sent with the host's `sendfile(2)`.
struct FileSegment {
    file: Rc<HostFile>,
    path: String,
    offset: u64,
    end: u64,
}

impl StreamIo {
    /// Takes `sock` over under `token`, reading on.
    pub(crate) fn open(sock: HostSocket, token: u64, mode: IoMode) -> Result<StreamIo> {
        match mode {
            IoMode::Completion => sock
                .into_stream(token, READ_BUDGET)
                .map(StreamIo::Completion),
            IoMode::Readiness => StreamIo::open_readiness(Endpoint::Socket(sock), token),
        }
    }

    /// Takes one end of a pipe over under `token`: a read end reads as a socket does; a
    /// write end reports its reader closing as an error (`BrokenPipe`), bytes buffered or
    /// not.
    pub(crate) fn open_pipe(pipe: HostPipe, token: u64, mode: IoMode) -> Result<StreamIo> {
        match mode {
            IoMode::Completion => pipe
                .into_stream(token, READ_BUDGET)
                .map(StreamIo::Completion),
            IoMode::Readiness => StreamIo::open_readiness(Endpoint::Pipe(pipe), token),
        }
    }

    fn open_readiness(io: Endpoint, token: u64) -> Result<StreamIo> {
        let source = io.source()?;
        let mut stream = ReadinessStream {
            // A pipe's write end has nothing to read: it starts as if at the end.
            read_eof: !io.can_read(),
            io,
            source,
            token,
            registered: false,
            reading: true,
            buf: Vec::new(),
            sent: 0,
            eof_requested: false,
            file: None,
            after: Vec::new(),
        };
        stream.update_interest()?;
        Ok(StreamIo::Readiness(Box::new(stream)))
    }

    /// The same connection in completion mode under `token` (for TLS, which the host
    /// does): a readiness-mode socket stops being watched and goes to the host as a
    /// stream; what it still buffered is dropped, so the caller waits for it to be sent.
    pub(crate) fn into_completion(self, token: u64) -> Result<StreamIo> {
        match self {
            StreamIo::Completion(_) => Ok(self),
            StreamIo::Readiness(s) => {
                let ReadinessStream {
                    io,
                    source,
                    registered,
                    ..
                } = *s;
                source.watch(registered, token, false, false)?;
                drop(source);
                match io {
                    Endpoint::Socket(sock) => sock
                        .into_stream(token, READ_BUDGET)
                        .map(StreamIo::Completion),
                    Endpoint::Pipe(_) => Err(Error::Os(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "a pipe cannot carry TLS",
                    ))),
                }
            }
        }
    }

    /// Sends what the kernel takes now and buffers the rest (in the host in completion
    /// mode, here in readiness mode): says how much was taken (all of it but under the
    /// host's limit on buffered bytes) and how much is buffered afterwards.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<Written> {
        match self {
            StreamIo::Completion(s) => s.write(data),
            StreamIo::Readiness(s) => s.write(data).map(|buffered| Written {
                taken: data.len(),
                buffered,
            }),
        }
    }

    /// Queues bytes `offset..offset+count` of `file` behind what is buffered, sent with
    /// the host's `sendfile(2)` (by the host in completion mode, on writability here in
    /// readiness mode); writes after it follow it. Returns the bytes that will be sent
    /// (`count` clamped to the file's size) and the bytes buffered afterwards, the
    /// segment's included.
    pub(crate) fn send_file(&mut self, file: &File, offset: u64, count: u64) -> Result<(u64, u64)> {
        match self {
            StreamIo::Completion(s) => s.send_file(file.host(), offset, count),
            StreamIo::Readiness(s) => s.send_file(file, offset, count),
        }
    }

    /// Whether the host buffers what is written and reports the count with each event
    /// of the stream (completion mode).
    pub(crate) fn host_reports_buffered(&self) -> bool {
        matches!(self, StreamIo::Completion(_))
    }

    /// The host's number for a completion-mode stream, which names it in the writes a
    /// wait does (see `outbox`); `None` in readiness mode.
    pub(crate) fn stream_id(&self) -> Option<u32> {
        match self {
            StreamIo::Completion(s) => Some(s.id()),
            StreamIo::Readiness(_) => None,
        }
    }

    /// The bytes written and not yet taken by the kernel, asked now (a call into the host
    /// in completion mode).
    pub(crate) fn write_buffered(&self) -> u64 {
        match self {
            StreamIo::Completion(s) => s.write_buffered(),
            StreamIo::Readiness(s) => s.buffered() as u64,
        }
    }

    /// Shuts the write side down once everything buffered is sent.
    pub(crate) fn write_eof(&mut self) -> Result<()> {
        match self {
            StreamIo::Completion(s) => s.write_eof(),
            StreamIo::Readiness(s) => {
                if s.buffered() == 0 {
                    s.io.shutdown_write()?;
                }
                s.eof_requested = true;
                Ok(())
            }
        }
    }

    /// Turns reading on or off.
    pub(crate) fn set_reading(&mut self, on: bool) -> Result<()> {
        match self {
            StreamIo::Completion(s) => s.set_reading(on),
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
            StreamIo::Completion(s) => s.set_option(opt),
            StreamIo::Readiness(s) => s.io.socket()?.set_option(opt),
        }
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        match self {
            StreamIo::Completion(s) => s.get_option(name),
            StreamIo::Readiness(s) => s.io.socket()?.get_option(name),
        }
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.local_address(),
            StreamIo::Readiness(s) => s.io.socket()?.local_address(),
        }
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.peer_address(),
            StreamIo::Readiness(s) => s.io.socket()?.peer_address(),
        }
    }
}

impl ReadinessStream {
    fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Everything not yet sent: bytes, the file segment, the bytes after it.
    fn buffered(&self) -> usize {
        let file = self.file.as_ref().map_or(0, |f| f.end - f.offset);
        self.pending() + file as usize + self.after.len()
    }

    fn send_file(&mut self, file: &File, offset: u64, count: u64) -> Result<(u64, u64)> {
        if self.file.is_some() {
            return Err(Error::Runtime(
                "sendfile: another sendfile is in progress on this transport".into(),
            ));
        }
        let size = file.len()?;
        let count = count.min(size.saturating_sub(offset));
        if count > 0 {
            self.file = Some(FileSegment {
                file: Rc::clone(file.host()),
                path: file.path().to_owned(),
                offset,
                end: offset + count,
            });
            // Sent on writability, which watching reports at once if the socket is
            // writable: every byte sent is then in an event's count, even on a failure.
            self.update_interest()?;
        }
        Ok((count, self.buffered() as u64))
    }

    /// Sends the buffered bytes, then the file segment, then the bytes written after it,
    /// until the kernel takes no more or everything is sent.
    fn drain(&mut self) -> Result<()> {
        loop {
            while self.pending() > 0 {
                match self.io.send(&self.buf[self.sent..])? {
                    Progress::Done(n) => self.sent += n,
                    Progress::Pending => {
                        if self.sent > self.buf.len() / 2 {
                            self.buf.drain(..self.sent);
                            self.sent = 0;
                        }
                        return Ok(());
                    }
                }
            }
            self.buf.clear();
            self.sent = 0;
            let Some(seg) = &mut self.file else {
                return Ok(());
            };
            while seg.offset < seg.end {
                match self
                    .io
                    .socket()?
                    .send_file(&seg.file, seg.offset, seg.end - seg.offset)?
                {
                    Progress::Done(0) => {
                        return Err(Error::Os(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            format!(
                                "sendfile {}: the file ended at {} with {} bytes still to send (it shrank)",
                                seg.path,
                                seg.offset,
                                seg.end - seg.offset
                            ),
                        )));
                    }
                    Progress::Done(n) => seg.offset += n,
                    Progress::Pending => return Ok(()),
                }
            }
            self.file = None;
            if self.after.is_empty() {
                return Ok(());
            }
            self.buf = std::mem::take(&mut self.after);
        }
    }

    /// Watches what is wanted now: reading while on and before EOF, writing while bytes wait.
    fn update_interest(&mut self) -> Result<()> {
        let readable = self.reading && !self.read_eof;
        let writable = self.buffered() > 0;
        if !readable && !writable && self.io.is_pipe_writer() {
            // Watched for its reader closing, which the kernel reports unasked; asking
            // for writability would report an idle pipe on every wait.
            self.source.watch_hangup(self.registered, self.token)?;
            self.registered = true;
            return Ok(());
        }
        self.source
            .watch(self.registered, self.token, readable, writable)?;
        self.registered = readable || writable;
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> Result<u64> {
        if self.file.is_some() {
            // A file is being sent: these bytes follow it.
            self.after.extend_from_slice(data);
            return Ok(self.buffered() as u64);
        }
        let mut taken = 0;
        if self.pending() == 0 {
            // The common case: the kernel takes it all, nothing is buffered.
            if let Progress::Done(n) = self.io.send(data)? {
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
    /// reports completions: data, end of stream as `hangup`, flushes as `writable`, and in
    /// every event the bytes still unsent, as the host counts them (with an error, what
    /// the failure leaves unsent, whichever side failed).
    fn complete(&mut self, ev: &mut Event) {
        self.do_io(ev);
        ev.write_buffered = self.buffered() as u64;
    }

    fn do_io(&mut self, ev: &mut Event) {
        let r = ev.readiness;
        ev.readiness.readable = false;
        ev.readiness.writable = false;
        ev.readiness.hangup = false;
        if (r.readable || r.hangup) && self.reading && !self.read_eof {
            match self.io.recv(READ_BUDGET as usize) {
                Ok(Progress::Done(data)) if data.is_empty() => {
                    self.read_eof = true;
                    ev.readiness.hangup = true;
                }
                Ok(Progress::Done(data)) => {
                    ev.readiness.readable = true;
                    ev.data = data.into();
                }
                Ok(Progress::Pending) => {}
                Err(err) => {
                    ev.readiness.hangup = true;
                    ev.error = Some(err);
                    return;
                }
            }
        }
        if (r.writable || r.hangup) && self.buffered() > 0 {
            if let Err(err) = self.drain() {
                ev.readiness.hangup = true;
                ev.error = Some(err);
                return;
            }
            if self.buffered() == 0
                && self.eof_requested
                && let Err(err) = self.io.shutdown_write()
            {
                ev.error = Some(err);
            }
            ev.readiness.writable = true;
        }
        if r.hangup && self.io.is_pipe_writer() {
            // The reader closed: nothing written from now on can arrive.
            ev.readiness.hangup = true;
            ev.error = Some(Endpoint::reader_gone());
            return;
        }
        if let Err(err) = self.update_interest() {
            ev.error.get_or_insert(err);
        }
    }
}
