//! The shared reactor of the instances on shared threads: one epoll for all of them.
//!
//! Every instance registers its sources and streams in the hub's one epoll set, under mio
//! tokens that carry its seat: `index << 44 | generation << 33 | kind << 32 | rep` (a
//! thread of its own leaves the seat bits 0, see `token.rs`). Whoever drains the set, an
//! instance in its `wait` or the hub's dispatcher task when the set turns readable, hands
//! each event to the mailbox of the seat it names and rings that instance's doorbell. So
//! an instance costs no descriptor of its own for its reactor: what it opens, and nothing
//! else.
//!
//! The seat's generation keeps an event that was read for an instance that has since
//! ended from reaching the instance that took its seat.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use mio::Events;
use tokio::io::unix::AsyncFd;

use super::doorbell::Doorbell;
use super::event::Readiness;

/// Bits of a token below the seat: the kind and the table index.
const SEAT_SHIFT: u32 = 33;
/// Bits of the seat's generation.
const GENERATION_BITS: u32 = 11;
/// The most seats a hub has (2^20, about a million instances).
const MAX_SEATS: usize = 1 << (64 - SEAT_SHIFT - GENERATION_BITS);
/// How many events one drain reads.
const EVENTS_CAPACITY: usize = 1024;

thread_local! {
    /// The seat bits of the instance whose task this thread is running (0 on a thread of
    /// an instance's own): set around each poll of a seated task (`Seated`), so that every
    /// registration the instance makes while it runs carries its seat.
    static SEAT_BITS: Cell<usize> = const { Cell::new(0) };
}

/// The seat bits to put in a token made now (see `token::token`): those of the instance
/// this thread runs, 0 on a thread of an instance's own.
pub(crate) fn seat_bits() -> usize {
    SEAT_BITS.with(Cell::get)
}

/// The part of a token below the seat bits.
pub(super) fn without_seat(token: usize) -> usize {
    token & ((1 << SEAT_SHIFT) - 1)
}

/// The shared reactor.
pub(crate) struct Hub {
    registry: mio::Registry,
    poll: Mutex<Drain>,
    seats: RwLock<Seats>,
}

/// The epoll set and the buffer one drain reads into.
struct Drain {
    poll: mio::Poll,
    events: Events,
}

#[derive(Default)]
struct Seats {
    entries: Vec<Entry>,
    free: Vec<usize>,
}

#[derive(Default)]
struct Entry {
    generation: usize,
    mailbox: Option<Arc<Mailbox>>,
}

/// What the hub read for one instance and it has not taken yet, and how to tell it.
pub(super) struct Mailbox {
    ready: Mutex<Vec<Readiness>>,
    doorbell: Arc<Doorbell>,
}

/// An instance's place at the hub: its mailbox, and its seat bits for its tokens. The seat
/// is given up when the instance's reactor goes.
pub(super) struct Seat {
    hub: Arc<Hub>,
    index: usize,
    bits: usize,
    mailbox: Arc<Mailbox>,
}

impl Hub {
    /// A hub with its epoll set; [`Hub::dispatch`] must run on the shared threads.
    pub(crate) fn new() -> io::Result<Arc<Hub>> {
        let poll = mio::Poll::new()?;
        // One duplicate of the epoll descriptor, for all instances: registering does not
        // wait for a drain's lock.
        let registry = poll.registry().try_clone()?;
        Ok(Arc::new(Hub {
            registry,
            poll: Mutex::new(Drain {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
            }),
            seats: RwLock::default(),
        }))
    }

    /// The registry every seated instance registers with.
    pub(super) fn registry(&self) -> &mio::Registry {
        &self.registry
    }

    /// A seat for an instance whose doorbell is `doorbell`.
    pub(super) fn seat(self: &Arc<Self>, doorbell: Arc<Doorbell>) -> io::Result<Seat> {
        let mailbox = Arc::new(Mailbox {
            ready: Mutex::default(),
            doorbell,
        });
        let mut seats = self.seats.write().unwrap_or_else(PoisonError::into_inner);
        let index = match seats.free.pop() {
            Some(index) => index,
            None if seats.entries.len() < MAX_SEATS => {
                seats.entries.push(Entry::default());
                seats.entries.len() - 1
            }
            None => {
                return Err(io::Error::other(format!(
                    "the shared reactor has no seat left ({MAX_SEATS} instances)"
                )));
            }
        };
        let entry = &mut seats.entries[index];
        entry.mailbox = Some(Arc::clone(&mailbox));
        let bits = index << (SEAT_SHIFT + GENERATION_BITS) | entry.generation << SEAT_SHIFT;
        Ok(Seat {
            hub: Arc::clone(self),
            index,
            bits,
            mailbox,
        })
    }

