//! The `sandloop:host/executor` and `inbox` bindings: the worker pool behind
//! `run_in_executor`, and the messages and calls host threads post into the loop.

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

/// One message from the inbox: a callback's (or exported function's) name, its argument,
/// and for a call the id to answer.
pub(crate) struct InboxMessage {
    pub(crate) name: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) call: Option<u64>,
}

/// Why a call has no result, as the guest answers it.
pub(crate) enum CallFailure {
    NoSuchFunction,
    BadArguments(String),
    Failed(String),
    Cancelled,
}

/// Takes the waiting messages, oldest first, and the ids of the calls the host gave up on.
pub(crate) fn inbox_take() -> (Vec<InboxMessage>, Vec<u64>) {
    let batch = inbox::take();
    let messages = batch
        .messages
        .into_iter()
        .map(|m| InboxMessage {
            name: m.name,
            payload: m.payload,
            call: m.call,
        })
        .collect();
    (messages, batch.cancelled)
}

/// Answers call `call`.
pub(crate) fn inbox_answer(call: u64, result: std::result::Result<Vec<u8>, CallFailure>) {
    let result = result.map_err(|failure| match failure {
        CallFailure::NoSuchFunction => inbox::CallError::NoSuchFunction,
        CallFailure::BadArguments(m) => inbox::CallError::BadArguments(m),
        CallFailure::Failed(m) => inbox::CallError::Failed(m),
        CallFailure::Cancelled => inbox::CallError::Cancelled,
    });
    inbox::answer(call, result.as_deref());
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
