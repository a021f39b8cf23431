//! Callback handles (asyncio's `Handle` and `TimerHandle`) and getting a loop
//! (`get_running_loop`, `get_event_loop`, `set_event_loop`, `new_event_loop`, policies).

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::rc::{Rc, Weak};

use crate::base_events::{EventLoop, LoopInner};
use crate::context::{self, Context};
use crate::error::{Error, IntoResult, Result};

/// The context a callback runs in.
pub(crate) enum HandleContext {
    /// A copy of the context current at scheduling time; what the callback sets is discarded.
    Snapshot(context::Vars),
    /// A context given explicitly (`*_with_context`, a task's own): sets persist in it.
    Explicit(Context),
}

/// What every handle carries besides its callback.
pub(crate) struct Header {
    cancelled: Cell<bool>,
    /// Where the callback was scheduled (`#[track_caller]`), for debug logs and reprs.
    location: &'static Location<'static>,
    context: HandleContext,
    /// The loop time a timer is due; `NaN` for plain handles.
    when: f64,
    /// Timers tell their loop when they are cancelled, so it can purge the heap.
    timer_loop: Option<Weak<LoopInner>>,
    /// A timer is in its loop's heap (asyncio's `TimerHandle._scheduled`): only then does
    /// cancelling it count towards purging the heap.
    in_heap: Cell<bool>,
}

/// A scheduled callback whose closure is stored inline (one allocation per `call_soon`).
struct Callback<F> {
    header: Header,
    f: Cell<Option<F>>,
}

pub(crate) trait RunCallback {
    fn header(&self) -> &Header;
    /// Takes the callback out and runs it; a second call does nothing.
    fn run(&self) -> Result<()>;
    /// Drops the callback (and what it captured) without running it.
    fn discard(&self);
}

impl<F, R> RunCallback for Callback<F>
where
    F: FnOnce() -> R,
    R: IntoResult<Ok = ()>,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(&self) -> Result<()> {
        match self.f.take() {
            Some(f) => f().into_result(),
            None => Ok(()),
        }
    }

    fn discard(&self) {
        drop(self.f.take());
    }
}

/// A callback that runs every time its handle is run (asyncio's reader and writer
/// handles), until the handle is cancelled.
#[cfg(feature = "host-reactor")]
struct Repeating<F> {
    header: Header,
    f: Cell<Option<F>>,
}

#[cfg(feature = "host-reactor")]
impl<F, R> RunCallback for Repeating<F>
where
    F: FnMut() -> R,
    R: IntoResult<Ok = ()>,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn run(&self) -> Result<()> {
        // Taken out while it runs, so it may cancel its own handle (`remove_reader`).
        let Some(mut f) = self.f.take() else {
            return Ok(());
        };
        let outcome = f().into_result();
        if !self.header.cancelled.get() {
            self.f.set(Some(f));
        }
        outcome
    }

    fn discard(&self) {
        drop(self.f.take());
    }
}

/// A callback scheduled with `call_soon`, asyncio's `asyncio.Handle`.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<dyn RunCallback>,
}

