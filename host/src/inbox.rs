//! Messages posted into a running instance from outside it: the host side of the WIT
//! interface `sandloop:host/inbox`, and of asyncio's `call_soon_threadsafe`.
//!
//! Each instance has one inbox: a queue of `(name, payload)` messages that any number of
//! [`Poster`]s (held by host threads of the embedding application, or by whatever relays
//! between instances) append to from any thread. The guest loop watches the inbox under a
//! token of its own; when messages arrive the reactor reports `readable` under that token,
//! and the loop takes them all and turns each into a callback.
//!
//! # One event per batch
//!
//! A burst of posts must not flood the reactor's completion queue with one event each:
//! the first post after a `take` reports the token, and later posts add to the queue
//! without reporting again until the guest takes the messages. The token stays watched
//! across takes, so the guest arms it once.
//!
//! # Closing
//!
//! The inbox closes when the guest's loop closes (`close`) and for good when the instance
//! ends, whatever way. Waiting messages are dropped then, and every post fails with
//! [`PostError::Closed`] while it is closed: a message to a loop that will never run it
//! is an error, as `call_soon_threadsafe` on a closed asyncio loop is. A program may run
//! several loops one after another: the next loop's `watch` opens the inbox again.
//! Before any loop watched it, the inbox is open and keeps what is posted for the first
//! loop.
//!
//! # Calls
//!
//! A call ([`Caller`](crate::Caller), in `calls.rs`) is a message that expects an answer:
//! it carries the id under which the queue's table of pending calls
//! (`calls/pending.rs`) waits for the guest's `answer`. Calls share everything above with
//! posts; when the loop closes, the calls it has not answered fail (`Closed`), and when the
//! instance ends they fail with the reason of its end, as does every later call. A call the
//! host gives up on (timed out, or its handle dropped) is taken out of the queue if it
//! still waits there, and otherwise handed to the guest in `take`'s `cancelled` list, so
//! that the loop cancels its task.
//!
//! # Bounded batches
//!
//! One `take` hands over at most 16 MiB of payload (at least one message):
//! wasmtime traps an instance when one host call copies more than 128 MiB into it, and a
//! burst of large posts must not do that. What is left is reported again at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::calls::error::{CallError, Ending, GuestFailure};
use crate::calls::pending::{self, MAX_PENDING_CALLS, Outcome, Pending, Slot};
use crate::reactor::Completer;

/// The most payload bytes one `take` hands the guest (the rest waits for the next one).
pub(crate) const TAKE_BUDGET: usize = 16 << 20;

mod host;
#[cfg(test)]
mod tests;

/// Posts messages into one instance's loop from any thread: the host side of
/// `call_soon_threadsafe`.
///
/// Get one from [`RunningWorkload::poster`](crate::RunningWorkload::poster); clone it
/// freely. The guest registers what each message name runs; the payload is its argument,
/// in whatever encoding the workload chose.
///
/// ```no_run
/// # fn demo(workload: sandloop_host::Workload) -> Result<(), Box<dyn std::error::Error>> {
/// let running = workload.start(Default::default())?;
/// let poster = running.poster();
/// std::thread::spawn(move || {
///     // Runs the callback the guest registered under "tick", with b"1" as its argument.
///     poster.post("tick", *b"1")
/// });
/// let output = running.join()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Poster {
    shared: Arc<Shared>,
}

/// Why a message could not be posted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostError {
    /// The guest closed its loop, or the instance has ended: nothing will run the message.
    #[error("post {name:?}: the workload's loop is closed")]
    Closed {
        /// The name of the message that was not posted.
        name: String,
    },
}

/// One message: the name of a callback (or exported function) of the guest, its argument,
/// and for a call the id its answer comes back under.
pub(crate) struct Message {
    pub(crate) name: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) call: Option<u64>,
}

/// What one `take` hands the guest: messages, oldest first, and the calls given up on.
pub(crate) struct Batch {
    pub(crate) messages: Vec<Message>,
    pub(crate) cancelled: Vec<u64>,
}

/// The instance's own end of its inbox, in its store. Dropping it (the instance ended)
/// closes the inbox.
pub(crate) struct Inbox {
    shared: Arc<Shared>,
}

