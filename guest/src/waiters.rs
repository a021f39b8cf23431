//! Queues of waiting tasks, shared by the locks and the queue: each waiter is a future of
//! the running loop, woken in FIFO order, and cleaned up when its task is cancelled.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

use crate::error::Result;
use crate::events;
use crate::futures::Future;

/// Waiters are futures of the running loop, woken in FIFO order.
pub(crate) type Waiters = RefCell<VecDeque<Future<()>>>;

pub(crate) fn new_waiter(waiters: &Waiters) -> Result<Future<()>> {
    let fut = events::get_running_loop()?.create_future::<()>();
    waiters.borrow_mut().push_back(fut.clone());
    Ok(fut)
}

pub(crate) fn remove_waiter(waiters: &Waiters, fut: &Future<()>) {
    waiters
        .borrow_mut()
        .retain(|w| !Rc::ptr_eq(&w.inner, &fut.inner));
}

/// Runs `f` when dropped unless disarmed: the cleanup of a waiter whose task is cancelled.
pub(crate) struct OnDrop<F: FnMut()>(pub(crate) Option<F>);

impl<F: FnMut()> OnDrop<F> {
    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        if let Some(f) = self.0.as_mut() {
            f();
        }
    }
}
