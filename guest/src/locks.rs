//! Synchronization primitives for tasks of one loop: `Event`, `Lock`, `Semaphore`
//! (asyncio's `locks.py`). Not thread-safe, like asyncio's: a guest has one thread.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::waiters::{OnDrop, Waiters, new_waiter, remove_waiter};

// ---- Event -------------------------------------------------------------------------------

/// A flag tasks can wait for, asyncio's `asyncio.Event`. Clones share the flag.
#[derive(Clone, Default)]
pub struct Event {
    inner: Rc<EventInner>,
}

#[derive(Default)]
struct EventInner {
    value: Cell<bool>,
    waiters: Waiters,
}

impl Event {
    /// A new event, not set.
    pub fn new() -> Event {
        Event::default()
    }

    /// `true` when set.
    pub fn is_set(&self) -> bool {
        self.inner.value.get()
    }

    /// Sets the flag and wakes every waiting task.
    pub fn set(&self) {
        if !self.inner.value.replace(true) {
            let waiters: Vec<_> = self.inner.waiters.borrow().iter().cloned().collect();
            for fut in waiters {
                if !fut.done() {
                    let _ = fut.set_result(());
                }
            }
        }
    }

    /// Clears the flag.
    pub fn clear(&self) {
        self.inner.value.set(false);
    }

    /// Waits until the flag is set (right away if it is). `Err(Runtime)` outside a loop.
    pub async fn wait(&self) -> Result<()> {
        if self.is_set() {
            return Ok(());
        }
        let fut = new_waiter(&self.inner.waiters)?;
        let _remove = OnDrop(Some(|| remove_waiter(&self.inner.waiters, &fut)));
        fut.clone().await
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "unset" };
        write!(
            f,
            "<Event [{state}, waiters:{}]>",
            self.inner.waiters.borrow().len()
        )
    }
}

// ---- Lock --------------------------------------------------------------------------------

/// A mutual-exclusion lock for tasks, asyncio's `asyncio.Lock`: FIFO, and a task woken to
/// take the lock but cancelled before it does passes the turn on.
#[derive(Clone, Default)]
pub struct Lock {
    inner: Rc<LockInner>,
}

#[derive(Default)]
struct LockInner {
    locked: Cell<bool>,
    waiters: Waiters,
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Lock {
        Lock::default()
    }

    /// `true` while held.
    pub fn locked(&self) -> bool {
        self.inner.locked.get()
    }

    /// Waits for the lock and takes it. Release it with [`Lock::release`].
    pub async fn acquire(&self) -> Result<()> {
        let inner = &self.inner;
        if !inner.locked.get() && inner.waiters.borrow().iter().all(|w| w.cancelled()) {
            inner.locked.set(true);
            return Ok(());
        }
        let fut = new_waiter(&inner.waiters)?;
        let mut cleanup = OnDrop(Some(|| {
            remove_waiter(&inner.waiters, &fut);
            // Woken but cancelled before taking the lock: let the next waiter have it.
            if fut.done() && !inner.locked.get() {
                self.wake_up_first();
            }
        }));
        let woken = fut.clone().await;
        cleanup.disarm();
        remove_waiter(&inner.waiters, &fut);
        woken?;
        inner.locked.set(true);
        Ok(())
    }

    /// Releases the lock; the first waiter gets it. `Err(Runtime)` when not locked.
    pub fn release(&self) -> Result<()> {
        if !self.inner.locked.replace(false) {
            return Err(Error::runtime("Lock is not acquired."));
        }
        self.wake_up_first();
        Ok(())
    }

    fn wake_up_first(&self) {
        let first = self.inner.waiters.borrow().front().cloned();
        if let Some(fut) = first
            && !fut.done()
        {
            let _ = fut.set_result(());
        }
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.locked() { "locked" } else { "unlocked" };
        write!(
            f,
            "<Lock [{state}, waiters:{}]>",
            self.inner.waiters.borrow().len()
        )
    }
}

// ---- Semaphore ---------------------------------------------------------------------------

/// A counter of free slots, asyncio's `asyncio.Semaphore`: `acquire` takes a slot (waiting
/// if none is free), `release` gives one back; waiters are served FIFO.
#[derive(Clone)]
pub struct Semaphore {
    inner: Rc<SemaphoreInner>,
}

struct SemaphoreInner {
    value: Cell<usize>,
    waiters: Waiters,
}

impl Semaphore {
    /// A semaphore with `value` free slots.
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            inner: Rc::new(SemaphoreInner {
                value: Cell::new(value),
                waiters: RefCell::new(VecDeque::new()),
            }),
        }
    }

    /// `true` when `acquire` would wait.
    pub fn locked(&self) -> bool {
        self.inner.value.get() == 0 || self.inner.waiters.borrow().iter().any(|w| !w.cancelled())
    }

    /// The number of free slots.
    pub fn value(&self) -> usize {
        self.inner.value.get()
    }

    /// Takes a slot, waiting for one if none is free.
    pub async fn acquire(&self) -> Result<()> {
        let inner = &self.inner;
        if !self.locked() {
            inner.value.set(inner.value.get() - 1);
            return Ok(());
        }
        let fut = new_waiter(&inner.waiters)?;
        let mut cleanup = OnDrop(Some(|| {
            remove_waiter(&inner.waiters, &fut);
            // Handed a slot but cancelled before using it: give it back.
            if fut.done() && !fut.cancelled() {
                inner.value.set(inner.value.get() + 1);
            }
            self.wake_up_while_free();
        }));
        let woken = fut.clone().await;
        cleanup.disarm();
        remove_waiter(&inner.waiters, &fut);
        self.wake_up_while_free();
        woken
    }

    /// Gives a slot back; the first waiter gets it.
    pub fn release(&self) {
        self.inner.value.set(self.inner.value.get() + 1);
        self.wake_up_next();
    }

    fn wake_up_while_free(&self) {
        while self.inner.value.get() > 0 {
            if !self.wake_up_next() {
                break;
            }
        }
    }

    /// Hands a slot to the first waiter that is still waiting.
    fn wake_up_next(&self) -> bool {
        let next = self
            .inner
            .waiters
            .borrow()
            .iter()
            .find(|w| !w.done())
            .cloned();
        match next {
            Some(fut) if self.inner.value.get() > 0 => {
                self.inner.value.set(self.inner.value.get() - 1);
                let _ = fut.set_result(());
                true
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Semaphore [value:{}, waiters:{}]>",
            self.value(),
            self.inner.waiters.borrow().len()
        )
    }
}