impl Handle {
    pub(crate) fn new<F, R>(
        f: F,
        context: Option<&Context>,
        location: &'static Location<'static>,
        when: f64,
        timer_loop: Option<Weak<LoopInner>>,
    ) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        let context = match context {
            Some(ctx) => HandleContext::Explicit(ctx.clone()),
            None => HandleContext::Snapshot(context::snapshot()),
        };
        Handle {
            inner: Rc::new(Callback {
                header: Header {
                    cancelled: Cell::new(false),
                    location,
                    context,
                    when,
                    timer_loop,
                    in_heap: Cell::new(false),
                },
                f: Cell::new(Some(f)),
            }),
        }
    }

    /// A handle whose callback runs each time the handle runs (readers and writers),
    /// in the context current now.
    #[cfg(feature = "host-reactor")]
    pub(crate) fn repeating<F, R>(f: F, location: &'static Location<'static>) -> Handle
    where
        F: FnMut() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        Handle {
            inner: Rc::new(Repeating {
                header: Header {
                    cancelled: Cell::new(false),
                    location,
                    context: HandleContext::Snapshot(context::snapshot()),
                    when: f64::NAN,
                    timer_loop: None,
                    in_heap: Cell::new(false),
                },
                f: Cell::new(Some(f)),
            }),
        }
    }

    /// Cancels the callback: it will not run. Cancelling twice does nothing.
    pub fn cancel(&self) {
        let header = self.inner.header();
        if header.cancelled.replace(true) {
            return;
        }
        // Drop what the callback captured now, as asyncio drops the args, to break cycles.
        self.inner.discard();
        if header.in_heap.get()
            && let Some(lp) = header.timer_loop.as_ref().and_then(Weak::upgrade)
        {
            lp.timer_handle_cancelled();
        }
    }

    /// `true` once [`Handle::cancel`] was called.
    pub fn cancelled(&self) -> bool {
        self.inner.header().cancelled.get()
    }

    /// The context the callback runs in.
    pub fn get_context(&self) -> Context {
        match &self.inner.header().context {
            HandleContext::Snapshot(vars) => Context::from_vars(vars.clone()),
            HandleContext::Explicit(ctx) => ctx.clone(),
        }
    }

    /// Where the callback was scheduled (file, line, column of the `call_*` call).
    pub fn location(&self) -> &'static Location<'static> {
        self.inner.header().location
    }

    /// Runs the callback in its context (the loop calls this).
    pub(crate) fn run(&self) -> Result<()> {
        let inner = &self.inner;
        match &inner.header().context {
            HandleContext::Snapshot(vars) => context::run_in_snapshot(vars, || inner.run()),
            HandleContext::Explicit(ctx) => ctx.run(|| inner.run()),
        }
    }

    /// Marks a timer as in (or out of) its loop's heap.
    pub(crate) fn set_in_heap(&self, in_heap: bool) {
        self.inner.header().in_heap.set(in_heap);
    }

    pub(crate) fn when(&self) -> f64 {
        self.inner.header().when
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.inner.header();
        let kind = if header.when.is_nan() {
            "Handle"
        } else {
            "TimerHandle"
        };
        write!(f, "<{kind}")?;
        if !header.when.is_nan() {
            write!(f, " when={:.3}", header.when)?;
        }
        if header.cancelled.get() {
            write!(f, " cancelled")?;
        }
        write!(f, " created at {}>", header.location)
    }
}

/// A callback scheduled with `call_later` or `call_at`, asyncio's `asyncio.TimerHandle`.
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) handle: Handle,
}

impl TimerHandle {
    /// The loop time (seconds, as [`EventLoop::time`]) the callback is due.
    pub fn when(&self) -> f64 {
        self.handle.when()
    }

    /// Cancels the callback: it will not run.
    pub fn cancel(&self) {
        self.handle.cancel()
    }

    /// `true` once cancelled.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// The context the callback runs in.
    pub fn get_context(&self) -> Context {
        self.handle.get_context()
    }

    /// The timer as a plain [`Handle`].
    pub fn as_handle(&self) -> &Handle {
        &self.handle
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.handle.fmt(f)
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
pub fn get_event_loop() -> EventLoop {
    match get_running_loop() {
        Ok(lp) => lp,
        Err(_) => get_event_loop_policy().get_event_loop(),
    }
}

/// Sets (or clears) the current loop of this thread (asyncio's `set_event_loop()`).
pub fn set_event_loop(lp: Option<EventLoop>) {
    get_event_loop_policy().set_event_loop(lp)
}

/// A new loop with the best selector the host provides (asyncio's `new_event_loop()`).
pub fn new_event_loop() -> EventLoop {
    get_event_loop_policy().new_event_loop()
}

/// What decides which loop `get_event_loop`, `set_event_loop` and `new_event_loop` use,
/// asyncio's `AbstractEventLoopPolicy`.
pub trait EventLoopPolicy {
    /// The current loop of this thread, created if there is none.
    fn get_event_loop(&self) -> EventLoop;
    /// Sets the current loop of this thread.
    fn set_event_loop(&self, lp: Option<EventLoop>);
    /// A new loop.
    fn new_event_loop(&self) -> EventLoop;
}

/// The default policy: one current loop per thread, new loops from [`EventLoop::new`].
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
pub fn get_event_loop_policy() -> Rc<dyn EventLoopPolicy> {
    POLICY.with(|p| {
        p.borrow_mut()
            .get_or_insert_with(|| Rc::new(DefaultEventLoopPolicy::default()))
            .clone()
    })
}

/// Replaces the policy (`None` restores the default).
pub fn set_event_loop_policy(policy: Option<Rc<dyn EventLoopPolicy>>) {
    POLICY.with(|p| *p.borrow_mut() = policy);
}
