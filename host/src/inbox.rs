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

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::reactor::Completer;

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

/// One message: the name of a callback the guest registered, and its argument.
pub(crate) struct Message {
    pub(crate) name: String,
    pub(crate) payload: Vec<u8>,
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

    /// The token to report now, if the guest watches and was not told yet that messages
    /// wait; marks it told.
    fn report(&mut self) -> Option<(u64, Completer)> {
        if self.reported || self.messages.is_empty() {
            return None;
        }
        let token = self.watched?;
        let completer = self.completer.clone()?;
        self.reported = true;
        Some((token, completer))
    }

    fn close(&mut self) {
        self.closed = true;
        self.watched = None;
        self.reported = false;
        self.messages = Vec::new();
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

    /// `take`: every waiting message, oldest first; the next post reports the token again.
    pub(crate) fn take_messages(&self) -> Vec<Message> {
        let mut queue = self.shared.lock();
        queue.reported = false;
        std::mem::take(&mut queue.messages)
    }

    /// `close`: the guest's loop closed; waiting messages are dropped and posts refused
    /// until a loop watches again.
    pub(crate) fn loop_closed(&self) {
        self.shared.lock().close();
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        let mut queue = self.shared.lock();
        queue.close();
        queue.completer = None;
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
}

impl std::fmt::Debug for Poster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poster")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}
