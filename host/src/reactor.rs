//! The native reactor: the host side of the WIT interface `sandloop:host/reactor`.
//!
//! One `Reactor` per instance wraps one `mio::Poll`. A guest registers a [`Source`] (a
//! host resource with a native fd, handed out by the interfaces that own it) under a
//! token of its own choosing, then calls `wait` once per loop iteration and receives every
//! ready registration in one batch: cost O(ready), not O(registered).
//!
//! # Readiness is level-triggered
//!
//! mio is edge-triggered, but the guest loop follows asyncio, whose selectors are
//! level-triggered: a reader callback that reads only part of the pending data must be
//! called again on the next iteration. The reactor therefore re-arms every source it
//! reported (one `epoll_ctl(MOD)` each, which makes the kernel re-check readiness) before
//! the next wait. A source that is still ready is reported again; one that was drained is
//! not. The cost stays O(ready).
//!
//! # Tokens
//!
//! The guest's `u64` token is stored in the watched resource; mio is given a token made
//! of the kind of the resource and its `ResourceTable` index instead: `kind << 32 | rep`,
//! with kind 0 for a [`Source`] and 1 for a completion-mode [`Stream`]. That keeps the
//! waker's token (`usize::MAX`) out of the guest's token space (every `u64` is a valid
//! guest token) and lets `wait` find the resource of an event with one typed table
//! lookup.
//!
//! # Completions
//!
//! A [`Stream`] is not a readiness source: on readiness `wait` does its I/O and reports
//! the outcome (bytes read, bytes still buffered, end of stream, failure) in the event;
//! see [`crate::net::stream`]. The bytes carried by one batch are capped at
//! [`MAX_BATCH_DATA`] in all, so that a batch stays a bounded copy.
//!
//! Work done on host threads (DNS lookups) completes through a queue of guest tokens: the
//! thread pushes the token and wakes the reactor, and `wait` reports each as a `readable`
//! event. A non-empty queue makes `wait` poll without blocking.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Poll, Token};
use wasmtime::component::{Resource, ResourceTable};

use crate::bindings::reactor::{self as wit, Batch, ErrorCode, Event, Interest, StreamWrite};
use crate::net::Stream;
use crate::net::stream::MAX_BATCH_DATA;
use crate::net::stream::room::{BufferLimit, Room};
use crate::state::ReactorView;

#[cfg(test)]
mod tests;

/// The mio token of the waker: its kind (`u32::MAX`) is none of [`TokenKind`].
const WAKER_TOKEN: Token = Token(usize::MAX);

// A mio token holds a kind and a `u32` table index side by side.
const _: () = assert!(usize::BITS >= 64, "the reactor needs 64-bit tokens");

/// The kind of table entry a mio token refers to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum TokenKind {
    /// A readiness [`Source`].
    Source = 0,
    /// A completion-mode [`Stream`].
    Stream = 1,
}

/// The mio token of the `kind` entry at table index `rep`.
pub(crate) fn token(kind: TokenKind, rep: u32) -> Token {
    Token((kind as usize) << 32 | rep as usize)
}

/// The kind and table index a mio token refers to; `None` for the waker.
fn decode(token: Token) -> Option<(TokenKind, u32)> {
    let rep = token.0 as u32;
    match token.0 >> 32 {
        0 => Some((TokenKind::Source, rep)),
        1 => Some((TokenKind::Stream, rep)),
        _ => None,
    }
}

/// How many events one `wait` can return; more stay queued in the kernel for the next.
const EVENTS_CAPACITY: usize = 1024;

/// A host resource whose native readiness the reactor can watch: the WIT `reactor.source`.
///
/// The interfaces that own sockets, pipes and processes construct a `Source` around the
/// native object, push it into the instance's `ResourceTable` and hand the guest the
/// handle. Dropping the handle deregisters the source and closes what it wraps.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use sandloop_host::reactor::Source;
///
/// let (ours, _peer) = UnixStream::pair()?;
/// let source = Source::from_fd(ours.into());
/// assert!(!source.is_registered());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Source {
    io: Box<dyn mio::event::Source + Send>,
    registration: Option<Registration>,
}

/// What the guest asked for when it registered a source.
#[derive(Clone, Copy)]
struct Registration {
    token: u64,
    interest: Interest,
}

