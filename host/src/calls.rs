//! Calls into a running workload: the embedding application calls a function the guest
//! exported on its loop and gets its result, while the loop keeps serving its other work.
//!
//! ```no_run
//! use std::time::Duration;
//! use sandloop_host::{CallError, RunOptions, Runtime};
//!
//! let workload = Runtime::new()?.load("plugin.wasm".as_ref())?;
//! let running = workload.start(RunOptions::default())?;
//! let caller = running.caller(); // Clone + Send + Sync: any thread may call
//! // Blocking, with a deadline: the guest exported `add` with
//! // `lp.export_function("add", |(a, b): (i64, i64)| async move { a + b })`.
//! let sum: i64 = caller.call("add", &(2, 3)).timeout(Duration::from_secs(1)).wait()?;
//! assert_eq!(sum, 5);
//! // Or awaited, from any async runtime.
//! # async fn f(caller: sandloop_host::Caller) -> Result<(), CallError> {
//! let hello: String = caller.call("greet", &"ada").await?;
//! # Ok(()) }
//! running.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # How a call travels
//!
//! A call is a message of the instance's inbox (the channel of [`Poster`]) that expects an
//! answer: it carries an id, and the guest answers it through the inbox's `answer`. So calls
//! share the posts' queue, their waking (one reactor event per batch, however many calls
//! arrive), their closing, and their keeping (calls made before the guest's loop runs wait
//! for it). The loop runs each call as a task, so many calls are in flight at once and the
//! loop keeps serving its sockets and timers between their steps.
//!
//! Why not component exports (a WIT world the plugin exports, called through a typed
//! function)? A running instance is busy inside `wasi:cli/run`: its store is used by the
//! thread that runs the loop (a synchronous store allows no reentrant call), and
//! wasmtime 48's component-model async, which would let a call enter a running instance,
//! is not stable (and triples the cost of every host call, see the stack notes). An
//! exported function could only be called when the loop is not running. Messages through
//! the inbox let the loop decide when to run a call, as it does for everything else.
//!
//! # What a call costs the host
//!
//! A call runs under the workload's limits: its steps are callbacks (the callback time
//! limit holds), its memory is the guest's. On the host side, an instance has at most
//! [`MAX_PENDING_CALLS`] calls waiting (more fail with [`CallError::Refused`]), a call's
//! arguments are at most [`MAX_ARGS_BYTES`], and an answer is at most what the guest's
//! memory holds; an answer is kept until its caller takes it, and dropping a [`Call`]
//! gives it up.
//!
//! # Timeouts and cancellation
//!
//! [`Call::timeout`] (or [`Caller::with_timeout`] for every call of a caller) sets a
//! deadline on the host: one timer thread per workload fails the call with
//! [`CallError::TimedOut`] when it passes, even if the guest is stuck, and tells the guest
//! to cancel the call's task. Dropping a [`Call`] before its answer does the same.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) mod deadlines;
pub(crate) mod error;
pub(crate) mod pending;

use crate::inbox::Poster;
use deadlines::Deadlines;
pub use error::CallError;
use pending::{Outcome, Slot};

pub use pending::MAX_PENDING_CALLS;

/// The most bytes of arguments one call carries; a larger call fails with
/// [`CallError::Refused`] (the guest takes its inbox in parts of 16 MiB, and wasmtime traps
/// an instance that one host call hands more than 128 MiB).
pub const MAX_ARGS_BYTES: usize = 64 << 20;

