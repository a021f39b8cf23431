//! Host functions: capabilities the embedding application provides to its workloads (a
//! plugin host's database, key store or user session), which a workload calls by name and
//! awaits on its loop. The host side of the WIT interface `sandloop:host/host-functions`.
//!
//! ```
//! use sandloop_host::host_functions::HostFunctions;
//! use sandloop_host::{Policy, RunOptions};
//!
//! let functions = HostFunctions::new()
//!     // Plain blocking code runs on a small pool of the instance's, off its loop.
//!     .add_blocking_json("greet", |name: String| Ok::<_, String>(format!("hello {name}")))
//!     // Or answer later, from any thread: here an app's own thread (or its async runtime).
//!     .add("now", |_args, reply| {
//!         std::thread::spawn(move || reply.answer(Ok(b"12:00".to_vec())));
//!     });
//! let opts = RunOptions {
//!     policy: Policy::new().allow_host_function("greet")?,
//!     host_functions: functions,
//!     ..Default::default()
//! };
//! # let _ = opts;
//! # Ok::<(), sandloop_host::RuleError>(())
//! ```
//!
//! # Why a registry per run
//!
//! The functions are part of a run's [`RunOptions`](crate::RunOptions), next to its
//! [`Policy`](crate::Policy), not of the [`Runtime`](crate::Runtime): an application
//! serving many tenants gives each run functions bound to that tenant (its database
//! handle, its user), and one workload cannot reach another's. The policy still decides:
//! a name is callable only if [`Policy::allow_host_functions`](crate::Policy) lists it. A
//! name not granted is denied (`PermissionDenied` in the guest, an audit line in the log)
//! in the same words whether or not the registry holds it, so a workload cannot probe what
//! the application offers others; a granted name the registry lacks is `NotFound`.
//!
//! # Why replies come from any thread
//!
//! A call is made on the instance's thread, which also runs the workload's loop: a
//! function that blocked there would stop every task, timer and socket of the workload. So
//! a function gets its arguments and a [`Reply`], returns at once, and answers whenever
//! and from wherever it likes: an async application spawns the work onto its own runtime
//! and answers from there. The answer wakes the loop through its reactor, as executor jobs
//! and DNS answers do, and the awaiting task resumes. Functions that are plain blocking
//! code are added with [`HostFunctions::add_blocking`] (or `add_blocking_json`): they run
//! on a pool of at most [`BLOCKING_THREADS`] threads of the instance, started on demand.
//!
//! # Failures and endings
//!
//! - A function that returns or answers an error fails the guest's call with its message.
//! - A function that panics, or drops its [`Reply`] without answering, fails the call with
//!   a message saying so (never a host panic, never a guest left waiting).
//! - A pending call is a handle: it counts against the workload's handle limit
//!   ([`Limits::handles`](crate::Limits)), so a workload cannot pile up calls without bound.
//! - When the run ends (exit, trap, stop), its pending calls go with its store; a reply
//!   answered after that is dropped quietly, and the blocking pool's threads exit after
//!   the call they are running (queued ones never start). A guest that stops awaiting a
//!   call (a cancelled task) abandons it in the same way. [`Reply::is_abandoned`] lets
//!   long work stop early.

mod blocking;
mod host;
mod reply;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::reactor::Completer;
use blocking::BlockingPool;
pub(crate) use reply::CallError;
pub use reply::{HostCall, Reply};

/// The most threads one instance's blocking host functions run on at once; calls past it
/// wait in a queue (bounded by the workload's handle limit, as every pending call is).
pub const BLOCKING_THREADS: usize = 4;

/// A function that gets its arguments and answers through its [`Reply`].
type Replying = Arc<dyn Fn(Vec<u8>, Reply) + Send + Sync>;

/// A function that computes its answer on the calling thread (a blocking-pool thread).
type Blocking = Arc<dyn Fn(Vec<u8>) -> Result<Vec<u8>, String> + Send + Sync>;