impl Source {
    /// Wraps any mio event source (a `mio::net::TcpStream`, a `mio::unix::pipe::Receiver`,
    /// ...). The source is closed when the guest drops its handle.
    pub fn new(io: impl mio::event::Source + Send + 'static) -> Source {
        Source {
            io: Box::new(io),
            registration: None,
        }
    }

    /// Wraps an owned file descriptor (a std socket or pipe end turned into an `OwnedFd`).
    /// The descriptor is closed when the guest drops its handle.
    pub fn from_fd(fd: OwnedFd) -> Source {
        Source::new(FdSource(fd))
    }

    /// Whether the source is currently registered with its instance's reactor.
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }
}

/// An owned fd as a mio event source (mio's `SourceFd` only borrows one).
struct FdSource(OwnedFd);

impl mio::event::Source for FdSource {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// Interrupts the `wait` of one instance's reactor from any host thread.
///
/// A wake that arrives while the guest is not waiting is kept: the next `wait` returns at
/// once (with an empty batch if nothing else is ready), so no wake-up is lost.
///
/// ```no_run
/// # fn demo(workload: sandloop_host::Workload) -> Result<(), Box<dyn std::error::Error>> {
/// let running = workload.start(Default::default())?;
/// let waker = running.waker();
/// std::thread::spawn(move || waker.wake());
/// let output = running.join()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReactorWaker(Arc<mio::Waker>);

impl ReactorWaker {
    /// Makes the instance's current or next `wait` return.
    pub fn wake(&self) -> io::Result<()> {
        self.0.wake()
    }
}

/// Reports work that host threads finished for the guest: a clone lives on each such
/// thread, the queue is drained by the instance's `wait`.
#[derive(Clone)]
pub(crate) struct Completer {
    queue: Arc<Mutex<Vec<u64>>>,
    /// Set after a push: lets `wait` skip the lock when nothing was completed.
    queued: Arc<AtomicBool>,
    waker: Arc<mio::Waker>,
}

impl Completer {
    /// Queues a `readable` event under `token` and wakes the instance's `wait`.
    pub(crate) fn complete(&self, token: u64) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        self.queued.store(true, Ordering::Release);
        if let Err(err) = self.waker.wake() {
            // The event is queued; the next `wait` that returns for any reason reports it.
            tracing::debug!(%err, "reactor: waking for a completion failed");
        }
    }
}

/// One instance's reactor: a `mio::Poll`, its reusable event buffer and its waker.
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    waker: Arc<mio::Waker>,
    /// Table indices of the sources reported by the last `wait`, re-armed before the next.
    reported: Vec<u32>,
    /// Table indices of the streams whose read stopped at a limit, re-armed before the
    /// next wait.
    unfinished_streams: Vec<u32>,
    /// Table indices of the streams holding input the kernel will not announce (TLS
    /// plaintext a read budget left behind): the next wait serves them without blocking.
    held_streams: Vec<u32>,
    /// Table indices of the streams served by the current wait (each at most once).
    served_streams: Vec<u32>,
    /// Table indices of the streams that `wait`'s writes left with bytes buffered, whose
    /// counts the batch reports.
    written: Vec<u32>,
    /// Guest tokens of work finished by host threads, not yet reported.
    completions: Arc<Mutex<Vec<u64>>>,
    /// Whether `completions` may hold tokens (set after each push, cleared by the drain),
    /// so a `wait` with nothing completed takes no lock.
    queued: Arc<AtomicBool>,
    /// The drained completions, swapped with the queue so neither allocates per wait.
    completed: Vec<u64>,
    /// The stop flag and the start of the guest's current callback, for the watchdog.
    pub(crate) watch: crate::limits::Watch,
    /// The limit on host-buffered bytes, and the streams waiting for room under it.
    pub(crate) buffers: BufferLimit,
}