    /// Reads what the epoll set holds now and hands it out, unless another thread is doing
    /// so (its events then come through the mailboxes). `own` is the seat of the caller,
    /// whose doorbell is not rung: it takes its mailbox next. Returns how many events were
    /// read, and whether another instance's doorbell was rung.
    fn drain(&self, own: Option<usize>, wait: bool) -> io::Result<(usize, bool)> {
        let mut drain = match wait {
            true => self.poll.lock().unwrap_or_else(PoisonError::into_inner),
            false => match self.poll.try_lock() {
                Ok(drain) => drain,
                Err(_) => return Ok((0, false)),
            },
        };
        let Drain { poll, events } = &mut *drain;
        match poll.poll(events, Some(Duration::ZERO)) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok((0, false)),
            Err(err) => return Err(err),
        }
        let seats = self.seats.read().unwrap_or_else(PoisonError::into_inner);
        let mut rung: Vec<&Arc<Mailbox>> = Vec::new();
        for event in events.iter() {
            let token = event.token().0;
            let index = token >> (SEAT_SHIFT + GENERATION_BITS);
            let generation = (token >> SEAT_SHIFT) & ((1 << GENERATION_BITS) - 1);
            let Some(entry) = seats.entries.get(index) else {
                continue;
            };
            let Some(mailbox) = &entry.mailbox else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            mailbox
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Readiness::of(event));
            if own != Some(index) && !rung.iter().any(|m| Arc::ptr_eq(m, mailbox)) {
                rung.push(mailbox);
            }
        }
        let rang = !rung.is_empty();
        for mailbox in rung {
            mailbox.doorbell.ring();
        }
        Ok((events.iter().count(), rang))
    }

    /// The dispatcher, which drains the set whenever it turns readable; made inside the
    /// shared threads' runtime (its context entered), whose reactor then watches the set.
    /// An error here means the shared threads cannot be used.
    pub(crate) fn dispatcher(self: &Arc<Self>) -> io::Result<Dispatcher> {
        let fd = EpollFd(
            self.poll
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .poll
                .as_raw_fd(),
        );
        // SAFETY: the descriptor is the hub's epoll set, which the dispatcher's `Arc` keeps
        // open (and the same) for as long as the `AsyncFd` exists.
        let watched = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|err| err.into_parts().1)?;
        Ok(Dispatcher {
            hub: Arc::clone(self),
            watched,
        })
    }
}

/// The task that drains the hub when no instance's own wait does (see [`Hub::dispatcher`]).
pub(crate) struct Dispatcher {
    hub: Arc<Hub>,
    watched: AsyncFd<EpollFd>,
}

impl Dispatcher {
    /// Runs for as long as the shared threads do.
    pub(crate) async fn run(self) {
        loop {
            let mut guard = match self.watched.readable().await {
                Ok(guard) => guard,
                Err(err) => {
                    tracing::error!(%err, "shared reactor: watching its epoll failed");
                    return;
                }
            };
            match self.hub.drain(None, true) {
                Ok((0, _)) => guard.clear_ready(),
                Ok(_) => {}
                Err(err) => {
                    // Not again at once: the next edge, or the instances' own drains.
                    guard.clear_ready();
                    tracing::error!(%err, "shared reactor: draining failed");
                }
            }
        }
    }
}

impl Seat {
    /// The bits that put this seat in a token.
    pub(super) fn bits(&self) -> usize {
        self.bits
    }

    /// Drains the hub if no one else is, then moves this instance's events into `ready`.
    /// Returns whether the drain woke other instances (which wait for a thread).
    pub(super) fn take(&self, ready: &mut Vec<Readiness>) -> io::Result<bool> {
        let (_, woke_others) = self.hub.drain(Some(self.index), false)?;
        let mut mailbox = self
            .mailbox
            .ready
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::swap(&mut *mailbox, ready);
        mailbox.clear();
        Ok(woke_others)
    }

    /// The registry to register with.
    pub(super) fn registry(&self) -> &mio::Registry {
        self.hub.registry()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut seats = self
            .hub
            .seats
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = &mut seats.entries[self.index];
        entry.mailbox = None;
        entry.generation = (entry.generation + 1) & ((1 << GENERATION_BITS) - 1);
        seats.free.push(self.index);
    }
}

/// The hub's epoll descriptor, borrowed from its `mio::Poll`.
struct EpollFd(RawFd);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A task whose instance sits at a seat: each poll runs with the seat's bits set for the
/// thread (see `SEAT_BITS`).
pub(crate) struct Seated<F> {
    pub(crate) bits: usize,
    pub(crate) task: Pin<Box<F>>,
}

impl<F: Future> Future for Seated<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let bits = self.bits;
        let before = SEAT_BITS.with(|seat| seat.replace(bits));
        let polled = self.task.as_mut().poll(cx);
        SEAT_BITS.with(|seat| seat.set(before));
        polled
    }
}
