//! Functions the loop exports to the embedding application: the guest side of
//! `sandloop_host::Caller`.
//!
//! A plugin host calls a running workload's functions and awaits their results. The loop
//! registers each function under a name; a call arrives through the instance's inbox (like
//! a post to a threadsafe callback) with its arguments as bytes and the id of the call,
//! runs as a task on the loop, and its result goes back to the host under that id. Many
//! calls run at once, between the loop's other callbacks, under the workload's limits (each
//! step of a call's task is a callback, under the callback time limit).
//!
//! When the host gives a call up (its timeout passed, or the caller dropped it), the loop
//! cancels the call's task: its future is dropped at its next step, as for any cancelled
//! task.
//!
//! The inbox belongs to the sandloop host: without the `host-reactor` feature (the
//! portable build, for other WASI hosts) nothing can call in, and these methods do not
//! exist.
//!
//! ```no_run
//! fn main() -> sandloop::Result<()> {
//!     let lp = sandloop::new_event_loop();
//!     // Arguments and results travel as JSON (serde); a call runs as a task.
//!     lp.export_function("greet", |name: String| async move {
//!         sandloop::sleep(std::time::Duration::from_millis(1)).await?;
//!         Ok::<_, sandloop::Error>(format!("hello {name}"))
//!     });
//!     lp.export_function("add", |(a, b): (i64, i64)| async move { a + b });
//!     // Raw bytes in, raw bytes out.
//!     lp.export_raw_function("reverse", |mut bytes: Vec<u8>| async move {
//!         bytes.reverse();
//!         bytes
//!     });
//!     lp.run_forever()?;
//!     lp.close()
//! }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::IntoResult;
use crate::events::{EventLoop, LoopInner};
use crate::sys::executor::{self as host, CallFailure};
use crate::tasks::Task;

type Answer = std::result::Result<Vec<u8>, CallFailure>;

/// An exported function: from the call's argument bytes to the future of its answer.
type Function = Rc<dyn Fn(Vec<u8>) -> Pin<Box<dyn Future<Output = Answer>>>>;

/// The loop's exported functions and the tasks of the calls running, in the loop's slot
/// for them.
#[derive(Default)]
struct Exports {
    functions: RefCell<HashMap<String, Function>>,
    /// By call id: what a cancellation from the host cancels.
    running: RefCell<HashMap<u64, Task<()>>>,
}

impl EventLoop {
    /// Exports `f` under `name`: the embedding application calls it with
    /// `caller.call(name, &args)` (`sandloop_host::Caller`). Each call decodes its
    /// arguments as an `A` from JSON, runs `f(args)` as a task on this loop, and answers
    /// with its result encoded as JSON, or with its error's message. Replaces an earlier
    /// function of that name.
    ///
    /// Arguments that do not decode as an `A` fail the call with `BadArguments` (the
    /// decoder's message), without running `f`. Export before the loop runs: calls made
    /// earlier wait in the inbox until it does, but a call that arrives before its function
    /// is exported fails with `NoSuchFunction`.
    ///
    /// ```no_run
    /// # let lp = sandloop::new_event_loop();
    /// lp.export_function("add", |(a, b): (i64, i64)| async move { a + b });
    /// ```
    pub fn export_function<A, F, Fut>(&self, name: impl Into<String>, f: F)
    where
        A: DeserializeOwned + 'static,
        F: Fn(A) -> Fut + 'static,
        Fut: Future + 'static,
        Fut::Output: IntoResult,
        <Fut::Output as IntoResult>::Ok: Serialize,
    {
        let function: Function = Rc::new(move |payload: Vec<u8>| {
            let args = match serde_json::from_slice::<A>(&payload) {
                Ok(args) => args,
                Err(e) => {
                    let failure = CallFailure::BadArguments(e.to_string());
                    return Box::pin(std::future::ready(Err(failure)));
                }
            };
            let call = f(args);
            Box::pin(async move {
                let value = call
                    .await
                    .into_result()
                    .map_err(|e| CallFailure::Failed(e.to_string()))?;
                serde_json::to_vec(&value)
                    .map_err(|e| CallFailure::Failed(format!("encode the result: {e}")))
            })
        });
        self.export(name.into(), function);
    }

    /// Exports `f` under `name` for calls with raw bytes (`caller.call_raw(name, bytes)` on
    /// the host): `f` gets the call's bytes as they are and answers with bytes, or with an
    /// error whose message the call fails with. Replaces an earlier function of that name.
    pub fn export_raw_function<F, Fut>(&self, name: impl Into<String>, f: F)
    where
        F: Fn(Vec<u8>) -> Fut + 'static,
        Fut: Future + 'static,
        Fut::Output: IntoResult<Ok = Vec<u8>>,
    {
        let function: Function = Rc::new(move |payload: Vec<u8>| {
            let call = f(payload);
            Box::pin(async move {
                call.await
                    .into_result()
                    .map_err(|e| CallFailure::Failed(e.to_string()))
            })
        });
        self.export(name.into(), function);
    }

    /// Unexports the function named `name`; `true` if there was one. Calls of it that run
    /// already finish.
    pub fn remove_exported_function(&self, name: &str) -> bool {
        self.existing_slot::<Exports>()
            .is_some_and(|exports| exports.functions.borrow_mut().remove(name).is_some())
    }

    fn export(&self, name: String, function: Function) {
        self.slot::<Exports>()
            .functions
            .borrow_mut()
            .insert(name, function);
    }

    /// Runs call `id` of function `name` as a task; a name no function has is answered
    /// at once.
    pub(crate) fn start_call(&self, id: u64, name: &str, payload: Vec<u8>) {
        let exports = self.slot::<Exports>();
        let Some(function) = exports.functions.borrow().get(name).cloned() else {
            host::inbox_answer(id, Err(CallFailure::NoSuchFunction));
            return;
        };
        let weak: Weak<LoopInner> = Rc::downgrade(&self.inner);
        let task = self.spawn(async move {
            let mut reply = Reply { id, sent: false };
            let answer = function(payload).await;
            reply.send(answer);
            if let Some(inner) = weak.upgrade()
                && let Some(exports) = (EventLoop { inner }).existing_slot::<Exports>()
            {
                exports.running.borrow_mut().remove(&id);
            }
        });
        exports.running.borrow_mut().insert(id, task);
    }

    /// The host gave call `id` up: cancels its task, if it still runs.
    pub(crate) fn cancel_call(&self, id: u64) {
        let task = self
            .existing_slot::<Exports>()
            .and_then(|exports| exports.running.borrow_mut().remove(&id));
        if let Some(task) = task {
            task.cancel_with_message("the caller gave the call up");
        }
    }

    /// Forgets the exported functions and the running calls (the loop closed: the host
    /// failed every call waiting already).
    pub(crate) fn clear_exports(&self) {
        if let Some(exports) = self.existing_slot::<Exports>() {
            exports.functions.borrow_mut().clear();
            // Taken out first: dropping a task may run code that looks at the slot.
            let running = std::mem::take(&mut *exports.running.borrow_mut());
            drop(running);
        }
    }
}

/// A call's answer, sent once: if its task is dropped before (cancelled inside the guest),
/// the host hears `cancelled` rather than nothing.
struct Reply {
    id: u64,
    sent: bool,
}

impl Reply {
    fn send(&mut self, answer: Answer) {
        self.sent = true;
        host::inbox_answer(self.id, answer);
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if !self.sent {
            host::inbox_answer(self.id, Err(CallFailure::Cancelled));
        }
    }
}
