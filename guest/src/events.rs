//! The loop's core (asyncio's `events.py`): the [`EventLoop`] type with the state every
//! part of the crate schedules on, callback handles, and getting a loop
//! (`get_running_loop`, `get_event_loop`, `set_event_loop`, `new_event_loop`, policies).
//!
//! Imports point one way, as in asyncio, where `events.py` defines the abstract loop that
//! `futures.py`, `tasks.py` and the rest build on. This module holds only what scheduling
//! needs (the ready queue, the timers, the flags, the selector) and reaches what is built
//! on it through traits it defines: a ready entry is a [`Handle`] or something
//! [`Runnable`] (a task's step, a transport's event); the I/O registrations and the stream
//! writes queued for the next wait are a [`Dispatch`] and a [`Submit`]; every other
//! feature keeps its state in a slot of its own type ([`EventLoop::slot`]). The loop's
//! methods are written where asyncio writes them: scheduling, running and closing in
//! `base_events.rs`, each feature's in its own module (`impl EventLoop` blocks).

mod handles;
mod timers;

use std::any::{Any, TypeId};
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::sys::{Event, Selector};

pub use handles::{Handle, TimerHandle};
pub(crate) use timers::Timers;

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

/// The stream writes a batch of callbacks queued (the write queue of completion-mode
/// streams, `proactor_events/write_queue.rs`): the loop's next wait does them in the same
/// call into the host as the wait. The loop holds it from the first stream write on.
pub(crate) trait Submit {
    /// Whether no write waits.
    fn is_empty(&self) -> bool;
    /// Does the queued writes, then waits for events at most `timeout`, in one call.
    fn submit(&self, timeout: Option<Duration>, events: &mut Vec<Event>);
    /// Does the queued writes now, without waiting (the loop stops or closes).
    fn flush(&self);
}

/// The state behind an [`EventLoop`] handle: what scheduling needs, nothing more. Its
/// fields are the scheduler's (`base_events.rs`); every other part of the crate goes
/// through the loop's methods, the traits above, and the slots.
pub(crate) struct LoopInner {
    pub(crate) ready: RefCell<VecDeque<Ready>>,
    /// The timers; their handles hold it weakly, to leave it when cancelled.
    pub(crate) timers: Rc<Timers<Handle>>,
    /// The loop time read for the ready item running now, `NaN` until read: the timers it
    /// schedules share one reading (see `EventLoop::call_later`).
    pub(crate) now: Cell<f64>,
    pub(crate) stopping: Cell<bool>,
    pub(crate) running: Cell<bool>,
    pub(crate) closed: Cell<bool>,
    pub(crate) debug: Cell<bool>,
    pub(crate) slow_callback_duration: Cell<Duration>,
    pub(crate) selector: RefCell<Box<dyn Selector>>,
    /// The events of the latest wait (the buffer is kept between waits).
    pub(crate) events: RefCell<Vec<Event>>,
    /// Callbacks and task steps run since the latest wait for I/O (see `EVENT_INTERVAL`).
    pub(crate) ticks_since_poll: Cell<u32>,
    /// What the I/O registrations make of events, from the first registration on.
    pub(crate) io: OnceCell<Rc<dyn Dispatch>>,
    /// The stream writes queued for the next wait, from the first stream write on.
    pub(crate) writes: OnceCell<Rc<dyn Submit>>,
    /// The state of every other feature, one slot per type (see [`EventLoop::slot`]).
    slots: RefCell<Vec<(TypeId, Rc<dyn Any>)>>,
}

