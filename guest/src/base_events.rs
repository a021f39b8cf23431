//! The event loop's own methods: scheduling, the loop iteration, running and stopping,
//! closing, making futures and tasks (asyncio's `base_events.py`). The loop's type and its
//! state are in `events.rs`, below the futures and tasks built on it.

use std::future::IntoFuture;
use std::panic::Location;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::base_tasks::{TaskFactory, TaskOptions, TaskRef, Tasks};
use crate::context::Context;
use crate::error::{Error, IntoResult, Result};
use crate::events::{self, EventLoop, Handle, LoopInner, Ready, Runnable, TimerHandle};
use crate::futures::Future;
use crate::log::{self, Level};
use crate::sys::{self, Selector};
use crate::tasks::{self, Task};

/// How long a callback may run before debug mode logs it (asyncio's default, 0.1 s).
const DEFAULT_SLOW_CALLBACK_DURATION: Duration = Duration::from_millis(100);

mod iteration;

/// Seconds on the monotonic clock since the first reading in this process.
fn monotonic() -> f64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_secs_f64()
}

/// `true` when `SANDLOOP_DEBUG` is set and non-empty, asyncio's `PYTHONASYNCIODEBUG`.
fn debug_from_env() -> bool {
    std::env::var_os("SANDLOOP_DEBUG").is_some_and(|v| !v.is_empty())
}

impl Default for EventLoop {
    fn default() -> EventLoop {
        EventLoop::new()
    }
}

impl EventLoop {
    /// A new loop with the fastest selector this build can use: the host's native reactor
    /// (with the `host-reactor` feature), the portable `WasiPollSelector` otherwise.
    ///
    /// ```
    /// let lp = sandloop::EventLoop::new();
    /// assert!(!lp.is_running() && !lp.is_closed());
    /// ```
    pub fn new() -> EventLoop {
        EventLoop::with_selector(sys::default_selector())
    }

    pub(crate) fn with_selector(selector: Box<dyn Selector>) -> EventLoop {
        let lp = EventLoop {
            inner: Rc::new(LoopInner::new(
                selector,
                debug_from_env(),
                DEFAULT_SLOW_CALLBACK_DURATION,
            )),
        };
        if lp.get_debug() {
            let name = lp.inner.selector.borrow().name();
            log::log(Level::Debug, format_args!("Using selector: {name}"));
        }
        lp
    }

    // ---- Running and stopping ------------------------------------------------------------

