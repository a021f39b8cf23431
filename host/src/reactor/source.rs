//! Readiness sources: the WIT `reactor.source`, a host resource whose native readiness
//! the reactor watches under a token of the guest's, and reports as it is (the guest then
//! does its own I/O: `recv`, `accept`, `read`).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use mio::Token;
use mio::unix::SourceFd;

use super::event::Interest;
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

    /// Re-registers a source the last wait reported, so that the kernel reports it again
    /// if it is still ready (level-triggered semantics on top of edge-triggered mio).
    pub(super) fn rearm(&mut self, registry: &mio::Registry, rep: u32) {
        let Some(registration) = self.registration else {
            return;
        };
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
pub(super) fn readiness(event: &mio::event::Event, asked: Interest) -> Interest {
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

/// The error of a failed `epoll_ctl`, logging the detail the WIT enum cannot carry.
fn os_error(op: &str, err: &io::Error) -> RegisterError {
    if err.kind() == io::ErrorKind::AlreadyExists {
        // The same fd is already registered through another source.
        return RegisterError::AlreadyRegistered;
    }
    tracing::debug!(%err, "reactor: {op} failed");
    RegisterError::Os
}
