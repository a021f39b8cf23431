//! Instances on shared threads: many workloads in one process on a few host threads.
//!
//! With [`RuntimeOptions::shared_threads`](crate::RuntimeOptions), a runtime runs every
//! instance it starts as a task on a small pool of host threads (about one per core)
//! instead of on an OS thread of its own. The guest code itself runs on a wasmtime fiber;
//! when its loop's `reactor.wait` finds nothing ready, the fiber suspends and the task
//! parks, holding no thread, until the shared reactor has events for it, a host thread
//! wakes it (a post, a call, a finished lookup or job, a stop) or its timeout passes (see
//! the reactor's `park.rs`). `Workload::run`, which holds its caller until the guest ends,
//! runs the task on the calling thread instead, seated at the same reactor: no hand-over
//! to a shared thread and back (two cross-thread wake-ups, more than half of a small
//! guest's start).
//!
//! # One reactor
//!
//! All instances on the threads register in one epoll set, the hub (the reactor's
//! `hub.rs`), under tokens that carry their seat. Whoever drains it, an instance in its
//! `wait` or the dispatcher task that the pool's own reactor (tokio's) wakes when the set
//! turns readable, hands each instance its events and rings its doorbell. Level-triggered
//! re-arming and O(ready) batches are the same as on a thread of its own. The pool's timer
//! wheel times the instances' waits. What an idle instance costs: no descriptor of its own
//! (no epoll, no eventfd: wakes ring a doorbell), its store and its fiber's stack, no
//! thread.
//!
//! # Fairness
//!
//! A tenant cannot keep a shared thread from the others:
//! - a busy loop, whose every `wait` finds something ready, yields the thread in its next
//!   `wait` once it has run its budget ([`BUDGET`](crate::reactor::BUDGET), 1 ms) since it
//!   last parked or yielded, or when its drain of the hub woke other instances;
//! - a callback that spins yields at the runtime's next epoch tick (10 ms): on shared
//!   threads the runtime is always built with epoch checks;
//! - the callback time limit ([`Limits::callback_cpu`](crate::Limits)) and stopping hold
//!   as on a thread of its own.
//!
//! The other threads take the parked instances' work meanwhile (tokio steals work between
//! its threads), so one spinning tenant costs the others a thread, not their turn.
//!
//! # What stays on threads of their own
//!
//! Executor workers (`run_in_executor`'s pool) are sibling instances that run one job at a
//! time on their own threads, as in the other mode; DNS lookups and blocking host
//! functions use their small thread pools.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use crate::reactor::Hub;

/// The threads of a runtime whose instances share them, and their reactor.
pub(crate) struct SharedThreads {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    hub: Arc<Hub>,
}

impl Drop for SharedThreads {
    /// The last holder may be a run's task on one of the threads (it holds its workload),
    /// where a blocking shutdown is not allowed: shut down without waiting. Runs still
    /// going then end with their tasks, their stores dropped with all they hold.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl SharedThreads {
    /// `threads` host threads (`0`: one per core).
    pub(crate) fn new(threads: usize) -> io::Result<SharedThreads> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sandloop-shared")
            .enable_io()
            .enable_time()
            .build()?;
        let hub = Hub::new()?;
        let dispatcher = {
            let _inside = runtime.enter();
            hub.dispatcher()?
        };
        runtime.spawn(dispatcher.run());
        Ok(SharedThreads {
            runtime: Some(runtime),
            hub,
        })
    }

    /// The reactor the instances on these threads are seated at.
    pub(crate) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Runs `task` on the calling thread until it ends, with the threads' timers and
    /// reactor (it may park as on the threads). Not from a thread of a tokio runtime.
    pub(crate) fn block_on<F: Future>(&self, task: F) -> F::Output {
        let Some(runtime) = &self.runtime else {
            unreachable!("the runtime goes only when the threads are dropped")
        };
        runtime.block_on(task)
    }

    /// Runs `task` on the threads; its output comes through the returned [`Finished`].
    pub(crate) fn spawn<T, F>(&self, task: F) -> Finished<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let (sender, receiver) = mpsc::sync_channel(1);
        let done = Arc::new(AtomicBool::new(false));
        let flag = Done(Arc::clone(&done));
        let Some(runtime) = &self.runtime else {
            unreachable!("the runtime goes only when the threads are dropped")
        };
        runtime.spawn(async move {
            let _flag = flag;
            let output = task.await;
            // Nobody waits any more for a run whose handle was dropped: nothing to do.
            let _ = sender.send(output);
        });
        Finished { receiver, done }
    }
}

/// Marks a task ended when it goes, whether it returned or panicked.
struct Done(Arc<AtomicBool>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The output of a task on the shared threads, to wait for from any thread.
pub(crate) struct Finished<T> {
    receiver: mpsc::Receiver<T>,
    done: Arc<AtomicBool>,
}

impl<T> Finished<T> {
    /// Whether the task has ended.
    pub(crate) fn is_finished(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Blocks until the task ends; `None` if it panicked (it then dropped its sender).
    pub(crate) fn wait(self) -> Option<T> {
        self.receiver.recv().ok()
    }
}
