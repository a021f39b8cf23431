//! Readiness sources: the WIT `reactor.source`, a host resource whose native readiness
//! the reactor watches under a token of the guest's, and reports as it is (the guest then
//! does its own I/O: `recv`, `accept`, `read`).

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use mio::Token;
use mio::unix::SourceFd;

use super::event::{Interest, Readiness};
use super::token::{TokenKind, token};

/// A host resource whose native readiness the reactor can watch: the WIT `reactor.source`.
///
/// The interfaces that own sockets, pipes and processes construct a `Source` around the
/// native object, push it into the instance's `ResourceTable` and hand the guest the
/// handle. Dropping the handle deregisters the source and drops what it wraps: a
/// descriptor the source shares with its socket, pipe or process (through an `Arc`) is
/// closed once the last of them is gone, so a source costs no descriptor of its own.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use sandloop_host::reactor::Source;
///
/// let (ours, _peer) = UnixStream::pair()?;
/// let source = Source::from_fd(ours);
/// assert!(!source.is_registered());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Source {
    io: Box<dyn mio::event::Source + Send>,
    registration: Option<Registration>,
    /// Where the owner of a stream socket notes that a read emptied it.
    drained: Option<Arc<Drained>>,
}

/// A stream socket's note that a read found it empty since its source was last
/// reported: a short read (or none at all) of a stream leaves nothing for the kernel to
/// report again until new bytes arrive, and their arrival is an edge of its own, so the
/// re-arm that emulates level-triggered readiness (an `epoll_ctl` per reported source and
/// wait) can be skipped for a source watched for reading only. Not after a report that
/// carried a hang-up: the end of the stream may wait behind the bytes a short read took,
/// and no edge will announce it again. A datagram socket never notes it: one datagram
/// read says nothing of the next.
#[derive(Default)]
pub(crate) struct Drained(AtomicU8);

/// [`Drained`]'s states.
const NOT_DRAINED: u8 = 0;
const DRAINED: u8 = 1;
/// The last report carried a hang-up: re-armed whatever the reads say.
const HUNG_UP: u8 = 2;

impl Drained {
    /// A read of the stream took less than it asked for, or found nothing to take.
    pub(crate) fn note(&self) {
        let _ = self
            .0
            .compare_exchange(NOT_DRAINED, DRAINED, Ordering::Relaxed, Ordering::Relaxed);
    }

    fn reported(&self, hung_up: bool) {
        let state = if hung_up { HUNG_UP } else { NOT_DRAINED };
        self.0.store(state, Ordering::Relaxed);
    }

    fn take(&self) -> bool {
        self.0.swap(NOT_DRAINED, Ordering::Relaxed) == DRAINED
    }
}

/// What the guest asked for when it registered a source.
#[derive(Clone, Copy)]
pub(super) struct Registration {
    pub(super) token: u64,
    pub(super) interest: Interest,
}

/// Why a registration was refused: the WIT's `error-code` of `register`, `reregister` and
/// `deregister`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RegisterError {
    #[error("the source is already registered")]
    AlreadyRegistered,
    #[error("the source is not registered")]
    NotRegistered,
    #[error("an empty interest")]
    EmptyInterest,
    /// `epoll_ctl` failed; the detail is in the host's debug log.
    #[error("the operating system refused")]
    Os,
}

impl Source {
    /// Wraps any mio event source (a `mio::net::TcpStream`, a `mio::unix::pipe::Receiver`,
    /// ...). The source is closed when the guest drops its handle.
    pub fn new(io: impl mio::event::Source + Send + 'static) -> Source {
        Source {
            io: Box::new(io),
            registration: None,
            drained: None,
        }
    }

    /// A source on a stream socket's shared descriptor, with the note its reads leave
    /// when they empty it (see [`Drained`]).
    pub(crate) fn from_stream_fd(fd: impl AsFd + Send + 'static, drained: Arc<Drained>) -> Source {
        Source {
            drained: Some(drained),
            ..Source::from_fd(fd)
        }
    }

    /// Wraps a descriptor: an `OwnedFd` (closed when the guest drops the handle), or an
    /// `Arc` of one that the source shares with its owner (an `Arc<socket2::Socket>`),
    /// closed when both are gone. Sharing is what the host's interfaces do: a duplicate
    /// per source would cost a descriptor for each.
    pub fn from_fd(fd: impl AsFd + Send + 'static) -> Source {
        Source::new(FdSource(fd))
    }

    /// Whether the source is currently registered with its instance's reactor.
    pub fn is_registered(&self) -> bool {
        self.registration.is_some()
    }

    /// What the guest registered it for, if it is registered.
    pub(super) fn registration(&self) -> Option<Registration> {
        self.registration
    }