impl Reactor {
    /// Creates the poller (an epoll fd) and the waker (an eventfd) of one instance.
    pub(crate) fn new() -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Reactor {
            poll,
            events: Events::with_capacity(EVENTS_CAPACITY),
            waker,
            reported: Vec::new(),
            unfinished_streams: Vec::new(),
            held_streams: Vec::new(),
            served_streams: Vec::new(),
            written: Vec::new(),
            completions: Arc::new(Mutex::new(Vec::new())),
            queued: Arc::new(AtomicBool::new(false)),
            completed: Vec::new(),
            watch: crate::limits::Watch::new(),
            buffers: BufferLimit::default(),
        })
    }

    /// Puts the instance's streams under a limit of `bytes` buffered in the host
    /// (`Limits::buffered_bytes`); `None` lifts it.
    pub(crate) fn limit_buffers(&mut self, bytes: Option<u64>) {
        self.buffers = BufferLimit::new(bytes);
    }

    /// The registry that streams register with.
    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Has the next wait serve the stream at table index `rep`, which holds input no
    /// kernel event will announce, without blocking.
    pub(crate) fn hold(&mut self, rep: u32) {
        if !self.held_streams.contains(&rep) {
            self.held_streams.push(rep);
        }
    }

    /// What host threads use to report finished work under a guest token.
    pub(crate) fn completer(&self) -> Completer {
        Completer {
            queue: Arc::clone(&self.completions),
            queued: Arc::clone(&self.queued),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Whether finished work is waiting to be reported.
    fn has_completions(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Moves the finished work into `batch` as `readable` events.
    fn drain_completions(&mut self, batch: &mut Vec<Event>) {
        // A push that lands after this swap sets the flag again: the next wait reports it.
        if !self.queued.swap(false, Ordering::AcqRel) {
            return;
        }
        std::mem::swap(
            &mut *self
                .completions
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            &mut self.completed,
        );
        batch.extend(
            self.completed
                .drain(..)
                .map(|token| readiness_event(token, Interest::READABLE)),
        );
    }

    /// A handle that host threads use to interrupt `wait`.
    pub(crate) fn waker(&self) -> ReactorWaker {
        ReactorWaker(Arc::clone(&self.waker))
    }

    /// Re-arms the sources reported by the last wait, so that those still ready are
    /// reported again (level-triggered semantics on top of edge-triggered mio).
    fn rearm(&mut self, table: &mut ResourceTable) {
        let registry = self.poll.registry();
        for rep in self.reported.drain(..) {
            // The guest may have dropped or deregistered the source since: skip it then.
            let Ok(source) = table.get_mut(&Resource::<Source>::new_borrow(rep)) else {
                continue;
            };
            let Some(registration) = source.registration else {
                continue;
            };
            let interest = mio_interest(registration.interest);
            if let Err(err) = source.io.reregister(registry, token_of(rep), interest) {
                tracing::debug!(rep, %err, "reactor: re-arming a reported source failed");
            }
        }
        for rep in self.unfinished_streams.drain(..) {
            if let Ok(stream) = table.get_mut(&Resource::<Stream>::new_borrow(rep)) {
                stream.rearm(registry);
            }
        }
    }
}

/// The mio token of the source at table index `rep`.
fn token_of(rep: u32) -> Token {
    token(TokenKind::Source, rep)
}

/// An event that reports readiness only.
fn readiness_event(token: u64, readiness: Interest) -> Event {
    Event {
        token,
        readiness,
        data_len: 0,
        write_buffered: 0,
        write_refused: 0,
        error: None,
    }
}

/// The mio interest for a WIT interest. mio cannot ask for hang-ups alone (the kernel
/// reports them unasked), so a hangup-only registration watches readability and `wait`
/// masks readable readiness out of what it reports.
fn mio_interest(interest: Interest) -> mio::Interest {
    match (
        interest.contains(Interest::READABLE),
        interest.contains(Interest::WRITABLE),
    ) {
        (_, false) => mio::Interest::READABLE,
        (false, true) => mio::Interest::WRITABLE,
        (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
    }
}

/// What to report for a mio event, given what the guest asked for.
fn readiness(event: &mio::event::Event, asked: Interest) -> Interest {
    let mut ready = Interest::empty();
    if event.is_readable() && asked.contains(Interest::READABLE) {
        ready |= Interest::READABLE;
    }
    if event.is_writable() && asked.contains(Interest::WRITABLE) {
        ready |= Interest::WRITABLE;
    }
    if event.is_read_closed() || event.is_write_closed() || event.is_error() {
        ready |= Interest::HANGUP;
    }
    ready
}

/// Maps an OS error of `epoll_ctl` to the WIT error code, logging the detail the WIT
/// enum cannot carry.
fn os_error(op: &str, err: &io::Error) -> ErrorCode {
    if err.kind() == io::ErrorKind::AlreadyExists {
        // The same fd is already registered through another source.
        return ErrorCode::AlreadyRegistered;
    }
    tracing::debug!(%err, "reactor: {op} failed");
    ErrorCode::OsError
}

impl wit::Host for ReactorView<'_> {
    fn register(
        &mut self,
        src: Resource<Source>,
        token: u64,
        interest: Interest,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let rep = src.rep();
        let source = self.table.get_mut(&src)?;
        if interest == Interest::empty() {
            return Ok(Err(ErrorCode::EmptyInterest));
        }
        if source.registration.is_some() {
            return Ok(Err(ErrorCode::AlreadyRegistered));
        }
        let registry = self.reactor.poll.registry();
        if let Err(err) = source
            .io
            .register(registry, token_of(rep), mio_interest(interest))
        {
            return Ok(Err(os_error("register", &err)));
        }
        source.registration = Some(Registration { token, interest });
        Ok(Ok(()))
    }

    fn reregister(
        &mut self,
        src: Resource<Source>,
        token: u64,
        interest: Interest,
    ) -> wasmtime::Result<Result<(), ErrorCode>> {
        let rep = src.rep();
        let source = self.table.get_mut(&src)?;
        if source.registration.is_none() {
            return Ok(Err(ErrorCode::NotRegistered));
        }
        if interest == Interest::empty() {
            return Ok(Err(ErrorCode::EmptyInterest));
        }
        let registry = self.reactor.poll.registry();
        if let Err(err) = source
            .io
            .reregister(registry, token_of(rep), mio_interest(interest))
        {
            return Ok(Err(os_error("reregister", &err)));
        }
        source.registration = Some(Registration { token, interest });
        Ok(Ok(()))
    }

    fn deregister(&mut self, src: Resource<Source>) -> wasmtime::Result<Result<(), ErrorCode>> {
        let source = self.table.get_mut(&src)?;
        if source.registration.is_none() {
            return Ok(Err(ErrorCode::NotRegistered));
        }
        // Whatever the OS says, the guest no longer wants events from this source.
        source.registration = None;
        if let Err(err) = source.io.deregister(self.reactor.poll.registry()) {
            return Ok(Err(os_error("deregister", &err)));
        }
        Ok(Ok(()))
    }

    fn wait(
        &mut self,
        writes: Vec<StreamWrite>,
        write_data: Vec<u8>,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<Batch> {
        if self.reactor.watch.stopped() {
            return Err(crate::limits::Stopped.into());
        }
        let mut batch = Vec::new();
        let mut buffer_room = if writes.is_empty() {
            Room::UNLIMITED
        } else {
            self.reactor.buffers.room(self.table)
        };
        let reactor = &mut *self.reactor;
        let mut at: usize = 0;
        for write in writes {
            let bytes = at
                .checked_add(write.len as usize)
                .and_then(|end| write_data.get(at..end))
                .ok_or_else(|| {
                    wasmtime::format_err!(
                        "reactor.wait: the writes' lengths add up to more than the {} bytes of \
                         write-data",
                        write_data.len()
                    )
                })?;
            at += bytes.len();
            let stream = self
                .table
                .get_mut(&Resource::<Stream>::new_borrow(write.id))
                .map_err(|err| {
                    wasmtime::Error::from(err).context(format!(
                        "reactor.wait: stream id {} names no open stream",
                        write.id
                    ))
                })?;
            batch.extend(stream.batched_write(bytes, reactor.poll.registry(), &mut buffer_room));
            if stream.must_report() {
                reactor.written.push(write.id);
            }
            if stream.starving(stream.has_refused()) {
                reactor.buffers.starve(write.id);
            }
        }
        self.reactor.rearm(self.table);
        let mut timeout = timeout_ns.map(Duration::from_nanos);
        if self.reactor.has_completions()
            || !batch.is_empty()
            || !self.reactor.held_streams.is_empty()
            || (self.reactor.buffers.has_starved()
                && self.reactor.buffers.room(self.table).is_open())
        {
            // Finished work or a failed write is waiting: report it now, with whatever
            // else is ready.
            timeout = Some(Duration::ZERO);
        }
        let reactor = &mut *self.reactor;
        match reactor.poll.poll(&mut reactor.events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: no readiness, and the guest loop comes back.
            // The batch still reports what its writes left buffered (the guest counts on
            // it) and finished work.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => reactor.events.clear(),
            Err(err) => return Err(wasmtime::Error::from(err).context("reactor wait failed")),
        }
        if reactor.watch.stopped() {
            return Err(crate::limits::Stopped.into());
        }
        batch.reserve(reactor.events.iter().count());
        // The bytes read for the batch's streams, and what the batch may still carry.
        let mut data = Vec::new();
        let mut room = MAX_BATCH_DATA;
        let held = std::mem::take(&mut reactor.held_streams);
        reactor.served_streams.clear();
        for event in reactor.events.iter() {
            let Some((kind, rep)) = decode(event.token()) else {
                continue;
            };
            match kind {
                TokenKind::Source => {
                    let Ok(source) = self.table.get(&Resource::<Source>::new_borrow(rep)) else {
                        continue;
                    };
                    let Some(registration) = source.registration else {
                        continue;
                    };
                    let ready = readiness(event, registration.interest);
                    if ready == Interest::empty() {
                        // Readable data on a hangup-only registration: nothing to report,
                        // and not re-armed, so it cannot turn into a busy loop.
                        continue;
                    }
                    batch.push(readiness_event(registration.token, ready));
                    reactor.reported.push(rep);
                }
                TokenKind::Stream => {
                    let Ok(stream) = self.table.get_mut(&Resource::<Stream>::new_borrow(rep))
                    else {
                        continue;
                    };
                    let outcome =
                        stream.on_ready(event, reactor.poll.registry(), &mut data, &mut room);
                    if outcome.rearm {
                        reactor.unfinished_streams.push(rep);
                    }
                    if outcome.held {
                        reactor.held_streams.push(rep);
                    }
                    reactor.served_streams.push(rep);
                    batch.extend(outcome.event);
                }
            }
        }
        // Streams holding input that the kernel did not report again: served as if
        // readable (one event per stream per batch still).
        for rep in held {
            if reactor.served_streams.contains(&rep) {
                continue;
            }
            let Ok(stream) = self.table.get_mut(&Resource::<Stream>::new_borrow(rep)) else {
                continue;
            };
            let outcome = stream.on_held(reactor.poll.registry(), &mut data, &mut room);
            if outcome.rearm {
                reactor.unfinished_streams.push(rep);
            }
            if outcome.held {
                reactor.held_streams.push(rep);
            }
            batch.extend(outcome.event);
        }
        for rep in reactor.written.drain(..) {
            if let Ok(stream) = self.table.get_mut(&Resource::<Stream>::new_borrow(rep)) {
                batch.extend(stream.buffer_event());
            }
        }
        // Streams that refused bytes with nothing of their own buffered hear of room here.
        for rep in reactor.buffers.fed(self.table) {
            let Ok(stream) = self.table.get(&Resource::<Stream>::new_borrow(rep)) else {
                continue;
            };
            let Some(room_event) = stream.room_event() else {
                continue;
            };
            match batch
                .iter_mut()
                .find(|event| event.token == room_event.token)
            {
                Some(event) => event.readiness |= Interest::WRITABLE,
                None => batch.push(room_event),
            }
        }
        reactor.drain_completions(&mut batch);
        // The guest's next callback starts now: the watchdog charges it from here.
        reactor.watch.callback_since = std::time::Instant::now();
        Ok(Batch {
            events: batch,
            data,
        })
    }
}

impl wit::HostSource for ReactorView<'_> {
    fn drop(&mut self, src: Resource<Source>) -> wasmtime::Result<()> {
        let mut source = self.table.delete(src)?;
        if source.registration.take().is_some() {
            // Closing the fd would remove it from the epoll set too, unless the fd was
            // duplicated elsewhere; deregister explicitly so no event can outlive the handle.
            if let Err(err) = source.io.deregister(self.reactor.poll.registry()) {
                tracing::debug!(%err, "reactor: deregistering a dropped source failed");
            }
        }
        Ok(())
    }
}
