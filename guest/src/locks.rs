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
///
/// asyncio: `event = asyncio.Event()`, `await event.wait()`, `event.set()`.
///
/// ```
/// use sandloop::Event;
/// sandloop::run(async {
///     let ready = Event::new();
///     let waiter = sandloop::create_task({
///         let ready = ready.clone();
///         async move {
///             ready.wait().await?;
///             Ok::<_, sandloop::Error>("woken")
///         }
///     });
///     ready.set();
///     assert_eq!(waiter.await?, "woken");
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
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
    ///
    /// ```
    /// let event = sandloop::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
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
    ///
    /// asyncio: `await event.wait()`.
    ///
    /// ```
    /// use std::time::Duration;
    /// sandloop::run(async {
    ///     let event = sandloop::Event::new();
    ///     let setter = event.clone();
    ///     let lp = sandloop::get_running_loop()?;
    ///     lp.call_later(Duration::from_millis(10), move || setter.set());
    ///     event.wait().await?;
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
///
/// asyncio: `async with lock:`; here `acquire().await?` and `release()`:
///
/// ```
/// use sandloop::Lock;
/// sandloop::run(async {
///     let lock = Lock::new();
///     lock.acquire().await?;
///     assert!(lock.locked());
///     // ... the critical section ...
///     lock.release()?;
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
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
    ///
    /// asyncio: `await lock.acquire()`; waiters get the lock in the order they asked.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let lock = sandloop::Lock::new();
    ///     lock.acquire().await?;
    ///     let waiter = sandloop::create_task({
    ///         let lock = lock.clone();
    ///         async move {
    ///             lock.acquire().await?; // waits for the release below
    ///             lock.release()
    ///         }
    ///     });
    ///     sandloop::sleep(std::time::Duration::ZERO).await?;
    ///     lock.release()?;
    ///     waiter.await?;
    ///     assert!(!lock.locked());
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
    ///
    /// ```
    /// let lock = sandloop::Lock::new();
    /// assert!(lock.release().is_err()); // not held: asyncio's RuntimeError
    /// ```
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
///
/// asyncio: `sem = asyncio.Semaphore(2)`; here at most two downloads run at once:
///
/// ```
/// use std::time::Duration;
/// use sandloop::Semaphore;
/// sandloop::run(async {
///     let sem = Semaphore::new(2);
///     let jobs = (0..5).map(|i| {
///         let sem = sem.clone();
///         async move {
///             sem.acquire().await?;
///             sandloop::sleep(Duration::from_millis(10)).await?; // the download
///             sem.release();
///             Ok::<_, sandloop::Error>(i)
///         }
///     });
///     sandloop::gather(jobs).await?;
///     assert_eq!(sem.value(), 2);
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
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
    ///
    /// asyncio: `await sem.acquire()`; waits while no slot is free.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let sem = sandloop::Semaphore::new(1);
    ///     sem.acquire().await?;
    ///     assert!(sem.locked()); // the next acquire would wait
    ///     sem.release();
    ///     assert_eq!(sem.value(), 1);
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