    /// Runs the loop until [`EventLoop::stop`] is called.
    ///
    /// `stop()` before `run_forever()`: one zero-timeout poll, the ready callbacks run, then
    /// it returns. `stop()` while running: the current batch of callbacks finishes; callbacks
    /// that batch scheduled run on the next `run_*` call.
    ///
    /// asyncio: `loop.run_forever()`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = sandloop::new_event_loop();
    /// let stopper = lp.clone();
    /// lp.call_later(Duration::from_millis(100), move || stopper.stop());
    /// lp.run_forever()?; // returns once the timer stopped the loop
    /// lp.close()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn run_forever(&self) -> Result<()> {
        self.check_closed()?;
        if self.is_running() {
            return Err(Error::runtime("This event loop is already running"));
        }
        if events::running_loop_is_set() {
            return Err(Error::runtime(
                "Cannot run the event loop while another loop is running",
            ));
        }
        self.inner.running.set(true);
        events::set_running_loop(Some(self.clone()));
        #[cfg(feature = "host-reactor")]
        self.watch_inbox();
        loop {
            self.run_once();
            if self.inner.stopping.get() {
                break;
            }
        }
        self.inner.stopping.set(false);
        // Writes the last batch queued go now, not whenever the loop runs again.
        self.flush_writes();
        events::set_running_loop(None);
        self.inner.running.set(false);
        Ok(())
    }

    /// Runs until `fut` completes and returns its result (asyncio's `run_until_complete`).
    ///
    /// `fut` is wrapped in a task (through the task factory, like asyncio's `ensure_future`).
    /// If the loop is stopped before `fut` completes, the result is
    /// `Err(Error::Runtime("Event loop stopped before Future completed."))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = sandloop::new_event_loop();
    /// let greeting = lp.run_until_complete(async {
    ///     sandloop::sleep(Duration::from_millis(10)).await?;
    ///     Ok::<_, sandloop::Error>("hello")
    /// })?;
    /// assert_eq!(greeting, "hello");
    /// lp.close()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn run_until_complete<F>(&self, fut: F) -> Result<<F::Output as IntoResult>::Ok>
    where
        F: IntoFuture + 'static,
        F::Output: IntoResult,
    {
        self.check_closed()?;
        let task = self.create_task(fut);
        let stopper = self.clone();
        task.add_done_callback(move |_| stopper.stop());
        let ran = self.run_forever();
        ran?;
        if !task.done() {
            return Err(Error::runtime(
                "Event loop stopped before Future completed.",
            ));
        }
        task.take_result()
    }

    /// Stops the loop (see [`EventLoop::run_forever`] for exactly when).
    ///
    /// asyncio: `loop.stop()`.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.stop(); // before run_forever: it runs what is ready once, then returns
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// `true` while `run_forever` or `run_until_complete` runs.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// assert!(!lp.is_running());
    /// let inside = lp.run_until_complete(async {
    ///     Ok::<_, sandloop::Error>(sandloop::get_running_loop()?.is_running())
    /// })?;
    /// assert!(inside);
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// `true` once [`EventLoop::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Closes the loop: pending callbacks and timers are dropped. Idempotent; an error while
    /// the loop runs.
    ///
    /// asyncio: `loop.close()`.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.run_until_complete(async {})?;
    /// lp.close()?;
    /// assert!(lp.is_closed());
    /// assert!(lp.run_until_complete(async {}).is_err()); // a closed loop does not run again
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        if self.is_running() {
            return Err(Error::runtime("Cannot close a running event loop"));
        }
        if self.inner.closed.replace(true) {
            return Ok(());
        }
        if self.get_debug() {
            log::log(Level::Debug, format_args!("Close {self:?}"));
        }
        // Take the queues out before dropping them: dropping a callback can run code that
        // touches the loop (a task's drop cancelling a timer).
        let ready = std::mem::take(&mut *self.inner.ready.borrow_mut());
        let scheduled = self.inner.timers.take_all();
        drop(ready);
        drop(scheduled);
        // Transports still open hold the loop and the loop holds them: let them go (their
        // sockets close; asyncio leaves them to the garbage collector).
        self.flush_writes();
        if let Some(io) = self.inner.io.get() {
            io.clear();
        }
        #[cfg(feature = "host-reactor")]
        {
            self.drop_default_executor();
            self.close_inbox();
            self.remove_signal_handlers();
        }
        Ok(())
    }

    pub(crate) fn check_closed(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::runtime("Event loop is closed"))
        } else {
            Ok(())
        }
    }

    #[track_caller]
    fn assert_open(&self) {
        if self.is_closed() {
            panic!("RuntimeError: Event loop is closed");
        }
    }

    // ---- Scheduling callbacks ------------------------------------------------------------

    /// The loop's clock: monotonic seconds (asyncio's `loop.time()`).
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// let deadline = lp.time() + 1.5; // seconds on the loop's clock, for call_at and timeout_at
    /// # let _ = deadline;
    /// ```
    pub fn time(&self) -> f64 {
        monotonic()
    }

    /// Schedules `cb` to run in the next batch, after the callbacks already scheduled.
    ///
    /// `cb` may return `()` or a `Result`; an `Err` reaches the exception handler.
    ///
    /// # Panics
    /// On a closed loop (asyncio raises `RuntimeError`).
    ///
    /// asyncio: `loop.call_soon(cb)`.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.call_soon(|| println!("first"));
    /// let stopper = lp.clone();
    /// lp.call_soon(move || {
    ///     println!("second");
    ///     stopper.stop();
    /// });
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_soon<F, R>(&self, cb: F) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule(cb, None, Location::caller())
    }

    /// [`EventLoop::call_soon`] with the callback running in `ctx`.
    ///
    /// asyncio: `loop.call_soon(cb, context=ctx)`.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use sandloop::context::{Context, ContextVar};
    /// let lp = sandloop::new_event_loop();
    /// let request = Rc::new(ContextVar::new("request", None::<u32>));
    /// let ctx = Context::new();
    /// ctx.run(|| request.set(42));
    /// let r = request.clone();
    /// lp.call_soon_with_context(move || assert_eq!(r.get(), Some(42)), &ctx);
    /// lp.stop();
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_soon_with_context<F, R>(&self, cb: F, ctx: &Context) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule(cb, Some(ctx), Location::caller())
    }

    /// asyncio's `call_soon_threadsafe`. A guest has a single thread, so from guest code it
    /// is `call_soon`; code outside the guest (an embedding application's host threads)
    /// schedules the callbacks registered with `EventLoop::add_threadsafe_callback` (a
    /// `host-reactor` method) by posting messages through the host (`sandloop_host::Poster`).
    ///
    /// # Panics
    /// On a closed loop.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.call_soon_threadsafe(|| println!("from the guest: the same as call_soon"));
    /// ```
    #[track_caller]
    pub fn call_soon_threadsafe<F, R>(&self, cb: F) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule(cb, None, Location::caller())
    }

    #[track_caller]
    fn schedule<F, R>(&self, cb: F, ctx: Option<&Context>, at: &'static Location<'static>) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.assert_open();
        let handle = Handle::new(cb, ctx, at, f64::NAN, None);
        self.inner
            .ready
            .borrow_mut()
            .push_back(Ready::Handle(handle.clone()));
        handle
    }

    /// Schedules `cb` to run `delay` from now.
    ///
    /// "Now" is the loop's clock, read once per callback: inside a running loop, the timers
    /// one callback (or one task step) schedules all count from the time the first of them
    /// read, and the first callback of an iteration uses the time the iteration read to find
    /// the due timers. A clock reading is a call into the host, about as costly as all the
    /// rest of `call_later`. So a timer scheduled late in a long callback, after
    /// another, may fire up to that stretch of the callback early, never more; outside a
    /// running loop every call reads the clock. [`EventLoop::time`] always reads it.
    ///
    /// # Panics
    /// On a closed loop.
    ///
    /// asyncio: `loop.call_later(delay, cb)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = sandloop::new_event_loop();
    /// let stopper = lp.clone();
    /// let timer = lp.call_later(Duration::from_millis(250), move || stopper.stop());
    /// println!("due at {:.3}", timer.when());
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_later<F, R>(&self, delay: Duration, cb: F) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule_at(
            self.scheduling_time() + delay.as_secs_f64(),
            cb,
            None,
            Location::caller(),
        )
    }

    /// [`EventLoop::call_later`] with the callback running in `ctx`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sandloop::context::Context;
    /// let lp = sandloop::new_event_loop();
    /// let stopper = lp.clone();
    /// let ctx = Context::new();
    /// lp.call_later_with_context(Duration::from_millis(5), move || stopper.stop(), &ctx);
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_later_with_context<F, R>(
        &self,
        delay: Duration,
        cb: F,
        ctx: &Context,
    ) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule_at(
            self.scheduling_time() + delay.as_secs_f64(),
            cb,
            Some(ctx),
            Location::caller(),
        )
    }

    /// Schedules `cb` at loop time `when` (seconds, as [`EventLoop::time`]). Timers due at
    /// the same time run in the order they were scheduled.
    ///
    /// # Panics
    /// On a closed loop.
    ///
    /// asyncio: `loop.call_at(when, cb)`.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// let stopper = lp.clone();
    /// lp.call_at(lp.time() + 0.5, move || stopper.stop());
    /// lp.run_forever()?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn call_at<F, R>(&self, when: f64, cb: F) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule_at(when, cb, None, Location::caller())
    }

    /// [`EventLoop::call_at`] with the callback running in `ctx`.
    #[track_caller]
    pub fn call_at_with_context<F, R>(&self, when: f64, cb: F, ctx: &Context) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule_at(when, cb, Some(ctx), Location::caller())
    }

    /// The time `call_later` counts from: the clock read once per ready item while the loop
    /// runs (see [`EventLoop::call_later`]), read every time otherwise.
    fn scheduling_time(&self) -> f64 {
        let inner = &*self.inner;
        if !inner.running.get() {
            return monotonic();
        }
        let now = inner.now.get();
        if !now.is_nan() {
            return now;
        }
        let now = monotonic();
        inner.now.set(now);
        now
    }

    #[track_caller]
    fn schedule_at<F, R>(
        &self,
        when: f64,
        cb: F,
        ctx: Option<&Context>,
        at: &'static Location<'static>,
    ) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.assert_open();
        let when = if when.is_nan() { f64::INFINITY } else { when };
        let timers = &self.inner.timers;
        let key = timers.next_key();
        let handle = Handle::new(cb, ctx, at, when, Some((Rc::downgrade(timers), key)));
        timers.push(when, handle.clone());
        TimerHandle { handle }
    }

    /// Queues `what` (a task's step) for the next batch; ignored once the loop is closed (a
    /// task woken while the loop is being torn down has nowhere to run).
    pub(crate) fn push_ready(&self, what: Rc<dyn Runnable>) {
        if !self.is_closed() {
            self.inner.ready.borrow_mut().push_back(Ready::Run(what));
        }
    }

    // ---- Futures and tasks ---------------------------------------------------------------

    /// A new pending future attached to this loop.
    ///
    /// asyncio: `loop.create_future()`; a callback sets what a task awaits:
    ///
    /// ```
    /// use std::time::Duration;
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let fut = lp.create_future::<u32>();
    ///     let setter = fut.clone();
    ///     lp.call_later(Duration::from_millis(10), move || {
    ///         let _ = setter.set_result(7);
    ///     });
    ///     assert_eq!(fut.await?, 7);
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn create_future<T: 'static>(&self) -> Future<T> {
        Future::new(self.clone())
    }

    /// Wraps `fut` in a task scheduled to run on this loop; its name is `Task-N`.
    ///
    /// # Panics
    /// On a closed loop.
    ///
    /// asyncio: `loop.create_task(coro)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let task = lp.create_task(async {
    ///         sandloop::sleep(Duration::from_millis(10)).await?;
    ///         Ok::<_, sandloop::Error>(21 * 2)
    ///     });
    ///     assert_eq!(task.await?, 42);
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> Task<<F::Output as IntoResult>::Ok>
    where
        F: IntoFuture + 'static,
        F::Output: IntoResult,
    {
        self.create_task_with(fut, TaskOptions::default())
    }

    /// [`EventLoop::create_task`] with a name and a context.
    ///
    /// ```
    /// # sandloop::run(async {
    /// let lp = sandloop::get_running_loop()?;
    /// let options = sandloop::TaskOptions { name: Some("worker".into()), ..Default::default() };
    /// let task = lp.create_task_with(async {}, options);
    /// assert_eq!(task.get_name(), "worker");
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    #[track_caller]
    pub fn create_task_with<F>(
        &self,
        fut: F,
        options: TaskOptions,
    ) -> Task<<F::Output as IntoResult>::Ok>
    where
        F: IntoFuture + 'static,
        F::Output: IntoResult,
    {
        self.assert_open();
        tasks::create(self, fut.into_future(), options, Location::caller())
    }

    /// Wraps `fut` in a task whose result is `fut`'s output as it is, whatever its type
    /// (tokio's `spawn`): for outputs that are not [`IntoResult`] (a user's struct, a
    /// result whose error is not a sandloop error). The task's only exceptions are
    /// cancellation and the loop's own errors; an `Err` inside the output is a value.
    ///
    /// ```no_run
    /// struct Reply(u8);
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let reply = lp.spawn(async { Reply(7) }).join().await?;
    ///     assert_eq!(reply.0, 7);
    ///     Ok::<_, sandloop::Error>(())
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Panics
    /// On a closed loop.
    #[track_caller]
    pub fn spawn<F>(&self, fut: F) -> Task<F::Output>
    where
        F: IntoFuture + 'static,
        F::Output: 'static,
    {
        let fut = fut.into_future();
        self.create_task(async move { Ok::<_, Error>(fut.await) })
    }

    /// Sets the factory [`EventLoop::create_task`] goes through (`None`: the default).
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.set_task_factory(None); // the default factory
    /// assert!(lp.get_task_factory().is_none());
    /// ```
    pub fn set_task_factory(&self, factory: Option<TaskFactory>) {
        *self.slot::<Tasks>().factory.borrow_mut() = factory;
    }

    /// The task factory in use, if one was set.
    pub fn get_task_factory(&self) -> Option<TaskFactory> {
        self.slot::<Tasks>().factory.borrow().clone()
    }

    /// The tasks of this loop that are not done (asyncio's `all_tasks()`).
    ///
    /// ```
    /// # sandloop::run(async {
    /// let lp = sandloop::get_running_loop()?;
    /// for task in lp.all_tasks() {
    ///     println!("{} is still running", task.get_name());
    /// }
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn all_tasks(&self) -> Vec<TaskRef> {
        let mut tasks: Vec<TaskRef> = self
            .slot::<Tasks>()
            .live
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.upgrade().map(TaskRef::from_core))
            .filter(|t| !t.done())
            .collect();
        tasks.sort_by_key(TaskRef::creation_order);
        tasks
    }

    // ---- Debug mode ----------------------------------------------------------------------

    /// `true` in debug mode (on when `SANDLOOP_DEBUG` is set and non-empty).
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// lp.set_debug(!lp.get_debug()); // asyncio: loop.set_debug(not loop.get_debug())
    /// ```
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// Turns debug mode on or off: slow callbacks are logged with where they were scheduled.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lp = sandloop::new_event_loop();
    /// lp.set_debug(true);
    /// lp.set_slow_callback_duration(Duration::from_millis(20));
    /// ```
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
    }

    /// How long a callback may run before debug mode logs it (default 100 ms).
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// Sets [`EventLoop::slow_callback_duration`].
    pub fn set_slow_callback_duration(&self, duration: Duration) {
        self.inner.slow_callback_duration.set(duration);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn stop_before_run_forever_runs_what_is_ready_natively() {
        // The loop core is portable: on a native build it waits with WasiPollSelector's sleep.
        let lp = EventLoop::with_selector(Box::new(sys::WasiPollSelector::new()));
        let ran = Rc::new(Cell::new(0));
        let r = ran.clone();
        lp.call_soon(move || r.set(r.get() + 1));
        lp.stop();
        lp.run_forever().unwrap();
        assert_eq!(ran.get(), 1);
        lp.close().unwrap();
    }
}