struct Shared {
    queue: Mutex<Queue>,
}

struct Queue {
    messages: Vec<Message>,
    /// Calls the host gave up on after the guest took them: their tasks should stop.
    cancelled: Vec<u64>,
    /// The calls waiting for an answer.
    pending: Pending,
    /// What reports the watched token: `None` once the instance ended, so that posters
    /// kept after it hold none of its reactor's descriptors.
    completer: Option<Completer>,
    /// The last loop closed the inbox and no loop watches it since.
    closed: bool,
    /// The token the guest watches the inbox under.
    watched: Option<u64>,
    /// The token was reported and the guest has not taken the messages since: later
    /// posts need no event of their own.
    reported: bool,
}

impl Queue {
    /// Whether posts are refused.
    fn refuses_posts(&self) -> bool {
        self.closed || self.completer.is_none()
    }

    /// Why a call of `name` is refused now, if it is.
    fn refuses_call(&self, name: &str) -> Option<CallError> {
        if let Some(ending) = self.pending.ended() {
            return Some(ending.error(name));
        }
        self.refuses_posts().then(|| Ending::LoopClosed.error(name))
    }

    /// The token to report now, if the guest watches and was not told yet that messages
    /// wait; marks it told.
    fn report(&mut self) -> Option<(u64, Completer)> {
        if self.reported || (self.messages.is_empty() && self.cancelled.is_empty()) {
            return None;
        }
        let token = self.watched?;
        let completer = self.completer.clone()?;
        self.reported = true;
        Some((token, completer))
    }

    /// Closes the queue; the calls that waited are returned with the error `ending` leaves
    /// them with, to complete once the lock is released.
    fn close(&mut self, ending: &Ending) -> Vec<(Arc<Slot>, CallError)> {
        self.closed = true;
        self.watched = None;
        self.reported = false;
        self.messages = Vec::new();
        self.cancelled = Vec::new();
        self.pending.fail_all(ending)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inbox {
    /// An open, empty inbox whose events go through `completer`.
    pub(crate) fn new(completer: Completer) -> Inbox {
        Inbox {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue {
                    messages: Vec::new(),
                    cancelled: Vec::new(),
                    pending: Pending::default(),
                    completer: Some(completer),
                    closed: false,
                    watched: None,
                    reported: false,
                }),
            }),
        }
    }

    /// A handle that posts into this inbox.
    pub(crate) fn poster(&self) -> Poster {
        Poster {
            shared: Arc::clone(&self.shared),
        }
    }

    /// `watch`: the guest's loop watches the inbox under `token` (reported at once if
    /// messages wait).
    pub(crate) fn watch_token(&self, token: u64) {
        let mut queue = self.shared.lock();
        // A loop watches: the inbox is open again if an earlier loop closed it.
        queue.closed = false;
        queue.watched = Some(token);
        // A new token has been told nothing yet.
        queue.reported = false;
        let report = queue.report();
        drop(queue);
        if let Some((token, completer)) = report {
            completer.complete(token);
        }
    }

    /// `take`: the waiting messages, oldest first, up to [`TAKE_BUDGET`] bytes of payload,
    /// and the calls given up on; the next post reports the token again (at once, if
    /// messages were left for the next take).
    pub(crate) fn take_batch(&self) -> Batch {
        let mut queue = self.shared.lock();
        queue.reported = false;
        let mut bytes = 0;
        let fit = queue
            .messages
            .iter()
            .position(|m| {
                bytes += m.payload.len();
                bytes > TAKE_BUDGET
            })
            .map_or(queue.messages.len(), |over| over.max(1));
        let messages = if fit == queue.messages.len() {
            std::mem::take(&mut queue.messages)
        } else {
            let rest = queue.messages.split_off(fit);
            std::mem::replace(&mut queue.messages, rest)
        };
        let cancelled = std::mem::take(&mut queue.cancelled);
        let report = queue.report();
        drop(queue);
        if let Some((token, completer)) = report {
            completer.complete(token);
        }
        Batch {
            messages,
            cancelled,
        }
    }

    /// `answer`: the guest's result for call `id`; ignored if the host no longer waits for
    /// it (timed out, abandoned, or never made).
    pub(crate) fn answer_call(&self, id: u64, result: Result<Vec<u8>, GuestFailure>) {
        let slot = self.shared.lock().pending.remove(id);
        if let Some(slot) = slot {
            let outcome: Outcome = result.map_err(|failure| failure.into_error(slot.name()));
            slot.complete(outcome);
        }
    }

    /// `close`: the guest's loop closed; waiting messages are dropped, waiting calls fail,
    /// and posts and calls are refused until a loop watches again.
    pub(crate) fn loop_closed(&self) {
        let failed = self.shared.lock().close(&Ending::LoopClosed);
        pending::complete_failed(failed);
    }

    /// The instance ended with `ending`: waiting calls fail with it, and so does every
    /// later call.
    pub(crate) fn end(&self, ending: Ending) {
        let mut queue = self.shared.lock();
        let failed = queue.close(&ending);
        queue.pending.end(ending);
        queue.completer = None;
        drop(queue);
        pending::complete_failed(failed);
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        // A run records how its instance ended before dropping it (`end`); any other
        // store (a worker's, a failed instantiation's) just closes.
        let ending = queue.pending.ended().cloned().unwrap_or(Ending::LoopClosed);
        let failed = queue.close(&ending);
        queue.completer = None;
        drop(queue);
        pending::complete_failed(failed);
    }
}

