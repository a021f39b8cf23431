//! A wake-up a task can await: a loop callback (a handle the I/O registry queues when an
//! event comes) marks it fired and wakes the task. How `sock_*` wait for readiness and
//! lookups wait for their answer.

use std::cell::Cell;
use std::future::poll_fn;
use std::panic::Location;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::events::Handle;

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
