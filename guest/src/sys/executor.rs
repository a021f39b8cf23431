//! The `sandloop:host/executor` and `inbox` bindings: the worker pool behind
//! `run_in_executor`, and the messages host threads post into the loop.

use super::bindings::{executor, inbox};
use super::errors::error_from_wit;
use crate::error::{Error, Result};

/// A pool of sibling instances on host threads (`executor.pool`).
pub(crate) struct HostPool(executor::Pool);

/// A submitted job (`executor.job`).
pub(crate) struct HostJob(executor::Job);

/// Why a job gave no result.
pub(crate) enum JobFailure {
    Failed(String),
    Trapped(String),
    UnknownJob(String),
    Cancelled,
}

impl HostPool {
    pub(crate) fn new(max_workers: u32) -> HostPool {
        HostPool(executor::Pool::new(max_workers))
    }

    /// Queues job `name`; its event comes under `token`.
    pub(crate) fn submit(&self, name: &str, args: &[u8], token: u64) -> Result<HostJob> {
        self.0
            .submit(name, args, token)
            .map(HostJob)
            .map_err(error_from_wit)
    }

    /// Stops taking jobs; the event under `token` comes once running jobs are done.
    pub(crate) fn shutdown(&self, token: u64) {
        self.0.shutdown(token);
    }
}

impl HostJob {
    /// The answer, once the job's event came; `None` before.
    pub(crate) fn answer(&self) -> Option<std::result::Result<Vec<u8>, JobFailure>> {
        Some(self.0.answer()?.map_err(|e| match e {
            executor::JobError::Failed(m) => JobFailure::Failed(m),
            executor::JobError::Trapped(m) => JobFailure::Trapped(m),
            executor::JobError::UnknownJob(m) => JobFailure::UnknownJob(m),
            executor::JobError::Cancelled => JobFailure::Cancelled,
        }))
    }
}

/// Has the reactor report `token` whenever messages wait in the instance's inbox.
pub(crate) fn inbox_watch(token: u64) {
    inbox::watch(token);
}

/// Takes the waiting messages: `(callback name, payload)`.
pub(crate) fn inbox_take() -> Vec<(String, Vec<u8>)> {
    inbox::take()
        .into_iter()
        .map(|m| (m.name, m.payload))
        .collect()
}

/// Closes the inbox: posts from outside fail until a loop watches it again.
pub(crate) fn inbox_close() {
    inbox::close();
}

impl From<JobFailure> for Error {
    fn from(f: JobFailure) -> Error {
        match f {
            JobFailure::Failed(m) => Error::other(m),
            JobFailure::Trapped(m) => Error::runtime(format!("the executor's worker trapped: {m}")),
            JobFailure::UnknownJob(name) => Error::runtime(format!(
                "no job named {name:?}: declare it with sandloop::jobs!"
            )),
            JobFailure::Cancelled => Error::Cancelled(Some("the executor was shut down".into())),
        }
    }
}
