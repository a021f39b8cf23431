//! The threads that run one instance's blocking host functions, off its loop: a queue,
//! threads started on demand up to a bound, kept for the next calls, and gone with the
//! instance.
//!
//! The pool's state is shared with its threads through an `Arc`; dropping the pool (with
//! the instance's store) closes it: queued calls are dropped unstarted (their replies go
//! with them, quietly, as the guest is gone) and every thread exits once it has finished
//! the call it is running. A host function that never returns keeps its thread; nothing
//! can take a thread back from code that does not return.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::Reply;

/// One queued call: its reply, and the work that answers through it.
struct Job {
    reply: Reply,
    work: Box<dyn FnOnce(Reply) + Send>,
}

/// A pool of at most `max_threads` threads. Dropping it closes it without waiting.
pub(crate) struct BlockingPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    /// Signalled when a call is queued or the pool closes.
    work: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BlockingPool {
    pub(crate) fn new(max_threads: usize) -> BlockingPool {
        BlockingPool {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Queues `work`, which answers through `reply`, starting a thread for it if none is
    /// idle and the bound allows. If no thread exists and none can be started, the call
    /// fails at once rather than wait forever.
    pub(crate) fn submit(&self, reply: Reply, work: impl FnOnce(Reply) + Send + 'static) {
        let mut state = self.shared.lock();
        state.queue.push_back(Job {
            reply,
            work: Box::new(work),
        });
        if state.queue.len() > state.idle && state.threads < self.shared.max_threads {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("sandloop-host-fn".into())
                .spawn(move || serve(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                Err(err) if state.threads == 0 => {
                    if let Some(job) = state.queue.pop_back() {
                        drop(state);
                        let name = job.reply.function().to_owned();
                        job.reply.answer(Err(format!(
                            "host function {name:?}: cannot start a thread for it: {err}"
                        )));
                    }
                    return;
                }
                Err(err) => tracing::debug!(%err, "host functions: could not add a thread"),
            }
        }
        drop(state);
        self.shared.work.notify_one();
    }

    /// Counts the pool's threads (idle ones included), even after the pool is dropped.
    #[cfg(test)]
    pub(crate) fn thread_counter(&self) -> impl Fn() -> usize + use<> {
        let shared = Arc::clone(&self.shared);
        move || shared.lock().threads
    }
}

impl Drop for BlockingPool {
    fn drop(&mut self) {
        let queued = {
            let mut state = self.shared.lock();
            state.closed = true;
            std::mem::take(&mut state.queue)
        };
        self.shared.work.notify_all();
        // Outside the lock: a dropped reply may report to a reactor.
        drop(queued);
    }
}

/// One thread: take the oldest call and run it; exit once the pool is closed.
fn serve(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if state.closed {
            break;
        }
        if let Some(job) = state.queue.pop_front() {
            drop(state);
            // The work catches its function's panics (see `Calls::start`); a panic past
            // that is dropped here with the reply, which then tells the guest.
            let Job { reply, work } = job;
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(reply)));
            state = shared.lock();
            continue;
        }
        state.idle += 1;
        state = shared
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
        state.idle -= 1;
    }
    state.threads -= 1;
}
