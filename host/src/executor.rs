//! `run_in_executor`'s default executor: the host side of the WIT interface
//! `sandloop:host/executor`.
//!
//! A [`Pool`] runs jobs on worker threads, each with a sibling instance of the running
//! component: same code, memory of its own, like a process pool. A job is a function the
//! component exports by name through `sandloop:jobs/jobs@0.1.0` (the guest crate's `jobs!`
//! macro writes that export); its arguments and result cross as bytes the guest
//! serialized. Submitting gives a [`Job`] at once; its answer comes later, announced by a
//! `readable` event under the guest's token, as DNS answers are.
//!
//! - Workers start on demand, up to the pool's `max-workers` (at most [`MAX_WORKERS`]), and
//!   are kept for the next jobs (the `pool` module).
//! - A job that returns an error is `failed`; a worker that traps fails its job as
//!   `trapped` and is replaced by a fresh instance for the next job; a component without
//!   the jobs export (or without that job) answers `unknown-job` (the `instance` module).
//! - `shutdown` stops taking jobs, cancels the queued ones and reports its token once the
//!   running ones have finished. Dropping the pool does the same without reporting
//!   anything of its own: running jobs finish on their threads, which then exit.
//! - When the instance ends, its pools are dropped with its store, so no worker outlives
//!   its current job.
//!
//! A job still running when the guest drops its [`Job`] finishes, and its answer is
//! discarded. A job's answer is reported to a [`Job`] the guest still holds even after the
//! pool was dropped: a loop that gave up waiting for the pool may still await a job.

mod instance;
mod pool;
mod worker_bindings;

use std::sync::Arc;

use crate::error::Error;
use crate::reactor::Completer;
use crate::slot::Slot;

pub(crate) use instance::{WorkerSpec, runners};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use pool::JobRunner;
use pool::WorkerPool;
pub(crate) use pool::{Answer, JobError, RunnerFactory};
pub(crate) use worker_bindings::WorkerPre;

mod host;
#[cfg(test)]
mod tests;

/// The most workers one pool runs; a guest asking for more gets this many.
pub const MAX_WORKERS: u32 = 64;

/// A pool of worker instances: the WIT `executor.pool`. Dropping it shuts it down without
/// waiting.
pub struct Pool {
    workers: WorkerPool,
}

/// One submitted job: the WIT `executor.job`. Dropping it abandons the answer (the job
/// still runs).
pub struct Job {
    slot: Arc<Slot<Answer>>,
}

impl Drop for Job {
    fn drop(&mut self) {
        self.slot.abandon();
    }
}

/// What the pools of one instance are made with: the reactor they report to, and where
/// their workers come from.
pub(crate) struct Executor {
    completer: Completer,
    runners: RunnerFactory,
}

impl Executor {
    pub(crate) fn new(completer: Completer, runners: RunnerFactory) -> Executor {
        Executor { completer, runners }
    }
}

impl Pool {
    /// A pool of `max_workers` worker instances (clamped to 1 to [`MAX_WORKERS`]) made by
    /// `executor`, none started yet.
    pub(crate) fn new(executor: &Executor, max_workers: u32) -> Pool {
        let clamped = max_workers.clamp(1, MAX_WORKERS);
        if clamped != max_workers {
            tracing::debug!(
                asked = max_workers,
                given = clamped,
                "executor: max-workers out of range (1 to {MAX_WORKERS})"
            );
        }
        let workers = WorkerPool::new(
            clamped as usize,
            executor.completer.clone(),
            Arc::clone(&executor.runners),
        );
        Pool { workers }
    }

    /// `submit`: queues job `name`; its answer is reported under `token`.
    pub(crate) fn submit(&self, name: String, args: Vec<u8>, token: u64) -> Result<Job, Error> {
        let slot = self.workers.submit(name, args, token)?;
        Ok(Job { slot })
    }

    /// `shutdown`: see [`WorkerPool::shutdown`].
    pub(crate) fn shutdown(&self, token: u64) {
        self.workers.shutdown(token);
    }
}

impl Job {
    /// The job's answer, once it was delivered.
    pub(crate) fn answer(&self) -> Option<Answer> {
        self.slot.get()
    }
}
