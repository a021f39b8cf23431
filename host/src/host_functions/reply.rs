//! One call's answer, between the [`Reply`] the application answers through and the
//! [`HostCall`] the guest holds in its table.
//!
//! The guest's side owns the answer's place; the reply only points at it (a `Weak`).
//! When the guest drops the call, or its instance ends and the table goes with the store,
//! the place is freed at once, whatever the application still holds: a reply answered
//! afterwards finds nothing and is dropped quietly, and a reply the application keeps
//! forever keeps nothing of the instance alive (not its reactor's waker, not its memory).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use serde::Serialize;

use crate::reactor::Completer;

/// A call's answer: the function's bytes, or why there are none.
pub(crate) type Answer = Result<Vec<u8>, CallError>;

/// Why a call has no result: the WIT `call-error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CallError {
    /// The function answered with an error: its message.
    Failed(String),
    /// The function ended without answering: it panicked, or dropped its reply.
    NoAnswer(String),
}

/// Where the answer lands, and how the guest learns it is there.
struct Place {
    state: Mutex<PlaceState>,
    completer: Completer,
    token: u64,
}

#[derive(Default)]
struct PlaceState {
    answer: Option<Answer>,
    /// The guest dropped the call: nothing is reported any more.
    abandoned: bool,
}

impl Place {
    fn lock(&self) -> MutexGuard<'_, PlaceState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pending call as the guest holds it in its resource table: the WIT
/// `host-functions.host-call`. Dropping it abandons the answer.
pub struct HostCall {
    place: Arc<Place>,
}

impl HostCall {
    /// The answer, once delivered; taken, so a second read gives `None`.
    pub(crate) fn take_answer(&self) -> Option<Answer> {
        self.place.lock().answer.take()
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        // Under the lock: a reply delivering right now either reported before this (an
        // event the guest's loop ignores, as for any abandoned lookup) or sees the flag.
        self.place.lock().abandoned = true;
    }
}

/// How a host function answers its call, from any thread, at any time: once, with
/// [`answer`](Reply::answer) or [`answer_json`](Reply::answer_json).
///
/// A reply dropped without an answer (its function panicked, or forgot it) fails the
/// guest's call with a message saying so, so the guest never waits forever. Answering a
/// call whose guest is gone (the run ended, or the task awaiting it was cancelled) does
/// nothing.
pub struct Reply {
    place: Weak<Place>,
    /// The function's name, for the messages of a reply dropped unanswered.
    name: Box<str>,
    answered: bool,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("function", &self.name)
            .field("abandoned", &self.is_abandoned())
            .finish()
    }
}

/// A pending call of function `name` reported under `token` through `completer`, and
/// its reply.
pub(crate) fn pending(name: &str, completer: Completer, token: u64) -> (HostCall, Reply) {
    let place = Arc::new(Place {
        state: Mutex::new(PlaceState::default()),
        completer,
        token,
    });
    let reply = Reply {
        place: Arc::downgrade(&place),
        name: name.into(),
        answered: false,
    };
    (HostCall { place }, reply)
}

impl Reply {
    /// Answers the call: `Ok` with the answer's bytes, or `Err` with a message the guest
    /// gets as its error.
    pub fn answer(self, result: Result<Vec<u8>, String>) {
        self.deliver(result.map_err(CallError::Failed));
    }

    /// Answers the call with `result` encoded as JSON (what the guest's
    /// `host_functions::call` decodes), or with the error's `Display` as its message.
    pub fn answer_json<R: Serialize, E: std::fmt::Display>(self, result: Result<R, E>) {
        let answer = match result {
            Ok(value) => super::encode(&self.name, &value),
            Err(err) => Err(err.to_string()),
        };
        self.answer(answer);
    }

    /// Whether nobody waits for the answer any more: the guest stopped awaiting the
    /// call, or its run ended. Long work may check it and stop early.
    pub fn is_abandoned(&self) -> bool {
        self.place
            .upgrade()
            .is_none_or(|place| place.lock().abandoned)
    }

    /// The name of the function this reply answers for.
    pub fn function(&self) -> &str {
        &self.name
    }

    /// Fails the call with `error` (a host-side failure, not the function's answer).
    pub(crate) fn fail(self, error: CallError) {
        self.deliver(Err(error));
    }

    fn deliver(mut self, answer: Answer) {
        self.answered = true;
        put(&self.place, answer);
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        let message = if std::thread::panicking() {
            format!("host function {:?} panicked", self.name)
        } else {
            format!(
                "host function {:?} dropped its reply without answering",
                self.name
            )
        };
        put(&self.place, Err(CallError::NoAnswer(message)));
    }
}

/// Stores `answer` and reports it, unless the guest is gone or gave the call up.
fn put(place: &Weak<Place>, answer: Answer) {
    let Some(place) = place.upgrade() else {
        return;
    };
    let mut state = place.lock();
    if state.abandoned {
        return;
    }
    // Stored before the report, so the guest that handles the event finds it.
    state.answer = Some(answer);
    place.completer.complete(place.token);
}
