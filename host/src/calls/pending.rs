//! The calls an instance has not answered yet, and the [`Slot`] each caller waits on.
//!
//! The table lives in the instance's inbox queue, under the inbox's lock, so that queuing a
//! call's message and registering it, or closing the inbox and failing what waits, happen
//! at once: no call slips between a close and its failure. Slots are completed after the
//! lock is released (completing one wakes a task or a thread).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use super::error::{CallError, Ending};

/// The most calls one instance may have waiting for an answer or for the guest to take
/// their cancellation: each holds a slot (and, once answered, the answer until its caller
/// takes it) or an id in the inbox. A call past it fails with [`CallError::Refused`].
pub const MAX_PENDING_CALLS: usize = 1 << 16;

/// What a call ends with: the answer's bytes, or why there is none.
pub(crate) type Outcome = Result<Vec<u8>, CallError>;

/// Where one call's outcome lands; shared by the caller's `Call` and the pending table.
pub(crate) struct Slot {
    name: Arc<str>,
    state: Mutex<SlotState>,
    ready: Condvar,
}

#[derive(Default)]
struct SlotState {
    outcome: Option<Outcome>,
    /// The task awaiting the call, if it is awaited rather than waited on.
    waker: Option<Waker>,
}

impl Slot {
    /// An empty slot for a call of function `name`.
    pub(crate) fn new(name: Arc<str>) -> Arc<Slot> {
        Arc::new(Slot {
            name,
            state: Mutex::default(),
            ready: Condvar::new(),
        })
    }

    /// The function called.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts the outcome in and wakes whoever waits. Only the one that removed the call
    /// from the pending table completes it, so this happens once.
    pub(crate) fn complete(&self, outcome: Outcome) {
        let mut state = self.lock();
        state.outcome = Some(outcome);
        let waker = state.waker.take();
        drop(state);
        self.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The outcome if it is in; otherwise `cx` is woken when it comes.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Outcome> {
        let mut state = self.lock();
        if let Some(outcome) = state.outcome.take() {
            return Poll::Ready(outcome);
        }
        match &state.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocks the calling thread until the outcome is in.
    pub(crate) fn wait_take(&self) -> Outcome {
        let mut state = self.lock();
        loop {
            if let Some(outcome) = state.outcome.take() {
                return outcome;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The calls of one instance that wait for an answer, by id.
#[derive(Default)]
pub(crate) struct Pending {
    calls: HashMap<u64, Arc<Slot>>,
    next_id: u64,
    /// Set when the instance ended: every later call fails with it at once.
    ended: Option<Ending>,
}

impl Pending {
    /// How the instance ended, if it has.
    pub(crate) fn ended(&self) -> Option<&Ending> {
        self.ended.as_ref()
    }

    /// How many calls wait.
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether call `id` waits.
    pub(crate) fn contains(&self, id: u64) -> bool {
        self.calls.contains_key(&id)
    }

    /// Registers a call; its id.
    pub(crate) fn insert(&mut self, slot: Arc<Slot>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.calls.insert(id, slot);
        id
    }

    /// Takes call `id` out of the table (answered, timed out or abandoned); `None` when it
    /// was not waiting any more.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Arc<Slot>> {
        self.calls.remove(&id)
    }

    /// Takes every waiting call out, each with the error `ending` leaves it with; the
    /// caller completes them once the inbox's lock is released.
    pub(crate) fn fail_all(&mut self, ending: &Ending) -> Vec<(Arc<Slot>, CallError)> {
        self.calls
            .drain()
            .map(|(_, slot)| {
                let error = ending.error(slot.name());
                (slot, error)
            })
            .collect()
    }

    /// The instance ended with `ending`: later calls fail with it at once.
    pub(crate) fn end(&mut self, ending: Ending) {
        self.ended = Some(ending);
    }
}

/// Completes each failed call (outside any lock).
pub(crate) fn complete_failed(failed: Vec<(Arc<Slot>, CallError)>) {
    for (slot, error) in failed {
        slot.complete(Err(error));
    }
}