#[derive(Clone)]
enum Function {
    Replying(Replying),
    Blocking(Blocking),
}

/// The functions an embedding application provides to one run, by name (see the
/// [module docs](self)). Cheap to clone (the functions are shared); the default holds none.
///
/// Arguments and answers are bytes: the guest's `sandloop::host_functions::call` writes
/// its arguments and reads its answer as JSON, which the `*_json` methods decode and
/// encode; `call_raw` passes bytes as they are, for the plain methods. Adding a name
/// again replaces its function.
#[derive(Clone, Default)]
pub struct HostFunctions {
    functions: BTreeMap<String, Function>,
}

impl fmt::Debug for HostFunctions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.functions.keys()).finish()
    }
}

impl HostFunctions {
    /// No functions (the same as `HostFunctions::default()`).
    pub fn new() -> HostFunctions {
        HostFunctions::default()
    }

    /// Adds `function` under `name`: called on the instance's thread with the call's
    /// arguments, it must return at once (it runs between the workload's callbacks) and
    /// answers through its [`Reply`], later, from any thread.
    ///
    /// ```
    /// use sandloop_host::host_functions::HostFunctions;
    ///
    /// let functions = HostFunctions::new().add("echo", |args, reply| {
    ///     std::thread::spawn(move || reply.answer(Ok(args)));
    /// });
    /// # let _ = functions;
    /// ```
    pub fn add(
        mut self,
        name: impl Into<String>,
        function: impl Fn(Vec<u8>, Reply) + Send + Sync + 'static,
    ) -> HostFunctions {
        let function: Replying = Arc::new(function);
        self.functions
            .insert(name.into(), Function::Replying(function));
        self
    }

    /// As [`add`](HostFunctions::add), with the arguments decoded from JSON (what the
    /// guest's `host_functions::call` sends); arguments that do not decode fail the call
    /// without calling `function`. Answer with [`Reply::answer_json`].
    ///
    /// ```
    /// use sandloop_host::host_functions::HostFunctions;
    ///
    /// let functions = HostFunctions::new().add_json("add", |(a, b): (i64, i64), reply| {
    ///     std::thread::spawn(move || reply.answer_json(Ok::<_, String>(a + b)));
    /// });
    /// # let _ = functions;
    /// ```
    pub fn add_json<A: DeserializeOwned>(
        self,
        name: impl Into<String>,
        function: impl Fn(A, Reply) + Send + Sync + 'static,
    ) -> HostFunctions {
        let name = name.into();
        let what = name.clone();
        self.add(name, move |args, reply| match decode::<A>(&what, &args) {
            Ok(args) => function(args, reply),
            Err(message) => reply.answer(Err(message)),
        })
    }

    /// Adds `function`, plain blocking code, under `name`: each call runs it on one of
    /// the instance's blocking threads (at most [`BLOCKING_THREADS`], started on demand),
    /// never on the workload's loop. Its `Err` is the call's error message.
    ///
    /// ```
    /// use sandloop_host::host_functions::HostFunctions;
    ///
    /// let functions = HostFunctions::new().add_blocking("read_config", |_args| {
    ///     std::fs::read("/etc/app.toml").map_err(|err| format!("read_config: {err}"))
    /// });
    /// # let _ = functions;
    /// ```
    pub fn add_blocking(
        mut self,
        name: impl Into<String>,
        function: impl Fn(Vec<u8>) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> HostFunctions {
        let function: Blocking = Arc::new(function);
        self.functions
            .insert(name.into(), Function::Blocking(function));
        self
    }

    /// As [`add_blocking`](HostFunctions::add_blocking), with the arguments decoded from
    /// JSON and the result encoded as JSON; the error's `Display` is the call's error
    /// message.
    ///
    /// ```
    /// use sandloop_host::host_functions::HostFunctions;
    ///
    /// let functions = HostFunctions::new()
    ///     .add_blocking_json("shout", |text: String| Ok::<_, String>(text.to_uppercase()));
    /// # let _ = functions;
    /// ```
    pub fn add_blocking_json<A, R, E>(
        self,
        name: impl Into<String>,
        function: impl Fn(A) -> Result<R, E> + Send + Sync + 'static,
    ) -> HostFunctions
    where
        A: DeserializeOwned,
        R: Serialize,
        E: fmt::Display,
    {
        let name = name.into();
        let what = name.clone();
        self.add_blocking(name, move |args| {
            let args = decode::<A>(&what, &args)?;
            let result = function(args).map_err(|err| err.to_string())?;
            encode(&what, &result)
        })
    }

    /// Whether a function is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.functions.contains_key(name)
    }

