//! Where the answer of work done on a host thread lands: written once by whoever finishes
//! the work, read by the guest through the resource that owns the slot (a DNS lookup, an
//! executor job).
//!
//! The guest learns that the answer is there from a `readable` event under its token,
//! reported through the reactor's [`Completer`]; it then reads the answer with a method of
//! the resource. A guest that dropped the resource abandoned the answer: the work may still
//! finish, but nothing is reported, so the guest never sees an event for a token it gave
//! up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::reactor::Completer;

/// One answer, shared by the resource the guest holds and the thread that computes it.
pub(crate) struct Slot<T> {
    answer: Mutex<Option<T>>,
    /// The guest dropped the resource: nobody wants the answer.
    abandoned: AtomicBool,
}

impl<T: Clone> Slot<T> {
    pub(crate) fn new() -> Arc<Slot<T>> {
        Arc::new(Slot {
            answer: Mutex::new(None),
            abandoned: AtomicBool::new(false),
        })
    }

    /// Whether the guest dropped the resource that owns the slot.
    pub(crate) fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }

    /// Marks the answer unwanted: called when the guest drops the owning resource.
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    /// Stores the answer, then reports `token` through `completer` unless the answer was
    /// abandoned. The answer is stored first, so the guest that handles the event finds it.
    pub(crate) fn deliver(&self, answer: T, completer: &Completer, token: u64) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = Some(answer);
        if !self.is_abandoned() {
            completer.complete(token);
        }
    }

    /// The answer, if it was delivered.
    pub(crate) fn get(&self) -> Option<T> {
        self.answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
