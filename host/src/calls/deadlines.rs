//! The timer that fails calls whose timeout passed: one thread per workload's callers,
//! started by the first call with a timeout, not one per call.
//!
//! A deadline fires on the host whatever the guest does: a guest stuck in a callback (until
//! its callback time limit traps it) cannot hold a caller past its timeout. The call then
//! fails with [`CallError::TimedOut`](super::CallError::TimedOut) and the guest is told to
//! cancel its task.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::error::CallError;
use super::pending::MAX_PENDING_CALLS;
use crate::inbox::Poster;

/// The timer thread's handle: dropping it (with the last caller and call of the workload)
/// ends the thread.
pub(crate) struct Deadlines {
    shared: Arc<Shared>,
    poster: Poster,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Default)]
struct State {
    /// Soonest first.
    due: BinaryHeap<Reverse<Deadline>>,
    stopped: bool,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Deadline {
    at: Instant,
    call: u64,
    after: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Deadlines {
    /// Starts the thread that times out calls made through `poster`.
    pub(crate) fn start(poster: Poster) -> io::Result<Deadlines> {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changed: Condvar::new(),
        });
        let thread_shared = Arc::clone(&shared);
        let thread_poster = poster.clone();
        std::thread::Builder::new()
            .name("sandloop-call-timer".into())
            .spawn(move || run(&thread_shared, &thread_poster))?;
        Ok(Deadlines { shared, poster })
    }

    /// Fails call `call` with `TimedOut` once `after` has passed from now, unless it was
    /// answered before.
    pub(crate) fn add(&self, call: u64, after: Duration) {
        // A timeout too large for an `Instant` never fires.
        let Some(at) = Instant::now().checked_add(after) else {
            return;
        };
        let mut state = self.shared.lock();
        // The deadlines of calls answered long before their timeout stay until due: when
        // they outnumber what can be pending, drop theirs, so the heap stays bounded.
        if state.due.len() >= 2 * MAX_PENDING_CALLS {
            state
                .due
                .retain(|Reverse(d)| self.poster.is_call_pending(d.call));
        }
        let soonest = state.due.peek().is_none_or(|Reverse(d)| at < d.at);
        state.due.push(Reverse(Deadline { at, call, after }));
        drop(state);
        if soonest {
            self.shared.changed.notify_one();
        }
    }
}

impl Drop for Deadlines {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.changed.notify_one();
    }
}

/// The timer thread: sleeps until the soonest deadline, fails the calls that are due.
fn run(shared: &Shared, poster: &Poster) {
    let mut state = shared.lock();
    loop {
        if state.stopped {
            return;
        }
        let now = Instant::now();
        match state.due.peek() {
            None => {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            Some(Reverse(soonest)) if soonest.at > now => {
                let wait = soonest.at - now;
                state = shared
                    .changed
                    .wait_timeout(state, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            Some(_) => {
                let Some(Reverse(due)) = state.due.pop() else {
                    continue;
                };
                drop(state);
                // Answered, abandoned or failed already: nothing to do.
                if let Some(slot) = poster.give_up_call(due.call) {
                    let name = slot.name().to_string();
                    slot.complete(Err(CallError::TimedOut {
                        name,
                        after: due.after,
                    }));
                }
                state = shared.lock();
            }
        }
    }
}
