//! The event loop: scheduling, the loop iteration, running and stopping, closing
//! (asyncio's `base_events.py`).

use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell, RefCell};
use std::cmp::Ordering;
use std::collections::VecDeque;
use std::fmt;
use std::future::IntoFuture;
use std::panic::Location;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error::{Error, IntoResult, Result};
use crate::events::{self, Handle, TimerHandle};
use crate::futures::Future;
use crate::log::{self, Level};
use crate::sys::{self, Event, Selector};
use crate::tasks::{self, Task, TaskFactory, TaskOptions, TaskRef, Tasks};

/// asyncio purges cancelled timers from the heap when they are over this many and over
/// half of it (`_MIN_SCHEDULED_TIMER_HANDLES`, `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`).
const MIN_SCHEDULED_TIMER_HANDLES: usize = 100;

/// How long a callback may run before debug mode logs it (asyncio's default, 0.1 s).
const DEFAULT_SLOW_CALLBACK_DURATION: Duration = Duration::from_millis(100);

mod iteration;

/// Something ready to run in the next batch: a callback, or something else that runs
/// (a task's step, a transport's event).
pub(crate) enum Ready {
    Handle(Handle),
    Run(Rc<dyn Runnable>),
}

/// A ready entry that is not a callback: a task's step (which needs no handle allocation,
/// keeping waking a task cheap), a transport's event. The loop runs it without knowing what
/// it is.
pub(crate) trait Runnable {
    /// Runs it.
    fn run(self: Rc<Self>);
    /// What it is, for debug mode's slow-callback warning.
    fn describe(&self) -> String;
}

/// What the loop's I/O registrations make of a wait's events (`io_registry.rs`): the loop
/// holds it from the first registration on.
pub(crate) trait Dispatch {
    /// Queues what `events` make ready, in order, leaving `events` empty.
    fn dispatch(&self, events: &mut Vec<Event>, ready: &mut VecDeque<Ready>);
    /// Lets go of every registration (the loop closes): breaks the cycles between the loop
    /// and what it still holds.
    fn clear(&self);
}

/// The stream writes a batch of callbacks queued (`outbox.rs`): the loop's next wait does
/// them in the same call as the wait. The loop holds it from the first stream write on.
pub(crate) trait Submit {
    /// Whether no write waits.
    fn is_empty(&self) -> bool;
    /// Does the queued writes, then waits for events at most `timeout`, in one call.
    fn submit(
        &self,
        selector: &mut dyn Selector,
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    );
    /// Does the queued writes now, without waiting (the loop stops or closes).
    fn flush(&self);
}

