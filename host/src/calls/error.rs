//! Why a call has no result: [`CallError`], and the two things it is made from, what the
//! guest answered ([`GuestFailure`]) and how the instance ended ([`Ending`]).

use std::time::Duration;

/// Why a call into a workload gave no result.
///
/// Every variant names the function called. A call to a workload that has ended fails at
/// once with the reason of its end (`Stopped`, `Trapped`, `Exited`); calls still waiting
/// when the instance ends fail with that reason too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The workload exports no function of this name (or its loop has not exported it yet).
    #[error("call {name}: the workload exports no function of this name")]
    NoSuchFunction {
        /// The function called.
        name: String,
    },
    /// The function could not decode its arguments.
    #[error("call {name}: bad arguments: {message}")]
    BadArguments {
        /// The function called.
        name: String,
        /// The guest's decoder's message.
        message: String,
    },
    /// The function ran and returned an error.
    #[error("call {name}: failed: {message}")]
    Failed {
        /// The function called.
        name: String,
        /// The function's error message.
        message: String,
    },
    /// The call's task was cancelled inside the guest (by the workload's own code, or
    /// because its loop stopped serving it).
    #[error("call {name}: cancelled in the workload")]
    Cancelled {
        /// The function called.
        name: String,
    },
    /// No answer came within the call's timeout; the guest was told to cancel its task.
    #[error("call {name}: no answer within {after:?}")]
    TimedOut {
        /// The function called.
        name: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The workload trapped (a panic, a limit) before answering, or had trapped before
    /// the call.
    #[error("call {name}: the workload trapped: {message}")]
    Trapped {
        /// The function called.
        name: String,
        /// The trap's message (its first line is the reason).
        message: String,
    },
    /// The workload was stopped from outside before answering.
    #[error("call {name}: the workload was stopped")]
    Stopped {
        /// The function called.
        name: String,
    },
    /// The workload exited before answering.
    #[error("call {name}: the workload exited with code {code}")]
    Exited {
        /// The function called.
        name: String,
        /// Its exit code.
        code: i32,
    },
    /// The workload's loop closed (or the instance ended) before answering: nothing
    /// will run the call.
    #[error("call {name}: the workload's loop is closed")]
    Closed {
        /// The function called.
        name: String,
    },
    /// The host could not encode the arguments or decode the answer (serde_json).
    #[error("call {name}: {message}")]
    Encoding {
        /// The function called.
        name: String,
        /// What failed: `encode the arguments: ...` or `decode the answer: ...`.
        message: String,
    },
    /// The call was refused to keep the host's memory bounded: too many calls wait for
    /// an answer, or its arguments are too large.
    #[error("call {name}: {message}")]
    Refused {
        /// The function called.
        name: String,
        /// Which bound the call would pass.
        message: String,
    },
    /// The host could not start the thread that times calls out.
    #[error("call {name}: the call timer could not start: {message}")]
    Timer {
        /// The function called.
        name: String,
        /// The operating system's words.
        message: String,
    },
}

/// What the guest answered instead of a result (the WIT `call-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GuestFailure {
    NoSuchFunction,
    BadArguments(String),
    Failed(String),
    Cancelled,
}

impl GuestFailure {
    /// The error of a call of `name` that got this answer.
    pub(crate) fn into_error(self, name: &str) -> CallError {
        let name = name.to_string();
        match self {
            GuestFailure::NoSuchFunction => CallError::NoSuchFunction { name },
            GuestFailure::BadArguments(message) => CallError::BadArguments { name, message },
            GuestFailure::Failed(message) => CallError::Failed { name, message },
            GuestFailure::Cancelled => CallError::Cancelled { name },
        }
    }
}

/// Why the inbox takes no more calls: its loop closed (a later loop may open it again), or
/// the instance ended (for good).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    LoopClosed,
    Exited(i32),
    Trapped(String),
    Stopped,
}

impl Ending {
    /// The error of a call of `name` that this ending leaves without an answer.
    pub(crate) fn error(&self, name: &str) -> CallError {
        let name = name.to_string();
        match self {
            Ending::LoopClosed => CallError::Closed { name },
            Ending::Exited(code) => CallError::Exited { name, code: *code },
            Ending::Trapped(message) => CallError::Trapped {
                name,
                message: message.clone(),
            },
            Ending::Stopped => CallError::Stopped { name },
        }
    }
}