impl Poster {
    /// Posts message `name` with `payload` to the loop and wakes it.
    ///
    /// Messages run in the order they were posted. The inbox holds them until the guest
    /// takes them, without a bound, as asyncio's ready queue does.
    pub fn post(
        &self,
        name: impl Into<String>,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), PostError> {
        let name = name.into();
        let mut queue = self.shared.lock();
        if queue.refuses_posts() {
            return Err(PostError::Closed { name });
        }
        queue.messages.push(Message {
            name,
            payload: payload.into(),
            call: None,
        });
        let report = queue.report();
        drop(queue);
        // The message is queued before the event exists, so the guest that handles the
        // event finds it.
        if let Some((token, completer)) = report {
            completer.complete(token);
        }
        Ok(())
    }

    /// Whether the loop is closed (then posts fail), or the instance has ended (then
    /// every post fails).
    pub fn is_closed(&self) -> bool {
        self.shared.lock().refuses_posts()
    }

    /// Queues a call of `slot`'s function with `payload` and wakes the loop; the call's id,
    /// or why it fails at once.
    pub(crate) fn send_call(&self, slot: &Arc<Slot>, payload: Vec<u8>) -> Result<u64, CallError> {
        let mut queue = self.shared.lock();
        if let Some(error) = queue.refuses_call(slot.name()) {
            return Err(error);
        }
        if queue.pending.len() + queue.cancelled.len() >= MAX_PENDING_CALLS {
            return Err(CallError::Refused {
                name: slot.name().to_string(),
                message: format!("{MAX_PENDING_CALLS} calls already wait for the workload"),
            });
        }
        let id = queue.pending.insert(Arc::clone(slot));
        queue.messages.push(Message {
            name: slot.name().to_string(),
            payload,
            call: Some(id),
        });
        let report = queue.report();
        drop(queue);
        if let Some((token, completer)) = report {
            completer.complete(token);
        }
        Ok(id)
    }

    /// Whether call `id` still waits for an answer.
    pub(crate) fn is_call_pending(&self, id: u64) -> bool {
        self.shared.lock().pending.contains(id)
    }

    /// Gives call `id` up: out of the pending table, and out of the queue if the guest has
    /// not taken it yet, else into the guest's `cancelled` list. Its slot if it was still
    /// waiting (the caller completes it), `None` if it was answered or failed already.
    pub(crate) fn give_up_call(&self, id: u64) -> Option<Arc<Slot>> {
        let mut queue = self.shared.lock();
        let slot = queue.pending.remove(id)?;
        if let Some(at) = queue.messages.iter().position(|m| m.call == Some(id)) {
            queue.messages.remove(at);
            return Some(slot);
        }
        queue.cancelled.push(id);
        let report = queue.report();
        drop(queue);
        if let Some((token, completer)) = report {
            completer.complete(token);
        }
        Some(slot)
    }
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
