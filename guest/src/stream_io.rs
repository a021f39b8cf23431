//! The I/O under a stream transport (a connected socket or a pipe end), in one of two modes.
//!
//! - Completion (`ProactorEventLoop`, and the default `EventLoop` on the sandloop host):
//!   the host reads on readiness and hands the bytes over inside the event batch; what is
//!   written goes to the host (through the loop's write queue), which buffers what the
//!   kernel does not take. See `proactor_events.rs`.
//! - Readiness (`SelectorEventLoop`): the loop watches the socket and reads and writes
//!   itself, one host call per `recv`/`send`, buffering unsent bytes in the guest, as
//!   asyncio's selector transports do. See `selector_events.rs`.
//!
//! Both present the same events to the transport: [`StreamIo::complete`] does, in readiness
//! mode, the I/O the host would have done, and fills the event the way the host fills it.

use std::cell::Cell;
use std::rc::{Rc, Weak};

use crate::addresses::{Address, SockOpt, SockOptName};
use crate::error::Result;
use crate::events::EventLoop;
use crate::fs::File;
use crate::proactor_events::{CompletionStream, Retry, StreamOwner};
use crate::selector_events::Endpoint;
use crate::selector_events::ReadinessStream;
use crate::sys::{Event, READ_BUDGET};

/// How a loop does the I/O of its stream transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IoMode {
    Completion,
    Readiness,
}

impl Default for IoMode {
    /// The host's completion mode: every loop's, but a `SelectorEventLoop`'s (what
    /// `EventLoop::new()` and `ProactorEventLoop::new()` make). The portable build has no
    /// completion-mode streams: readiness for every loop.
    fn default() -> IoMode {
        if crate::sys::COMPLETION_STREAMS {
            IoMode::Completion
        } else {
            IoMode::Readiness
        }
    }
}

impl EventLoop {
    /// How the loop's stream transports do their I/O.
    pub(crate) fn io_mode(&self) -> IoMode {
        self.existing_slot::<Cell<IoMode>>()
            .map_or_else(IoMode::default, |mode| mode.get())
    }

    /// Sets how the loop's stream transports do their I/O (`SelectorEventLoop::new` asks
    /// for readiness).
    pub(crate) fn set_io_mode(&self, mode: IoMode) {
        self.slot::<Cell<IoMode>>().set(mode);
    }
}

/// The I/O of one connected stream.
pub(crate) enum StreamIo {
    Completion(Rc<CompletionStream>),
    Readiness(Box<ReadinessStream>),
}

impl StreamIo {
    /// Takes `io` (a connected socket or a pipe end) over under `token` on `lp`, reading
    /// on; `owner` hears of failed writes and of a full host. A pipe's write end reports
    /// its reader closing as an error (`BrokenPipe`), bytes buffered or not.
    pub(crate) fn open(
        lp: &EventLoop,
        io: Endpoint,
        token: u64,
        owner: Weak<dyn StreamOwner>,
    ) -> Result<StreamIo> {
        Ok(match lp.io_mode() {
            IoMode::Completion => {
                StreamIo::completion(lp, io.into_stream(token, READ_BUDGET)?, token, owner)
            }
            IoMode::Readiness => StreamIo::Readiness(Box::new(ReadinessStream::open(io, token)?)),
        })
    }

    /// `host` in completion mode under `token`.
    pub(crate) fn completion(
        lp: &EventLoop,
        host: crate::sys::net::HostStream,
        token: u64,
        owner: Weak<dyn StreamOwner>,
    ) -> StreamIo {
        StreamIo::Completion(CompletionStream::new(lp, host, token, owner))
    }

    /// The same connection in completion mode under `token`, for `owner` (for TLS, which
    /// the host does): a readiness-mode socket stops being watched and goes to the host as
    /// a stream; what it still buffered is dropped, so the caller waits for it to be sent.
    /// A completion-mode stream keeps its count of what the host buffers; the bytes the
    /// host refused stay behind with the old transport, as they were written before TLS.
    pub(crate) fn into_completion(
        self,
        lp: &EventLoop,
        token: u64,
        owner: Weak<dyn StreamOwner>,
    ) -> Result<StreamIo> {
        match self {
            StreamIo::Completion(stream) => {
                stream.drop_refused();
                stream.set_owner(owner);
                Ok(StreamIo::Completion(stream))
            }
            StreamIo::Readiness(s) => {
                let host = s.into_socket(token)?.into_stream(token, READ_BUDGET)?;
                Ok(StreamIo::completion(lp, host, token, owner))
            }
        }
    }