    /// The registered names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(String::as_str)
    }
}

/// `args` of function `name` decoded from JSON, or the call's error message.
fn decode<A: DeserializeOwned>(name: &str, args: &[u8]) -> Result<A, String> {
    serde_json::from_slice(args)
        .map_err(|err| format!("host function {name:?}: cannot decode its arguments: {err}"))
}

/// `value`, the answer of function `name`, encoded as JSON, or the call's error message.
fn encode<R: Serialize>(name: &str, value: &R) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value)
        .map_err(|err| format!("host function {name:?}: cannot encode its answer: {err}"))
}

/// One instance's host functions: the run's registry, the reactor its answers wake, and
/// its blocking pool, started on the first blocking call. Dropped with the store: the
/// pool's threads then exit after their current call.
pub(crate) struct Calls {
    functions: HostFunctions,
    completer: Completer,
    blocking: OnceLock<BlockingPool>,
}

impl Calls {
    pub(crate) fn new(functions: HostFunctions, completer: Completer) -> Calls {
        Calls {
            functions,
            completer,
            blocking: OnceLock::new(),
        }
    }

    /// Whether the run provides `name`.
    pub(crate) fn provides(&self, name: &str) -> bool {
        self.functions.contains(name)
    }

    /// A pending call of `name` whose answer is reported under `token`, and the reply
    /// that answers it. Nothing runs yet: see [`Calls::start`].
    pub(crate) fn pending(&self, name: &str, token: u64) -> (HostCall, Reply) {
        reply::pending(name, self.completer.clone(), token)
    }

    /// Runs function `name` on `args`, answering through `reply`: a replying function on
    /// this thread (it returns at once), a blocking one on the blocking pool. A panic is
    /// caught: `reply`, dropped while unwinding, tells the guest.
    pub(crate) fn start(&self, name: &str, args: Vec<u8>, reply: Reply) {
        let Some(function) = self.functions.functions.get(name) else {
            reply.answer(Err(format!("no host function named {name:?}")));
            return;
        };
        match function {
            Function::Replying(function) => {
                let function = Arc::clone(function);
                if catch_unwind(AssertUnwindSafe(move || function(args, reply))).is_err() {
                    tracing::warn!(function = name, "host function panicked");
                }
            }
            Function::Blocking(function) => {
                let function = Arc::clone(function);
                let name = name.to_owned();
                self.blocking
                    .get_or_init(|| BlockingPool::new(BLOCKING_THREADS))
                    .submit(reply, move |reply| {
                        let answer = catch_unwind(AssertUnwindSafe(|| function(args)));
                        match answer {
                            Ok(answer) => reply.answer(answer),
                            Err(_) => {
                                tracing::warn!(function = name, "host function panicked");
                                reply.fail(CallError::NoAnswer(format!(
                                    "host function {name:?} panicked"
                                )));
                            }
                        }
                    });
            }
        }
    }

    /// Counts the blocking pool's threads, even after `self` is dropped (none started
    /// yet: `None`).
    #[cfg(test)]
    pub(crate) fn blocking_threads(&self) -> Option<impl Fn() -> usize + use<>> {
        self.blocking.get().map(BlockingPool::thread_counter)
    }
}
