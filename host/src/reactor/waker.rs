//! What other threads hold of an instance's reactor: the [`ReactorWaker`], which
//! interrupts its `wait`, and the [`Completer`], which reports work done on a host thread
//! (a DNS lookup, an executor job, a post, a signal) as a `readable` event under a guest
//! token.
//!
//! Completions go through a queue of guest tokens: the thread pushes the token and wakes
//! the reactor, and `wait` reports each as a `readable` event. A non-empty queue makes
//! `wait` poll without blocking.
//!
//! A wake reaches the instance as an [`Alarm`]: the [`Bell`] of its own epoll when it
//! blocks a thread of its own (a flag, and an eventfd once it first blocked), or the
//! [`Doorbell`] of its parked wait on shared threads (no descriptor at all).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering, fence};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::doorbell::Doorbell;
use super::event::{Event, Interest};
use super::token::WAKER_TOKEN;

/// How a wake reaches an instance's `wait`.
#[derive(Clone)]
pub(super) enum Alarm {
    /// The instance blocks in its own epoll: the bell wakes it.
    Eventfd(Arc<Bell>),
    /// The instance parks its task on shared threads: the doorbell wakes the task.
    Doorbell(Arc<Doorbell>),
}

impl Alarm {
    fn ring(&self) -> io::Result<()> {
        match self {
            Alarm::Eventfd(bell) => bell.ring(),
            Alarm::Doorbell(doorbell) => {
                doorbell.ring();
                Ok(())
            }
        }
    }
}

/// The wake of an instance blocking in its own epoll: a flag that every wait takes, and
/// the eventfd that interrupts a wait already blocked, made by the first wait that may
/// block. An instance that never blocks (a short run, a loop that always has work) never
/// makes it: an eventfd, its registration and its close are a fifth of a small guest's
/// start.
#[derive(Default)]
pub(super) struct Bell {
    rung: AtomicBool,
    eventfd: OnceLock<mio::Waker>,
}

impl Bell {
    fn ring(&self) -> io::Result<()> {
        self.rung.store(true, Ordering::Relaxed);
        // Pairs with the fence of `take`: either this sees the eventfd, or `take` sees
        // the flag (the store-load order both sides need).
        fence(Ordering::SeqCst);
        match self.eventfd.get() {
            Some(eventfd) => eventfd.wake(),
            None => Ok(()),
        }
    }

    /// Called by each wait of the reactor's own thread before the kernel's: makes the
    /// eventfd (registered in `registry`) if the wait may `block` and it does not exist
    /// yet, and says whether a wake came since the last wait (then it must not block).
    pub(super) fn take(&self, registry: &mio::Registry, block: bool) -> io::Result<bool> {
        if block && self.eventfd.get().is_none() {
            // Only this thread sets it.
            let _ = self.eventfd.set(mio::Waker::new(registry, WAKER_TOKEN)?);
        }
        fence(Ordering::SeqCst);
        Ok(self.rung.swap(false, Ordering::Relaxed))
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
pub struct ReactorWaker(pub(super) Alarm);

impl ReactorWaker {
    /// Makes the instance's current or next `wait` return.
    pub fn wake(&self) -> io::Result<()> {
        self.0.ring()
    }
}

/// Reports work that host threads finished for the guest: a clone lives on each such
/// thread, the queue is drained by the instance's `wait`.
#[derive(Clone)]
pub(crate) struct Completer {
    queue: Arc<Mutex<Vec<u64>>>,
    /// Set after a push: lets `wait` skip the lock when nothing was completed.
    queued: Arc<AtomicBool>,
    waker: Alarm,
}

impl Completer {
    /// Queues a `readable` event under `token` and wakes the instance's `wait`.
    pub(crate) fn complete(&self, token: u64) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(token);
        self.queued.store(true, Ordering::Release);
        if let Err(err) = self.waker.ring() {
            // The event is queued; the next `wait` that returns for any reason reports it.
            tracing::debug!(%err, "reactor: waking for a completion failed");
        }
    }
}

/// The reactor's end of the completion queue.
#[derive(Default)]
pub(super) struct Completions {
    /// Guest tokens of work finished by host threads, not yet reported.
    queue: Arc<Mutex<Vec<u64>>>,
    /// Whether `queue` may hold tokens (set after each push, cleared by the drain), so a
    /// `wait` with nothing completed takes no lock.
    queued: Arc<AtomicBool>,
    /// The drained tokens, swapped with the queue so neither allocates per wait.
    drained: Vec<u64>,
}

impl Completions {
    /// A completer that pushes into this queue and wakes `waker`.
    pub(super) fn completer(&self, waker: &Alarm) -> Completer {
        Completer {
            queue: Arc::clone(&self.queue),
            queued: Arc::clone(&self.queued),
            waker: waker.clone(),
        }
    }

    /// Whether finished work is waiting to be reported.
    pub(super) fn pending(&self) -> bool {
        self.queued.load(Ordering::Acquire)
    }

    /// Moves the finished work into `events` as `readable` events.
    pub(super) fn drain_into(&mut self, events: &mut Vec<Event>) {
        // A push that lands after this swap sets the flag again: the next wait reports it.
        if !self.queued.swap(false, Ordering::AcqRel) {
            return;
        }
        std::mem::swap(
            &mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner),
            &mut self.drained,
        );
        events.extend(
            self.drained
                .drain(..)
                .map(|token| Event::readiness(token, Interest::READABLE)),
        );
    }
}
