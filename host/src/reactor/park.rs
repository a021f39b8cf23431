//! Waiting on shared threads: an instance whose `wait` finds nothing ready parks its task
//! instead of blocking a thread.
//!
//! The instance keeps its own epoll set (its registrations, its level-triggered re-arming,
//! its O(ready) batches stay exactly as on a thread of its own), and that one descriptor
//! is watched by the shared threads' reactor (tokio's, one epoll for the process): an
//! epoll descriptor is readable while its set has events. Wake-ups from other threads ring
//! the instance's [`Doorbell`] instead of an eventfd, and the wait's timeout is a timer of
//! the shared runtime. So a parked instance holds no thread and one descriptor.
//!
//! A busy instance, whose every `wait` finds something ready, would never give its thread
//! up: after [`BUDGET`] of work since it last did, its next `wait` yields first.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use mio::Events;
use tokio::io::unix::AsyncFd;

use super::doorbell::Doorbell;

/// How long an instance on shared threads runs callbacks before its next `wait` lets the
/// others have the thread. Small against the latency an idle neighbour would notice; a
/// yield costs about a microsecond.
pub const BUDGET: Duration = Duration::from_millis(1);

/// What the parked wait of one instance needs besides its epoll.
pub(super) struct Park {
    pub(super) doorbell: Arc<Doorbell>,
    /// The instance's epoll descriptor in the shared reactor; made by the first wait that
    /// parks, which runs on a shared thread (where the runtime is).
    watched: Option<AsyncFd<EpollFd>>,
    /// When the instance last gave its thread up.
    since_yield: Instant,
}

/// The instance's epoll descriptor, borrowed: the `mio::Poll` owns and closes it, after
/// the `AsyncFd` that watches it (see `Reactor`'s field order).
struct EpollFd(RawFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Park {
    pub(super) fn new() -> Park {
        Park {
            doorbell: Arc::default(),
            watched: None,
            since_yield: Instant::now(),
        }
    }

    /// Yields the thread if the instance has run its budget since it last did.
    pub(super) async fn take_turn(&mut self) {
        if self.since_yield.elapsed() >= BUDGET {
            tokio::task::yield_now().await;
            self.since_yield = Instant::now();
        }
    }

    /// Parks until the epoll set `poll` has events (read into `events`), the doorbell
    /// rings, or `timeout` passes (`None`: never).
    pub(super) async fn park(
        &mut self,
        poll: &mut mio::Poll,
        events: &mut Events,
        timeout: Option<Duration>,
    ) -> io::Result<()> {
        if self.watched.is_none() {
            let epoll = EpollFd(poll.as_raw_fd());
            // SAFETY: the descriptor is the epoll `poll` owns, which stays open and the same
            // for as long as the `AsyncFd` exists: both belong to one `Reactor`, which drops
            // its `park` (and so the `AsyncFd`) before its `poll`.
            let watched =
                unsafe { AsyncFd::register_with_interest(epoll, tokio::io::Interest::READABLE) };
            self.watched = Some(watched.map_err(|err| err.into_parts().1)?);
        }
        let Some(watched) = &self.watched else {
            unreachable!("watched was just set")
        };
        let doorbell = &self.doorbell;
        let mut sleep = pin!(timeout.map(tokio::time::sleep));
        let parked = std::future::poll_fn(|cx| {
            loop {
                match watched.poll_read_ready(cx) {
                    Poll::Ready(Ok(mut guard)) => {
                        poll_now(poll, events)?;
                        if !events.is_empty() {
                            return Poll::Ready(Ok(()));
                        }
                        // A stale edge: the set is empty. Clear it and watch again.
                        guard.clear_ready();
                    }
                    Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                    Poll::Pending => break,
                }
            }
            if doorbell.poll_rung(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            if let Some(sleep) = sleep.as_mut().as_pin_mut()
                && sleep.poll(cx).is_ready()
            {
                return Poll::Ready(Ok(()));
            }
            Poll::Pending
        });
        let result = parked.await;
        self.since_yield = Instant::now();
        result
    }
}

/// The epoll set's events now, without blocking.
pub(super) fn poll_now(poll: &mut mio::Poll, events: &mut Events) -> io::Result<()> {
    match poll.poll(events, Some(Duration::ZERO)) {
        Err(err) if err.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        result => result,
    }
}
