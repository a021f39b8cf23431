//! A wake-up a task can await: a loop callback (a handle the I/O registry queues when an
//! event comes) marks it fired and wakes the task. How `sock_*` wait for readiness, and how
//! lookups and executor jobs wait for the host's answer ([`EventLoop::host_answer`]).

use std::cell::Cell;
use std::future::poll_fn;
use std::panic::Location;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::events::Handle;
use crate::io_registry::IoEntry;

/// Fired by its handle, awaited by one task.
#[derive(Clone, Default)]
pub(crate) struct Wakeup {
    fired: Rc<Cell<bool>>,
    waker: Rc<Cell<Option<Waker>>>,
}

impl Wakeup {
    pub(crate) fn new() -> Wakeup {
        Wakeup::default()
    }

    /// A handle that fires the wake-up each time it runs.
    #[track_caller]
    pub(crate) fn handle(&self) -> Handle {
        let me = self.clone();
        Handle::repeating(
            move || {
                me.fired.set(true);
                if let Some(waker) = me.waker.take() {
                    waker.wake();
                }
            },
            Location::caller(),
        )
    }

    pub(crate) fn fired(&self) -> bool {
        self.fired.get()
    }

    /// Resolves once the handle has run.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            if self.fired.get() {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// Removes a one-shot registration if its waiter goes away before the answer came.
struct Registration {
    lp: EventLoop,
    key: usize,
    wakeup: Wakeup,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if !self.wakeup.fired() && !self.lp.is_closed() {
            self.lp.deregister_io(self.key);
        }
    }
}

impl EventLoop {
    /// Starts host work that answers through the reactor (a lookup, a job) under a fresh
    /// token and waits for its event; returns what `start` returned, whose answer is then
    /// ready. Dropping the future abandons the wait (the host work goes on).
    pub(crate) async fn host_answer<T>(&self, start: impl FnOnce(u64) -> Result<T>) -> Result<T> {
        self.check_closed()?;
        if !self.selector_watches_host_sources() {
            return Err(Error::runtime(
                "this loop's selector cannot receive host events; use the host's reactor",
            ));
        }
        let wakeup = Wakeup::new();
        let key = self.register_io(IoEntry::Lookup(Some(wakeup.handle())));
        let registration = Registration {
            lp: self.clone(),
            key,
            wakeup: wakeup.clone(),
        };
        let started = start(key as u64)?;
        wakeup.wait().await;
        drop(registration);
        Ok(started)
    }
}
