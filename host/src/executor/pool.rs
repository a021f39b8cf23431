//! The threads of one worker pool: a queue of jobs, workers started on demand, shutdown.
//!
//! This module knows nothing of wasm: each thread runs its jobs through a [`JobRunner`]
//! it gets from the pool's [`RunnerFactory`] (in production a worker instance of the
//! running component, see `instance`), so the bookkeeping can be tested with plain Rust
//! runners.
//!
//! # Threads
//!
//! A thread starts when a job is queued, no thread is idle and fewer than `max_workers`
//! run. Threads stay until the pool shuts down (starting a worker instance is the costly
//! part, so an idle worker is kept for the next job, as a process pool keeps its
//! processes), then finish the job they are running and exit. The pool's state is shared
//! through an `Arc` with a closed flag and a condition variable: whoever closes the pool
//! wakes every idle thread, so no thread is left blocked after the pool and its instance
//! are gone.
//!
//! # Events
//!
//! A job's answer goes to its [`Slot`] and its token through the reactor's
//! [`Completer`] (unless the guest dropped the job). Shutdown tokens are reported after
//! the tokens of every job that was running or cancelled, so a guest woken by the
//! shutdown event finds every answer in place.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::{Error, ErrorKind, error};
use crate::reactor::Completer;
use crate::slot::Slot;

/// A job's answer: the serialized result, or why there is none.
pub(crate) type Answer = Result<Vec<u8>, JobError>;

/// Why a job has no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum JobError {
    /// The job returned an error, with its message.
    Failed(String),
    /// The worker instance trapped running it: the trap's message and backtrace.
    Trapped(String),
    /// The component exports no job of that name (or no jobs at all).
    UnknownJob(String),
    /// The pool shut down before the job started.
    Cancelled,
}

/// Runs jobs on one worker thread, one at a time.
pub(crate) trait JobRunner {
    /// Runs job `name` on `args`.
    fn run_job(&mut self, name: &str, args: &[u8]) -> Answer;
}

/// Makes the runner of each new worker thread (called on that thread).
pub(crate) type RunnerFactory = Arc<dyn Fn() -> Box<dyn JobRunner> + Send + Sync>;

/// The thread pool behind one `executor.pool` resource. Dropping it closes the pool
/// without waiting.
pub(crate) struct WorkerPool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<PoolState>,
    /// Signalled when a job is queued or the pool closes.
    work: Condvar,
    completer: Completer,
    new_runner: RunnerFactory,
    max_workers: usize,
}

#[derive(Default)]
struct PoolState {
    queue: VecDeque<QueuedJob>,
    threads: usize,
    idle: usize,
    /// Jobs taken off the queue and not yet answered.
    running: usize,
    /// No more jobs are taken (shutdown, or the pool was dropped).
    closed: bool,
    /// Shutdown tokens to report once no job runs.
    shutdown_tokens: Vec<u64>,
}

struct QueuedJob {
    name: String,
    args: Vec<u8>,
    token: u64,
    slot: Arc<Slot<Answer>>,
}

impl QueuedJob {
    fn cancel(self, completer: &Completer) {
        self.slot
            .deliver(Err(JobError::Cancelled), completer, self.token);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the pool and cancels the queued jobs. Their events are reported under the
    /// lock, so that no shutdown event (reported by the last running job, under the same
    /// lock) can overtake them.
    fn close(&self, state: &mut PoolState) {
        state.closed = true;
        for job in state.queue.drain(..) {
            job.cancel(&self.completer);
        }
        self.work.notify_all();
    }
}

impl WorkerPool {
    /// A pool of at most `max_workers` threads (at least one), none started yet.
    pub(crate) fn new(
        max_workers: usize,
        completer: Completer,
        new_runner: RunnerFactory,
    ) -> WorkerPool {
        WorkerPool {
            shared: Arc::new(Shared {
                state: Mutex::new(PoolState::default()),
                work: Condvar::new(),
                completer,
                new_runner,
                max_workers: max_workers.max(1),
            }),
        }
    }

