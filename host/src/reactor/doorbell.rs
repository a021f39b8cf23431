//! The doorbell of an instance on shared threads: what its reactor waker and its
//! completer ring instead of an eventfd, so that an instance costs no descriptor for its
//! wake-ups.
//!
//! A ring that comes while the instance is not parked is kept (the flag), so that its next
//! `wait` returns at once, as an eventfd's count would make it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// A wake-up flag and the task waker of a parked `wait`.
#[derive(Default)]
pub(crate) struct Doorbell {
    rung: AtomicBool,
    /// The task of the parked `wait`, if it is parked.
    parked: Mutex<Option<Waker>>,
}

impl Doorbell {
    /// Wakes the parked `wait`, or has the next one return at once.
    pub(crate) fn ring(&self) {
        self.rung.store(true, Ordering::Release);
        let parked = self
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }

    /// Whether it rang since the last call (and forgets the ring).
    pub(crate) fn answer(&self) -> bool {
        self.rung.swap(false, Ordering::AcqRel)
    }

    /// Ready once it rang; otherwise parks `cx`'s task until it does.
    pub(crate) fn poll_rung(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.answer() {
            return Poll::Ready(());
        }
        *self.parked.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
        // A ring between the check and the parking found no waker: look again.
        match self.answer() {
            true => Poll::Ready(()),
            false => Poll::Pending,
        }
    }
}
