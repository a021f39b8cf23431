//! The stream under a readiness-mode transport: the I/O half of asyncio's
//! `_SelectorSocketTransport`. It reads and writes on readiness, buffers what the kernel
//! does not take, sends a file segment with `sendfile(2)` in turn, and rewrites each event
//! the way the host reports completions, so the transport above handles both modes alike.

use std::rc::Rc;

use super::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::fs::File;
use crate::sys::errors::Progress;
use crate::sys::files::HostFile;
use crate::sys::net::{HostSocket, HostSource};
use crate::sys::{Event, READ_BUDGET};

/// A socket (or pipe end) the loop reads and writes itself: the I/O half of asyncio's
/// `_SelectorSocketTransport`.
pub(crate) struct ReadinessStream {
    io: Endpoint,
    source: HostSource,
    token: u64,
    /// What the source is registered for now: unchanged interest is not registered again,
    /// which would cost a crossing and an `epoll_ctl` per event (the host re-arms what it
    /// reported by itself).
    watched: Watched,
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
    /// The unsent bytes as the transport last took the count (after a write, and from the
    /// events that report a flush), which is what it judges its buffer by.
    reported: usize,
}

/// A source's registration with the reactor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watched {
    Nothing,
    /// Only the hangup the kernel reports unasked (a pipe's idle write end).
    Hangup,
    Directions {
        readable: bool,
        writable: bool,
    },
}

/// Bytes `offset..end` of a file, still to be sent with the host's `sendfile(2)`.
struct FileSegment {
    file: Rc<HostFile>,
    path: String,
    offset: u64,
    end: u64,
}

impl ReadinessStream {
    /// Takes `io` over under `token`, reading on (a pipe's write end has nothing to read).
    pub(crate) fn open(io: Endpoint, token: u64) -> Result<ReadinessStream> {
        let source = io.source()?;
        let mut stream = ReadinessStream {
            // A pipe's write end has nothing to read: it starts as if at the end.
            read_eof: !io.can_read(),
            io,
            source,
            token,
            watched: Watched::Nothing,
            reading: true,
            buf: Vec::new(),
            sent: 0,
            eof_requested: false,
            file: None,
            after: Vec::new(),
            reported: 0,
        };
        stream.update_interest()?;
        Ok(stream)
    }

    /// Stops watching the socket and gives it up (to become a completion-mode stream for
    /// TLS, which the host does); what it still buffered is dropped, so the caller waits
    /// for it to be sent first.
    pub(crate) fn into_socket(self, token: u64) -> Result<HostSocket> {
        let registered = self.watched != Watched::Nothing;
        self.source.watch(registered, token, false, false)?;
        match self.io {
            Endpoint::Socket(sock) => Ok(sock),
            Endpoint::Pipe(_) => Err(Error::Os(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a pipe cannot carry TLS",
            ))),
        }
    }

    /// Sends what the kernel takes now and buffers the rest; the count the transport
    /// judges its buffer by is taken from it.
    pub(crate) fn write_and_report(&mut self, data: &[u8]) -> Result<()> {
        self.reported = self.write(data)? as usize;
        Ok(())
    }

    /// The unsent bytes as last reported to the transport.
    pub(crate) fn reported(&self) -> usize {
        self.reported
    }

    /// Takes the count of unsent bytes an event or a call reported.
    pub(crate) fn set_reported(&mut self, unsent: u64) {
        self.reported = unsent as usize;
    }

    /// Shuts the write side down once everything buffered is sent.
    pub(crate) fn write_eof(&mut self) -> Result<()> {
        if self.buffered() == 0 {
            self.io.shutdown_write()?;
        }
        self.eof_requested = true;
        Ok(())
    }

    /// Turns reading on or off.
    pub(crate) fn set_reading(&mut self, on: bool) -> Result<()> {
        self.reading = on;
        self.update_interest()
    }

    /// The socket, for options and addresses; `Unsupported` on a pipe.
    pub(crate) fn socket(&self) -> Result<&HostSocket> {
        self.io.socket()
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.sent
    }

    /// Everything not yet sent: bytes, the file segment, the bytes after it.
    pub(crate) fn buffered(&self) -> usize {
        let file = self.file.as_ref().map_or(0, |f| f.end - f.offset);
        self.pending() + file as usize + self.after.len()
    }

    /// Queues bytes `offset..offset+count` of `file` behind what is buffered, sent with the
    /// host's `sendfile(2)` on writability; writes after it follow it. Returns the bytes that
    /// will be sent (`count` clamped to the file's size) and the bytes buffered afterwards,
    /// the segment's included.
    pub(crate) fn send_file(&mut self, file: &File, offset: u64, count: u64) -> Result<(u64, u64)> {
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
        let want = if !readable && !writable && self.io.is_pipe_writer() {
            // Watched for its reader closing, which the kernel reports unasked; asking
            // for writability would report an idle pipe on every wait.
            Watched::Hangup
        } else if readable || writable {
            Watched::Directions { readable, writable }
        } else {
            Watched::Nothing
        };
        if want == self.watched {
            return Ok(());
        }
        let registered = self.watched != Watched::Nothing;
        match want {
            Watched::Hangup => self.source.watch_hangup(registered, self.token)?,
            Watched::Directions { readable, writable } => self
                .source
                .watch(registered, self.token, readable, writable)?,
            Watched::Nothing => self.source.watch(registered, self.token, false, false)?,
        }
        self.watched = want;
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
    pub(crate) fn complete(&mut self, ev: &mut Event) {
        self.do_io(ev);
        ev.unsent = self.buffered() as u64;
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
