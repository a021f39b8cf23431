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

use wasmtime::component::Resource;

use crate::bindings::executor::{self as wit, JobError};
use crate::bindings::types::Error;
use crate::reactor::Completer;
use crate::slot::Slot;
use crate::state::ExecutorView;

pub(crate) use instance::{WorkerSpec, runners};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use pool::JobRunner;
pub(crate) use pool::RunnerFactory;
use pool::{Answer, WorkerPool};
pub(crate) use worker_bindings::WorkerPre;

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

impl wit::Host for ExecutorView<'_> {}

impl wit::HostPool for ExecutorView<'_> {
    /// The WIT constructor cannot return an error, so no handle-limit check: a pool past
    /// the table's hard capacity traps the instance (see `crate::limits::handles`).
    fn new(&mut self, max_workers: u32) -> wasmtime::Result<Resource<Pool>> {
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
            self.executor.completer.clone(),
            Arc::clone(&self.executor.runners),
        );
        Ok(self.table.push(Pool { workers })?)
    }

    fn submit(
        &mut self,
        pool: Resource<Pool>,
        name: String,
        args: Vec<u8>,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<Job>, Error>> {
        // Checked before the job is queued: a refused job never runs.
        if let Err(err) = crate::limits::check_room(self.table, self.limits, "submit", 1) {
            return Ok(Err(err));
        }
        let slot = match self.table.get(&pool)?.workers.submit(name, args, token) {
            Ok(slot) => slot,
            Err(err) => return Ok(Err(err)),
        };
        Ok(Ok(self.table.push(Job { slot })?))
    }

    fn shutdown(&mut self, pool: Resource<Pool>, token: u64) -> wasmtime::Result<()> {
        self.table.get(&pool)?.workers.shutdown(token);
        Ok(())
    }

    fn drop(&mut self, pool: Resource<Pool>) -> wasmtime::Result<()> {
        self.table.delete(pool)?;
        Ok(())
    }
}

impl wit::HostJob for ExecutorView<'_> {
    fn answer(
        &mut self,
        job: Resource<Job>,
    ) -> wasmtime::Result<Option<Result<Vec<u8>, JobError>>> {
        Ok(self.table.get(&job)?.slot.get())
    }

    fn drop(&mut self, job: Resource<Job>) -> wasmtime::Result<()> {
        self.table.delete(job)?;
        Ok(())
    }
}