    /// `register`: watch for `interest` and report it under `token`; `rep` is the
    /// source's table index, which its mio token is made of.
    pub(crate) fn register(
        &mut self,
        registry: &mio::Registry,
        rep: u32,
        token: u64,
        interest: Interest,
    ) -> Result<(), RegisterError> {
        if interest == Interest::empty() {
            return Err(RegisterError::EmptyInterest);
        }
        if self.registration.is_some() {
            return Err(RegisterError::AlreadyRegistered);
        }
        self.io
            .register(registry, token_of(rep), mio_interest(interest))
            .map_err(|err| os_error("register", &err))?;
        self.registration = Some(Registration { token, interest });
        Ok(())
    }

    /// `reregister`: change the token and the interest of a registered source.
    pub(crate) fn reregister(
        &mut self,
        registry: &mio::Registry,
        rep: u32,
        token: u64,
        interest: Interest,
    ) -> Result<(), RegisterError> {
        if self.registration.is_none() {
            return Err(RegisterError::NotRegistered);
        }
        if interest == Interest::empty() {
            return Err(RegisterError::EmptyInterest);
        }
        self.io
            .reregister(registry, token_of(rep), mio_interest(interest))
            .map_err(|err| os_error("reregister", &err))?;
        self.registration = Some(Registration { token, interest });
        Ok(())
    }

    /// `deregister`.
    pub(crate) fn deregister(&mut self, registry: &mio::Registry) -> Result<(), RegisterError> {
        if self.registration.is_none() {
            return Err(RegisterError::NotRegistered);
        }
        // Whatever the OS says, the guest no longer wants events from this source.
        self.registration = None;
        self.io
            .deregister(registry)
            .map_err(|err| os_error("deregister", &err))
    }

    /// Deregisters a source the guest dropped, if it was registered.
    pub(crate) fn release(&mut self, registry: &mio::Registry) {
        if self.registration.take().is_some() {
            // Closing the fd would remove it from the epoll set too, but the descriptor may
            // be shared (its socket, pipe or stream still holds it) or duplicated elsewhere;
            // deregister explicitly so no event can outlive the handle.
            if let Err(err) = self.io.deregister(registry) {
                tracing::debug!(%err, "reactor: deregistering a dropped source failed");
            }
        }
    }

    /// The wait reports the source now (`ready`): reads from here on tell whether it was
    /// emptied.
    pub(super) fn reported(&self, ready: Interest) {
        if let Some(drained) = &self.drained {
            drained.reported(ready.contains(Interest::HANGUP));
        }
    }

    /// Re-registers a source the last wait reported, so that the kernel reports it again
    /// if it is still ready (level-triggered semantics on top of edge-triggered mio);
    /// not a stream socket watched for reading only that a read has emptied since.
    pub(super) fn rearm(&mut self, registry: &mio::Registry, rep: u32) {
        let Some(registration) = self.registration else {
            return;
        };
        if registration.interest == Interest::READABLE
            && self.drained.as_ref().is_some_and(|drained| drained.take())
        {
            return;
        }
        let interest = mio_interest(registration.interest);
        if let Err(err) = self.io.reregister(registry, token_of(rep), interest) {
            tracing::debug!(rep, %err, "reactor: re-arming a reported source failed");
        }
    }
}

/// A descriptor, owned or shared, as a mio event source (mio's `SourceFd` only borrows
/// one).
struct FdSource<F>(F);

impl<F: AsFd> mio::event::Source for FdSource<F> {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        SourceFd(&self.0.as_fd().as_raw_fd()).deregister(registry)
    }
}

/// The mio token of the source at table index `rep`.
fn token_of(rep: u32) -> Token {
    token(TokenKind::Source, rep)
}

/// The mio interest for a registration's. mio cannot ask for hang-ups alone (the kernel
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
pub(super) fn readiness(event: &Readiness, asked: Interest) -> Interest {
    let mut ready = Interest::empty();
    if event.readable && asked.contains(Interest::READABLE) {
        ready |= Interest::READABLE;
    }
    if event.writable && asked.contains(Interest::WRITABLE) {
        ready |= Interest::WRITABLE;
    }
    if event.read_closed || event.write_closed || event.error {
        ready |= Interest::HANGUP;
    }
    ready
}

/// The error of a failed `epoll_ctl`, logging the detail the WIT enum cannot carry.
fn os_error(op: &str, err: &io::Error) -> RegisterError {
    if err.kind() == io::ErrorKind::AlreadyExists {
        // The same fd is already registered through another source.
        return RegisterError::AlreadyRegistered;
    }
    tracing::debug!(%err, "reactor: {op} failed");
    RegisterError::Os
}
