//! One iteration of the loop, asyncio's `_run_once`: the timeout, the wait for I/O, the
//! dispatch of events, the due timers, and the batch of ready callbacks.

use std::time::{Duration, Instant};

use crate::events::{EventLoop, Ready};
use crate::exception_handler::ExceptionContext;
use crate::log::{self, Level};

/// Callbacks a busy loop runs between two polls for I/O (tokio's `event_interval` is 61).
const EVENT_INTERVAL: u32 = 61;

impl EventLoop {
    /// One iteration, asyncio's `_run_once`: compute the timeout, wait for I/O, move due
    /// timers to the ready queue, run the callbacks that were ready at that point.
    ///
    /// While callbacks are ready the wait for I/O is a poll, and a poll is a crossing into
    /// the host and a system call: several times the cost of a callback. So a busy loop
    /// polls once per `EVENT_INTERVAL` callbacks run, as tokio's scheduler polls its driver
    /// once per 61 task polls; an idle loop, or one stopping, waits every iteration.
    pub(super) fn run_once(&self) {
        let inner = &*self.inner;
        inner.now.set(f64::NAN);
        inner.timers.purge_cancelled();

        let busy = !inner.ready.borrow().is_empty();
        let stopping = inner.stopping.get();
        if !busy
            || stopping
            || inner.ticks_since_poll.get() >= EVENT_INTERVAL
            || self.has_queued_writes()
        {
            let timeout = if busy || stopping {
                Some(Duration::ZERO)
            } else {
                inner
                    .timers
                    .earliest()
                    .map(|when| Duration::from_secs_f64((when - self.time()).clamp(0.0, 86_400.0)))
            };
            self.wait_for_io(timeout);
        }

        // Timers due by now (plus the clock's resolution) become ready. The reading serves
        // the batch's first callback too (see `call_later`).
        if !inner.timers.is_empty() {
            let now = self.time();
            inner.now.set(now);
            let mut ready = inner.ready.borrow_mut();
            inner
                .timers
                .pop_due(now + 1e-9, |handle| ready.push_back(Ready::Handle(handle)));
        }

        // Only what is ready now runs in this batch; what it schedules waits for the next.
        let ntodo = inner.ready.borrow().len();
        inner.ticks_since_poll.set(
            inner
                .ticks_since_poll
                .get()
                .saturating_add(u32::try_from(ntodo).unwrap_or(u32::MAX)),
        );
        for _ in 0..ntodo {
            let Some(item) = inner.ready.borrow_mut().pop_front() else {
                break;
            };
            if inner.debug.get() {
                let started = Instant::now();
                let what = self.run_ready(item);
                let took = started.elapsed();
                if took >= inner.slow_callback_duration.get() {
                    log::log(
                        Level::Warn,
                        format_args!("Executing {what} took {:.3} seconds", took.as_secs_f64()),
                    );
                }
            } else {
                self.run_ready(item);
            }
            // The next callback reads the clock again if it schedules a timer.
            inner.now.set(f64::NAN);
        }
    }

    /// Waits for I/O (or polls, with a zero timeout) and queues what the events make ready.
    fn wait_for_io(&self, timeout: Option<Duration>) {
        let inner = &*self.inner;
        inner.ticks_since_poll.set(0);
        let mut events = inner.events.borrow_mut();
        events.clear();
        match inner.writes.get() {
            // The batch's stream writes go with the wait: one crossing for all of them.
            // Only the host's reactor has streams, so only its wait has writes to do.
            Some(writes) if !writes.is_empty() => writes.submit(timeout, &mut events),
            _ => inner.selector.borrow_mut().select(timeout, &mut events),
        }
        // Dispatch: what the events make ready runs in this batch (asyncio's
        // `_process_events`).
        if !events.is_empty()
            && let Some(io) = inner.io.get()
        {
            io.dispatch(&mut events, &mut inner.ready.borrow_mut());
        }
    }

    /// Whether stream writes wait for the next wait.
    fn has_queued_writes(&self) -> bool {
        self.inner
            .writes
            .get()
            .is_some_and(|writes| !writes.is_empty())
    }

    /// Whether the loop's selector can watch the host's sockets and lookups.
    pub(crate) fn selector_watches_host_sources(&self) -> bool {
        self.inner.selector.borrow().watches_host_sources()
    }

    /// Runs one ready item; returns its description in debug mode (for slow-callback logs).
    fn run_ready(&self, item: Ready) -> String {
        let debug = self.inner.debug.get();
        match item {
            Ready::Handle(handle) => {
                if handle.cancelled() {
                    return String::new();
                }
                let what = if debug {
                    format!("{handle:?}")
                } else {
                    String::new()
                };
                if let Err(e) = handle.run() {
                    self.call_exception_handler(&ExceptionContext {
                        message: format!("Exception in callback {handle:?}"),
                        exception: Some(e),
                        handle: Some(handle.clone()),
                        ..Default::default()
                    });
                }
                what
            }
            Ready::Run(what) => {
                let described = if debug {
                    what.describe()
                } else {
                    String::new()
                };
                what.run();
                described
            }
        }
    }

    /// The number of timers in the heap, cancelled ones included (for tests and debugging).
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = sandloop::new_event_loop();
    /// lp.call_later(Duration::from_secs(1), || ());
    /// lp.call_soon(|| ());
    /// assert_eq!((lp.scheduled_timer_count(), lp.ready_count()), (1, 1));
    /// ```
    pub fn scheduled_timer_count(&self) -> usize {
        self.inner.timers.len()
    }

    /// The number of callbacks and task steps waiting for the next batch.
    pub fn ready_count(&self) -> usize {
        self.inner.ready.borrow().len()
    }
}
