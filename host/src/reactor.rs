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
//! The guest's `u64` token is stored in the [`Source`]; mio is given the source's
//! `ResourceTable` index instead. That keeps the waker's token out of the guest's token
//! space (every `u64` is a valid guest token) and lets `wait` find the registration of an
//! event with one table lookup.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Poll, Token};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::reactor::{self as wit, ErrorCode, Event, Interest};

#[cfg(test)]
mod tests;

/// The mio token of the waker; table indices are `u32`, so it never collides with one.
const WAKER_TOKEN: Token = Token(usize::MAX);

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
/// # fn demo(workload: sandloop_host::Workload) -> anyhow::Result<()> {
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

/// One instance's reactor: a `mio::Poll`, its reusable event buffer and its waker.
pub(crate) struct Reactor {
    poll: Poll,
    events: Events,
    waker: Arc<mio::Waker>,
    /// Table indices of the sources reported by the last `wait`, re-armed before the next.
    reported: Vec<u32>,
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
        })
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
    }
}

/// The mio token of the source at table index `rep`.
fn token_of(rep: u32) -> Token {
    Token(rep as usize)
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

/// The reactor and the resource table of one instance, borrowed together: what the
/// generated `Host` traits are implemented for.
pub(crate) struct ReactorView<'a> {
    pub(crate) reactor: &'a mut Reactor,
    pub(crate) table: &'a mut ResourceTable,
}

/// Selects [`ReactorView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasReactor;

impl HasData for HasReactor {
    type Data<'a> = ReactorView<'a>;
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

    fn wait(&mut self, timeout_ns: Option<u64>) -> wasmtime::Result<Vec<Event>> {
        self.reactor.rearm(self.table);
        let timeout = timeout_ns.map(Duration::from_nanos);
        let reactor = &mut *self.reactor;
        match reactor.poll.poll(&mut reactor.events, timeout) {
            Ok(()) => {}
            // A signal interrupted the wait: an empty batch, the guest loop comes back.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(Vec::new()),
            Err(err) => return Err(wasmtime::Error::from(err).context("reactor wait failed")),
        }
        let mut batch = Vec::with_capacity(reactor.events.iter().count());
        for event in reactor.events.iter() {
            if event.token() == WAKER_TOKEN {
                continue;
            }
            let Ok(rep) = u32::try_from(event.token().0) else {
                continue;
            };
            let Ok(source) = self.table.get(&Resource::<Source>::new_borrow(rep)) else {
                continue;
            };
            let Some(registration) = source.registration else {
                continue;
            };
            let ready = readiness(event, registration.interest);
            if ready == Interest::empty() {
                // Readable data on a hangup-only registration: nothing to report, and
                // not re-armed, so it cannot turn into a busy loop.
                continue;
            }
            batch.push(Event {
                token: registration.token,
                readiness: ready,
            });
            reactor.reported.push(rep);
        }
        Ok(batch)
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