    /// Queues job `name`, starting a thread for it if none is idle; its answer lands in
    /// the returned slot and `token` is reported then.
    pub(crate) fn submit(
        &self,
        name: String,
        args: Vec<u8>,
        token: u64,
    ) -> Result<Arc<Slot<Answer>>, Error> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(error(
                ErrorKind::Other,
                format!(
                    "run_in_executor {name:?}: cannot schedule new jobs after the executor's shutdown"
                ),
            ));
        }
        let slot = Slot::new();
        state.queue.push_back(QueuedJob {
            name,
            args,
            token,
            slot: Arc::clone(&slot),
        });
        if state.queue.len() > state.idle && state.threads < self.shared.max_workers {
            let shared = Arc::clone(&self.shared);
            let spawned = std::thread::Builder::new()
                .name("sandloop-worker".into())
                .spawn(move || work(&shared));
            match spawned {
                Ok(_) => state.threads += 1,
                // With no thread at all the job would wait forever: refuse it.
                Err(err) if state.threads == 0 => {
                    let job = state.queue.pop_back();
                    let name = job.map(|job| job.name).unwrap_or_default();
                    return Err(error(
                        ErrorKind::Other,
                        format!("run_in_executor {name:?}: cannot start a worker thread: {err}"),
                    ));
                }
                Err(err) => tracing::debug!(%err, "executor: could not add a worker thread"),
            }
        }
        drop(state);
        self.shared.work.notify_one();
        Ok(slot)
    }

    /// Stops taking jobs and cancels those not started; reports `token` once no job runs
    /// (at once if none does). Calling it again only adds a token to report.
    pub(crate) fn shutdown(&self, token: u64) {
        let mut state = self.shared.lock();
        self.shared.close(&mut state);
        if state.running == 0 {
            self.shared.completer.complete(token);
        } else {
            state.shutdown_tokens.push(token);
        }
    }

    /// How many worker threads run now (idle ones included).
    #[cfg(test)]
    pub(crate) fn threads(&self) -> usize {
        self.shared.lock().threads
    }
}

impl Drop for WorkerPool {
    /// Shuts down without waiting: queued jobs are cancelled, running ones finish on their
    /// threads, which then exit. Nobody waits any more for the shutdown tokens asked
    /// before, so they are never reported.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        self.shared.close(&mut state);
        state.shutdown_tokens.clear();
    }
}

/// The loop of one worker thread: take the oldest job, run it, deliver its answer; exit
/// once the pool is closed and nothing is queued.
fn work(shared: &Shared) {
    // Made on first job, on this thread; `None` again after a runner panicked.
    let mut runner: Option<Box<dyn JobRunner>> = None;
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.queue.pop_front() {
            state.running += 1;
            drop(state);
            let answer = run(shared, &mut runner, &job.name, &job.args);
            // Delivered under the lock, which this thread then keeps until it waits as
            // idle: a guest that submits again as soon as it sees the answer finds this
            // worker idle, instead of starting another thread.
            state = shared.lock();
            job.slot.deliver(answer, &shared.completer, job.token);
            state.running -= 1;
            if state.closed && state.running == 0 {
                for token in state.shutdown_tokens.drain(..) {
                    shared.completer.complete(token);
                }
            }
            continue;
        }
        if state.closed {
            break;
        }
        state.idle += 1;
        state = shared
            .work
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
        state.idle -= 1;
    }
    drop(state);
    // The worker instance, if any, ends before the thread stops counting, so a count of
    // zero means every worker instance is gone.
    drop(runner);
    shared.lock().threads -= 1;
}

/// Runs one job. A panic in the host code under the runner (a bug, never the guest's doing:
/// guest failures are traps) fails the job instead of killing the thread with the job
/// counted as running forever, and the runner is replaced.
fn run(
    shared: &Shared,
    runner: &mut Option<Box<dyn JobRunner>>,
    name: &str,
    args: &[u8],
) -> Answer {
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        runner
            .get_or_insert_with(|| (shared.new_runner)())
            .run_job(name, args)
    }));
    outcome.unwrap_or_else(|_| {
        *runner = None;
        tracing::error!(job = name, "executor: the host panicked running a job");
        Err(JobError::Trapped(format!(
            "job {name:?}: the host failed running it (a host bug; see the host log)"
        )))
    })
}