    /// Writes `data`: in completion mode through the loop's write queue (a failure reaches
    /// the owner); in readiness mode what the kernel takes now, the rest buffered here.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<()> {
        match self {
            StreamIo::Completion(s) => {
                s.write(data);
                Ok(())
            }
            StreamIo::Readiness(s) => s.write_and_report(data),
        }
    }

    /// The bytes written and not yet taken by the kernel, as last reported: queued for the
    /// loop's next wait, refused by the host and kept, or buffered (by the host in
    /// completion mode, here in readiness mode).
    pub(crate) fn buffer_size(&self) -> usize {
        match self {
            StreamIo::Completion(s) => s.buffer_size(),
            StreamIo::Readiness(s) => s.reported(),
        }
    }

    /// The bytes the host (or, in readiness mode, the stream) buffers, as last reported:
    /// the buffer without what waits in the loop's write queue or was refused.
    pub(crate) fn reported(&self) -> usize {
        match self {
            StreamIo::Completion(s) => s.reported(),
            StreamIo::Readiness(s) => s.reported(),
        }
    }

    /// Takes a report of the bytes still unsent (an event's, a `sendfile`'s).
    pub(crate) fn set_unsent(&mut self, unsent: u64) {
        match self {
            StreamIo::Completion(s) => s.set_reported(unsent),
            StreamIo::Readiness(s) => s.set_reported(unsent),
        }
    }

    /// The bytes the host refused and the stream keeps (completion mode only).
    pub(crate) fn refused_len(&self) -> usize {
        match self {
            StreamIo::Completion(s) => s.refused_len(),
            StreamIo::Readiness(_) => 0,
        }
    }

    /// Writes the bytes the host refused again (completion mode; in readiness mode nothing
    /// is ever refused).
    pub(crate) fn retry_refused(&self) -> Retry {
        match self {
            StreamIo::Completion(s) => s.retry_refused(),
            StreamIo::Readiness(_) => Retry::Done,
        }
    }

    /// Has the writes queued in the loop's write queue go now if this stream has some (as
    /// the queue keeps every stream's writes in one order, all of them go).
    pub(crate) fn flush_queued(&self) {
        if let StreamIo::Completion(s) = self {
            s.flush_queued();
        }
    }

    /// Drops what this stream queued (a TLS handshake failed: nothing of it is sent).
    pub(crate) fn discard_queued(&self) {
        if let StreamIo::Completion(s) = self {
            s.discard_queued();
        }
    }

    /// Drops what this stream queued and what the host refused: the transport is torn
    /// down.
    pub(crate) fn discard_writes(&self) {
        if let StreamIo::Completion(s) = self {
            s.discard_queued();
            s.drop_refused();
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
            StreamIo::Readiness(s) => s.write_eof(),
        }
    }

    /// Turns reading on or off.
    pub(crate) fn set_reading(&mut self, on: bool) -> Result<()> {
        match self {
            StreamIo::Completion(s) => s.set_reading(on),
            StreamIo::Readiness(s) => s.set_reading(on),
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
            StreamIo::Readiness(s) => s.socket()?.set_option(opt),
        }
    }

    pub(crate) fn get_option(&self, name: SockOptName) -> Result<SockOpt> {
        match self {
            StreamIo::Completion(s) => s.get_option(name),
            StreamIo::Readiness(s) => s.socket()?.get_option(name),
        }
    }

    pub(crate) fn local_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.local_address(),
            StreamIo::Readiness(s) => s.socket()?.local_address(),
        }
    }

    pub(crate) fn peer_address(&self) -> Result<Address> {
        match self {
            StreamIo::Completion(s) => s.peer_address(),
            StreamIo::Readiness(s) => s.socket()?.peer_address(),
        }
    }
}