/// Calls the functions a running workload exported, from any thread: get one from
/// [`RunningWorkload::caller`](crate::RunningWorkload::caller).
///
/// Cheap to clone; clones share the workload's call timer. See the [module docs](self).
#[derive(Clone)]
pub struct Caller {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

/// What a workload's callers and calls share.
struct Shared {
    poster: Poster,
    /// Started by the first call with a timeout.
    deadlines: OnceLock<Result<Deadlines, String>>,
}

impl Shared {
    fn deadlines(&self) -> Result<&Deadlines, &str> {
        self.deadlines
            .get_or_init(|| Deadlines::start(self.poster.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(String::as_str)
    }
}

impl Caller {
    /// A caller into the instance `poster` posts into.
    pub(crate) fn new(poster: Poster) -> Caller {
        Caller {
            shared: Arc::new(Shared {
                poster,
                deadlines: OnceLock::new(),
            }),
            timeout: None,
        }
    }

    /// A caller whose calls time out after `timeout` unless [`Call::timeout`] says
    /// otherwise.
    pub fn with_timeout(&self, timeout: Duration) -> Caller {
        Caller {
            shared: Arc::clone(&self.shared),
            timeout: Some(timeout),
        }
    }

    /// Calls the function the guest exported as `name` (with
    /// `export_raw_function`) with `args` as they are; the answer is the bytes it returned.
    pub fn call_raw(&self, name: &str, args: impl Into<Vec<u8>>) -> Call<Vec<u8>> {
        self.send(name, Ok(args.into()), Ok)
    }

    /// Calls the function the guest exported as `name` (with `export_function`) with
    /// `args` encoded as JSON, and decodes its answer as an `R`.
    ///
    /// Encoding and decoding errors are [`CallError::Encoding`], an answer the guest could
    /// not decode is [`CallError::BadArguments`].
    pub fn call<R: DeserializeOwned>(&self, name: &str, args: &impl Serialize) -> Call<R> {
        let args = serde_json::to_vec(args).map_err(|e| format!("encode the arguments: {e}"));
        self.send(name, args, |answer| {
            serde_json::from_slice(&answer).map_err(|e| format!("decode the answer: {e}"))
        })
    }

    /// Whether calls fail at once: the workload's loop is closed, or the workload ended.
    pub fn is_closed(&self) -> bool {
        self.shared.poster.is_closed()
    }

    fn send<R>(
        &self,
        name: &str,
        args: Result<Vec<u8>, String>,
        decode: fn(Vec<u8>) -> Result<R, String>,
    ) -> Call<R> {
        let slot = Slot::new(name.into());
        let sent = args
            .map_err(|message| CallError::Encoding {
                name: name.to_string(),
                message,
            })
            .and_then(|args| {
                if args.len() > MAX_ARGS_BYTES {
                    return Err(CallError::Refused {
                        name: name.to_string(),
                        message: format!(
                            "{} bytes of arguments, more than {MAX_ARGS_BYTES}",
                            args.len()
                        ),
                    });
                }
                self.shared.poster.send_call(&slot, args)
            });
        let state = match sent {
            Ok(id) => State::Sent { id, slot },
            Err(error) => State::Failed(Some(error)),
        };
        let call = Call {
            shared: Arc::clone(&self.shared),
            state,
            decode,
            _answer: PhantomData,
        };
        match self.timeout {
            Some(timeout) => call.timeout(timeout),
            None => call,
        }
    }
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("closed", &self.is_closed())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One call in flight: a [`Future`] of its result (runtime-agnostic: any executor may
/// await it), or [`wait`](Call::wait) for it on the current thread.
///
/// Dropping it before the answer gives the call up: the guest is told to cancel its task.
#[must_use = "a call is given up (and its task in the guest cancelled) when dropped"]
pub struct Call<R> {
    shared: Arc<Shared>,
    state: State,
    decode: fn(Vec<u8>) -> Result<R, String>,
    _answer: PhantomData<fn() -> R>,
}

enum State {
    /// Failed before it reached the workload; the error until it is taken.
    Failed(Option<CallError>),
    /// Waiting in the workload under `id`.
    Sent { id: u64, slot: Arc<Slot> },
    /// The outcome was taken.
    Done,
}

impl<R> Call<R> {
    /// Fails the call with [`CallError::TimedOut`] if no answer came within `timeout`
    /// from now, and tells the guest to cancel its task. A second timeout adds a second
    /// deadline; the sooner one wins.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        let State::Sent { id, slot } = &self.state else {
            return self;
        };
        let (id, name) = (*id, slot.name().to_string());
        let added = self.shared.deadlines().map(|d| d.add(id, timeout));
        if let Err(message) = added.map_err(str::to_string) {
            self.give_up();
            self.state = State::Failed(Some(CallError::Timer { name, message }));
        }
        self
    }

    /// Blocks the current thread until the call's result is in.
    pub fn wait(mut self) -> Result<R, CallError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Failed(error) => Err(error.unwrap_or_else(taken)),
            State::Sent { slot, .. } => finish(self.decode, slot.name(), slot.wait_take()),
            State::Done => Err(taken()),
        }
    }

    fn name(&self) -> &str {
        match &self.state {
            State::Sent { slot, .. } => slot.name(),
            _ => "",
        }
    }

    /// Takes the call out of the workload's inbox if it still waits (the guest cancels
    /// its task if it runs).
    fn give_up(&mut self) {
        if let State::Sent { id, .. } = self.state {
            let _ = self.shared.poster.give_up_call(id);
        }
    }
}

/// The call's result from its outcome: the answer decoded, or the error.
fn finish<R>(
    decode: fn(Vec<u8>) -> Result<R, String>,
    name: &str,
    outcome: Outcome,
) -> Result<R, CallError> {
    decode(outcome?).map_err(|message| CallError::Encoding {
        name: name.to_string(),
        message,
    })
}

/// The error of a call whose result was taken already (a bug of the caller's, as polling a
/// finished future is).
fn taken() -> CallError {
    CallError::Closed {
        name: "(a call whose result was taken)".into(),
    }
}

impl<R> Future for Call<R> {
    type Output = Result<R, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let result = match &mut this.state {
            State::Failed(error) => Err(error.take().unwrap_or_else(taken)),
            State::Sent { slot, .. } => match slot.poll_take(cx) {
                Poll::Ready(outcome) => finish(this.decode, slot.name(), outcome),
                Poll::Pending => return Poll::Pending,
            },
            State::Done => Err(taken()),
        };
        this.state = State::Done;
        Poll::Ready(result)
    }
}

impl<R> Drop for Call<R> {
    fn drop(&mut self) {
        self.give_up();
    }
}

impl<R> std::fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Failed(_) => "failed",
            State::Sent { .. } => "sent",
            State::Done => "done",
        };
        f.debug_struct("Call")
            .field("function", &self.name())
            .field("state", &state)
            .finish_non_exhaustive()
    }
}
