//! [`LoopTimer`]: hyper's `Timer` on the running loop's timers.
//!
//! hyper wants its sleeps `Send + Sync`; the loop's timers are `Rc`-based. So a
//! [`LoopSleep`] holds no timer itself: only a key into a thread-local table of sleeps and
//! the id of the thread whose table that is. It is `Send + Sync` as plain data, with no
//! `unsafe`; the timer handle and the waker stay in the table, on the thread that made the
//! sleep. Polled on another thread it panics (that thread's table is not its own); dropped
//! on another thread it leaves its entry behind (a leak, never a wrong access).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use ::hyper::rt::{Sleep, Timer};
use slab::Slab;

use crate::events::{TimerHandle, get_running_loop};

/// hyper's [`Timer`] on the running loop's timers (`call_later`): what
/// `http1::Builder::timer` takes, so that hyper's header read timeout and keep-alive
/// timers work. A unit value: it finds the loop when a sleep is first polled.
///
/// ```no_run
/// let mut builder = hyper::server::conn::http1::Builder::new();
/// builder.timer(sandloop::hyper::LoopTimer);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopTimer;

impl Timer for LoopTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(LoopSleep::new(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<LoopSleep>() {
            Some(ours) => ours.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

/// One sleep of [`LoopTimer`]: a key into this thread's table of sleeps.
///
/// # Panics
/// When polled outside a running loop, or on another thread than the one that made it.
///
/// ```no_run
/// use std::time::Duration;
/// use hyper::rt::Timer;
/// # async fn demo() {
/// let sleep = sandloop::hyper::LoopTimer.sleep(Duration::from_millis(5));
/// sleep.await; // ends on the loop's timers, as hyper's header timeout does
/// # }
/// ```
#[derive(Debug)]
pub struct LoopSleep {
    key: usize,
    thread: ThreadId,
}

/// What a [`LoopSleep`] keeps on its thread.
struct Entry {
    deadline: Instant,
    /// The loop timer that wakes the sleep, once it was polled.
    timer: Option<TimerHandle>,
    waker: Option<Waker>,
    fired: bool,
    /// Tells this entry from a later one under the same key (a timer callback checks it).
    generation: u64,
}

#[derive(Default)]
struct Table {
    entries: Slab<Entry>,
    generations: u64,
}

thread_local! {
    static SLEEPS: RefCell<Table> = RefCell::default();
}

impl LoopSleep {
    fn new(deadline: Instant) -> LoopSleep {
        let key = SLEEPS.with_borrow_mut(|table| {
            table.generations += 1;
            let generation = table.generations;
            table.entries.insert(Entry {
                deadline,
                timer: None,
                waker: None,
                fired: false,
                generation,
            })
        });
        LoopSleep {
            key,
            thread: thread::current().id(),
        }
    }

    fn on_its_thread(&self) -> bool {
        thread::current().id() == self.thread
    }

    /// Moves the deadline; a sleep already waited on waits for the new one.
    fn reset(&self, deadline: Instant) {
        assert!(
            self.on_its_thread(),
            "a sandloop LoopSleep was reset on another thread than the one that made it"
        );
        SLEEPS.with_borrow_mut(|table| {
            let entry = &mut table.entries[self.key];
            entry.deadline = deadline;
            entry.fired = false;
            if let Some(timer) = entry.timer.take() {
                timer.cancel();
            }
            if entry.waker.is_some() {
                arm(self.key, entry, Instant::now());
            }
        });
    }
}

/// Starts the loop timer that wakes `entry` at its deadline.
fn arm(key: usize, entry: &mut Entry, now: Instant) {
    let lp = get_running_loop().expect("sandloop::hyper::LoopTimer needs a running sandloop loop");
    let generation = entry.generation;
    let delay = entry.deadline.saturating_duration_since(now);
    entry.timer = Some(lp.call_later(delay, move || fire(key, generation)));
}

/// The loop timer of the sleep under `key` ran.
fn fire(key: usize, generation: u64) {
    let waker = SLEEPS.with_borrow_mut(|table| {
        let entry = table.entries.get_mut(key)?;
        if entry.generation != generation {
            return None;
        }
        entry.fired = true;
        entry.timer = None;
        entry.waker.take()
    });
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl Future for LoopSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        assert!(
            self.on_its_thread(),
            "a sandloop LoopSleep was polled on another thread than the one that made it"
        );
        SLEEPS.with_borrow_mut(|table| {
            let entry = &mut table.entries[self.key];
            if entry.fired {
                return Poll::Ready(());
            }
            // Armed, the loop's timer says when (`fire`): no clock read per poll. Not yet
            // armed (the first poll, or after a reset before one), one read decides.
            if entry.timer.is_none() {
                let now = Instant::now();
                if now >= entry.deadline {
                    entry.fired = true;
                    return Poll::Ready(());
                }
                arm(self.key, entry, now);
            }
            match &mut entry.waker {
                Some(waker) => waker.clone_from(cx.waker()),
                None => entry.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }
}

impl Sleep for LoopSleep {}

impl Drop for LoopSleep {
    fn drop(&mut self) {
        if !self.on_its_thread() {
            return;
        }
        // `try_with`: the table may be gone already when the thread is ending.
        let _ = SLEEPS.try_with(|table| {
            let entry = table.borrow_mut().entries.try_remove(self.key);
            if let Some(timer) = entry.and_then(|entry| entry.timer) {
                timer.cancel();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> usize {
        SLEEPS.with_borrow(|table| table.entries.len())
    }

    #[test]
    fn a_sleep_is_send_and_sync_and_frees_its_entry() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<LoopSleep>();
        let before = entries();
        let sleep = LoopTimer.sleep(Duration::from_secs(5));
        assert_eq!(entries(), before + 1);
        drop(sleep);
        assert_eq!(entries(), before);
    }
}