impl LoopInner {
    /// A loop's state, waiting on `selector`, in debug mode if `debug`.
    pub(crate) fn new(
        selector: Box<dyn Selector>,
        debug: bool,
        slow_callback_duration: Duration,
    ) -> LoopInner {
        LoopInner {
            ready: RefCell::new(VecDeque::new()),
            timers: Rc::new(Timers::new()),
            now: Cell::new(f64::NAN),
            stopping: Cell::new(false),
            running: Cell::new(false),
            closed: Cell::new(false),
            debug: Cell::new(debug),
            slow_callback_duration: Cell::new(slow_callback_duration),
            selector: RefCell::new(selector),
            events: RefCell::new(Vec::with_capacity(64)),
            ticks_since_poll: Cell::new(0),
            io: OnceCell::new(),
            writes: OnceCell::new(),
            slots: RefCell::new(Vec::new()),
        }
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

impl EventLoop {
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
    pub(crate) fn set_dispatch(&self, io: Rc<dyn Dispatch>) {
        let _ = self.inner.io.set(io);
    }

    /// Makes `writes` what the loop's waits submit (the write queue, at the first
    /// completion-mode stream).
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
}

// ---- Getting a loop ------------------------------------------------------------------------

thread_local! {
    static RUNNING_LOOP: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
    static POLICY: RefCell<Option<Rc<dyn EventLoopPolicy>>> = const { RefCell::new(None) };
}

/// The loop running in this thread (asyncio's `get_running_loop()`).
///
/// `Err(Error::Runtime)` when no loop runs: call it from a coroutine or a callback.
///
/// ```
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     println!("loop time {:.3}", lp.time());
///     Ok::<_, sandloop::Error>(())
/// })?;
/// assert!(sandloop::get_running_loop().is_err()); // no loop runs out here
/// # Ok::<_, sandloop::Error>(())
/// ```
pub fn get_running_loop() -> Result<EventLoop> {
    RUNNING_LOOP
        .with(|r| r.borrow().clone())
        .ok_or_else(|| Error::runtime("no running event loop"))
}

pub(crate) fn set_running_loop(lp: Option<EventLoop>) {
    RUNNING_LOOP.with(|r| *r.borrow_mut() = lp);
}

pub(crate) fn running_loop_is_set() -> bool {
    RUNNING_LOOP.with(|r| r.borrow().is_some())
}

/// The running loop inside a coroutine or callback; elsewhere the policy's current loop,
/// created on first use (asyncio's `get_event_loop()`).
///
/// ```
/// let lp = sandloop::get_event_loop(); // outside a loop: the thread's current loop
/// assert_eq!(lp, sandloop::get_event_loop());
/// ```
pub fn get_event_loop() -> EventLoop {
    match get_running_loop() {
        Ok(lp) => lp,
        Err(_) => get_event_loop_policy().get_event_loop(),
    }
}

/// Sets (or clears) the current loop of this thread (asyncio's `set_event_loop()`).
///
/// ```
/// let lp = sandloop::new_event_loop();
/// sandloop::set_event_loop(Some(lp.clone()));
/// assert_eq!(sandloop::get_event_loop(), lp);
/// ```
pub fn set_event_loop(lp: Option<EventLoop>) {
    get_event_loop_policy().set_event_loop(lp)
}

/// A new loop with the best selector the host provides (asyncio's `new_event_loop()`).
///
/// ```
/// let lp = sandloop::new_event_loop();
/// let n = lp.run_until_complete(async { Ok::<_, sandloop::Error>(1 + 1) })?;
/// assert_eq!(n, 2);
/// lp.close()?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub fn new_event_loop() -> EventLoop {
    get_event_loop_policy().new_event_loop()
}

/// What decides which loop `get_event_loop`, `set_event_loop` and `new_event_loop` use,
/// asyncio's `AbstractEventLoopPolicy`.
///
/// A policy that gives every new loop debug mode:
///
/// ```
/// use std::rc::Rc;
/// use sandloop::{DefaultEventLoopPolicy, EventLoop, EventLoopPolicy};
///
/// #[derive(Default)]
/// struct Debugging(DefaultEventLoopPolicy);
///
/// impl EventLoopPolicy for Debugging {
///     fn get_event_loop(&self) -> EventLoop {
///         self.0.get_event_loop()
///     }
///     fn set_event_loop(&self, lp: Option<EventLoop>) {
///         self.0.set_event_loop(lp)
///     }
///     fn new_event_loop(&self) -> EventLoop {
///         let lp = self.0.new_event_loop();
///         lp.set_debug(true);
///         lp
///     }
/// }
///
/// sandloop::set_event_loop_policy(Some(Rc::new(Debugging::default())));
/// assert!(sandloop::new_event_loop().get_debug());
/// ```
pub trait EventLoopPolicy {
    /// The current loop of this thread, created if there is none.
    fn get_event_loop(&self) -> EventLoop;
    /// Sets the current loop of this thread.
    fn set_event_loop(&self, lp: Option<EventLoop>);
    /// A new loop.
    fn new_event_loop(&self) -> EventLoop;
}

/// The default policy: one current loop per thread, new loops from [`EventLoop::new`].
///
/// ```
/// use sandloop::{DefaultEventLoopPolicy, EventLoopPolicy};
/// let policy = DefaultEventLoopPolicy::default();
/// let lp = policy.get_event_loop();
/// assert_eq!(lp, policy.get_event_loop()); // one current loop per thread
/// ```
#[derive(Default)]
pub struct DefaultEventLoopPolicy {
    current: RefCell<Option<EventLoop>>,
}

impl EventLoopPolicy for DefaultEventLoopPolicy {
    fn get_event_loop(&self) -> EventLoop {
        self.current
            .borrow_mut()
            .get_or_insert_with(|| self.new_event_loop())
            .clone()
    }

    fn set_event_loop(&self, lp: Option<EventLoop>) {
        *self.current.borrow_mut() = lp;
    }

    fn new_event_loop(&self) -> EventLoop {
        EventLoop::new()
    }
}

/// The policy in use, the default one unless [`set_event_loop_policy`] changed it.
///
/// ```
/// let lp = sandloop::get_event_loop_policy().new_event_loop();
/// # let _ = lp;
/// ```
pub fn get_event_loop_policy() -> Rc<dyn EventLoopPolicy> {
    POLICY.with(|p| {
        p.borrow_mut()
            .get_or_insert_with(|| Rc::new(DefaultEventLoopPolicy::default()))
            .clone()
    })
}

/// Replaces the policy (`None` restores the default).
///
/// ```
/// use std::rc::Rc;
/// sandloop::set_event_loop_policy(Some(Rc::new(sandloop::DefaultEventLoopPolicy::default())));
/// sandloop::set_event_loop_policy(None); // back to the default
/// ```
pub fn set_event_loop_policy(policy: Option<Rc<dyn EventLoopPolicy>>) {
    POLICY.with(|p| *p.borrow_mut() = policy);
}