/// A timer in the heap, ordered by due time, then by scheduling order.
struct Timer {
    when: f64,
    seq: u64,
    handle: Handle,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Timer) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Timer) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    /// Reversed, so that the heap (a max-heap) pops the earliest timer first.
    fn cmp(&self, other: &Timer) -> Ordering {
        other
            .when
            .total_cmp(&self.when)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The timers, earliest first: a 4-ary heap, whose levels are half as many as a binary
/// heap's and whose children lie side by side in memory, so popping many scattered timers
/// misses the cache less (100k timers: ~10% faster than `std`'s `BinaryHeap`).
type TimerHeap = dary_heap::QuaternaryHeap<Timer>;

/// The state behind an [`EventLoop`] handle.
pub(crate) struct LoopInner {
    ready: RefCell<VecDeque<Ready>>,
    scheduled: RefCell<TimerHeap>,
    timer_seq: Cell<u64>,
    timer_cancelled_count: Cell<usize>,
    stopping: Cell<bool>,
    running: Cell<bool>,
    closed: Cell<bool>,
    debug: Cell<bool>,
    slow_callback_duration: Cell<Duration>,
    selector: RefCell<Box<dyn Selector>>,
    events: RefCell<Vec<Event>>,
    /// What the I/O registrations make of events, from the first registration on.
    io: OnceCell<Rc<dyn Dispatch>>,
    /// Callbacks and task steps run since the latest wait for I/O (see `EVENT_INTERVAL`).
    ticks_since_poll: Cell<u32>,
    /// The stream writes queued for the next wait, from the first stream write on.
    writes: OnceCell<Rc<dyn Submit>>,
    /// The state of every other feature, one slot per type (see [`EventLoop::slot`]).
    slots: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
}

impl LoopInner {
    pub(crate) fn timer_handle_cancelled(&self) {
        self.timer_cancelled_count
            .set(self.timer_cancelled_count.get() + 1);
    }
}

/// The event loop, asyncio's `asyncio.AbstractEventLoop`.
///
/// A cheap, clonable handle (an `Rc` inside): single-threaded like asyncio, `!Send`.
///
/// ```no_run
/// let lp = sandloop::new_event_loop();
/// let stopper = lp.clone();
/// lp.call_soon(move || {
///     println!("Hello World");
///     stopper.stop();
/// });
/// lp.run_forever().unwrap();
/// lp.close().unwrap();
/// ```
#[derive(Clone)]
pub struct EventLoop {
    pub(crate) inner: Rc<LoopInner>,
}

impl PartialEq for EventLoop {
    fn eq(&self, other: &EventLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}
impl Eq for EventLoop {}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<EventLoop running={} closed={} debug={}>",
            self.is_running(),
            self.is_closed(),
            self.get_debug()
        )
    }
}

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
    pub fn new() -> EventLoop {
        EventLoop::with_selector(sys::default_selector())
    }

    pub(crate) fn with_selector(selector: Box<dyn Selector>) -> EventLoop {
        let lp = EventLoop {
            inner: Rc::new(LoopInner {
                ready: RefCell::new(VecDeque::new()),
                scheduled: RefCell::new(TimerHeap::new()),
                timer_seq: Cell::new(0),
                timer_cancelled_count: Cell::new(0),
                stopping: Cell::new(false),
                running: Cell::new(false),
                closed: Cell::new(false),
                debug: Cell::new(debug_from_env()),
                slow_callback_duration: Cell::new(DEFAULT_SLOW_CALLBACK_DURATION),
                selector: RefCell::new(selector),
                events: RefCell::new(Vec::with_capacity(64)),
                io: OnceCell::new(),
                ticks_since_poll: Cell::new(0),
                writes: OnceCell::new(),
                slots: RefCell::new(Vec::new()),
            }),
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
    pub fn stop(&self) {
        self.inner.stopping.set(true);
    }

    /// `true` while `run_forever` or `run_until_complete` runs.
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }

    /// `true` once [`EventLoop::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// Closes the loop: pending callbacks and timers are dropped. Idempotent; an error while
    /// the loop runs.
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
        let scheduled = std::mem::take(&mut *self.inner.scheduled.borrow_mut());
        self.inner.timer_cancelled_count.set(0);
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
    pub fn time(&self) -> f64 {
        monotonic()
    }

    /// Schedules `cb` to run in the next batch, after the callbacks already scheduled.
    ///
    /// `cb` may return `()` or a `Result`; an `Err` reaches the exception handler.
    ///
    /// # Panics
    /// On a closed loop (asyncio raises `RuntimeError`).
    #[track_caller]
    pub fn call_soon<F, R>(&self, cb: F) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule(cb, None, Location::caller())
    }

    /// [`EventLoop::call_soon`] with the callback running in `ctx`.
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
    /// schedules the callbacks registered with [`EventLoop::add_threadsafe_callback`] by
    /// posting messages through the host (`sandloop_host::Poster`).
    ///
    /// # Panics
    /// On a closed loop.
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
    /// # Panics
    /// On a closed loop.
    #[track_caller]
    pub fn call_later<F, R>(&self, delay: Duration, cb: F) -> TimerHandle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        self.schedule_at(
            self.time() + delay.as_secs_f64(),
            cb,
            None,
            Location::caller(),
        )
    }

    /// [`EventLoop::call_later`] with the callback running in `ctx`.
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
            self.time() + delay.as_secs_f64(),
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
        let handle = Handle::new(cb, ctx, at, when, Some(Rc::downgrade(&self.inner)));
        handle.set_in_heap(true);
        let seq = self.inner.timer_seq.get();
        self.inner.timer_seq.set(seq + 1);
        self.inner.scheduled.borrow_mut().push(Timer {
            when,
            seq,
            handle: handle.clone(),
        });
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
    pub fn create_future<T: 'static>(&self) -> Future<T> {
        Future::new(self.clone())
    }

    /// Wraps `fut` in a task scheduled to run on this loop; its name is `Task-N`.
    ///
    /// # Panics
    /// On a closed loop.
    #[track_caller]
    pub fn create_task<F>(&self, fut: F) -> Task<<F::Output as IntoResult>::Ok>
    where
        F: IntoFuture + 'static,
        F::Output: IntoResult,
    {
        self.create_task_with(fut, TaskOptions::default())
    }

    /// [`EventLoop::create_task`] with a name and a context.
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

    /// Sets the factory [`EventLoop::create_task`] goes through (`None`: the default).
    pub fn set_task_factory(&self, factory: Option<TaskFactory>) {
        *self.slot::<Tasks>().factory.borrow_mut() = factory;
    }

    /// The task factory in use, if one was set.
    pub fn get_task_factory(&self) -> Option<TaskFactory> {
        self.slot::<Tasks>().factory.borrow().clone()
    }

    /// The tasks of this loop that are not done (asyncio's `all_tasks()`).
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

    // ---- The state of the loop's features ------------------------------------------------

    /// The loop's `T`: the state of one of its features (its tasks, its exception handler,
    /// its default executor...), made with `T::default()` at first use.
    ///
    /// Each feature keeps its own state in a type of its own, and the loop holds it in a
    /// slot without naming the type, so that the loop's core depends on no feature. A
    /// lookup compares the type with the few slots made (one per feature used), so a
    /// feature reads its slot once per use, not once per byte or per event.
    pub(crate) fn slot<T: Default + 'static>(&self) -> Rc<T> {
        if let Some(state) = self.existing_slot() {
            return state;
        }
        let state = Rc::new(T::default());
        self.inner
            .slots
            .borrow_mut()
            .push((TypeId::of::<T>(), state.clone()));
        state
    }

    /// Makes `io` what the loop's waits hand their events to (the I/O registry, at its
    /// first registration).
    #[cfg_attr(not(feature = "host-reactor"), expect(dead_code))]
    pub(crate) fn set_dispatch(&self, io: Rc<dyn Dispatch>) {
        let _ = self.inner.io.set(io);
    }

    /// Makes `writes` what the loop's waits submit (the outbox, at the first stream write).
    #[cfg_attr(not(feature = "host-reactor"), expect(dead_code))]
    pub(crate) fn set_submit(&self, writes: Rc<dyn Submit>) {
        let _ = self.inner.writes.set(writes);
    }

    /// Does the stream writes queued for the next wait now, each with its own crossing: a
    /// transport must send at once (see `transports.rs`), or the loop stops or closes.
    pub(crate) fn flush_writes(&self) {
        if let Some(writes) = self.inner.writes.get() {
            writes.flush();
        }
    }

    /// The loop's `T`, if it was made (closing the loop need not make what was never used).
    pub(crate) fn existing_slot<T: 'static>(&self) -> Option<Rc<T>> {
        let slots = self.inner.slots.borrow();
        let (_, state) = slots.iter().find(|(id, _)| *id == TypeId::of::<T>())?;
        state.clone().downcast().ok()
    }

    // ---- Debug mode ----------------------------------------------------------------------

    /// `true` in debug mode (on when `SANDLOOP_DEBUG` is set and non-empty).
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// Turns debug mode on or off: slow callbacks are logged with where they were scheduled.
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
    use super::*;

    fn timer(lp: &EventLoop, when: f64, seq: u64) -> Timer {
        Timer {
            when,
            seq,
            handle: Handle::new(
                || (),
                None,
                Location::caller(),
                when,
                Some(Rc::downgrade(&lp.inner)),
            ),
        }
    }

    #[test]
    fn the_heap_pops_the_earliest_timer_then_the_first_scheduled() {
        let lp = EventLoop::with_selector(Box::new(sys::WasiPollSelector::new()));
        let mut heap = TimerHeap::new();
        for (when, seq) in [(3.0, 0), (1.0, 1), (2.0, 2), (1.0, 3), (1.0, 4)] {
            heap.push(timer(&lp, when, seq));
        }
        let order: Vec<(f64, u64)> =
            std::iter::from_fn(|| heap.pop().map(|t| (t.when, t.seq))).collect();
        assert_eq!(order, [(1.0, 1), (1.0, 3), (1.0, 4), (2.0, 2), (3.0, 0)]);
    }

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
