//! Callback handles: asyncio's `Handle` and `TimerHandle` of `events.py`.
//!
//! A handle is one allocation holding the callback inline (`call_soon` allocates nothing
//! else). A timer's handle knows its loop's timers (`timers.rs`), not the loop: cancelled
//! while scheduled, it takes itself out of them, so that the loop can purge the heap.

use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::rc::{Rc, Weak};

use super::timers::{Identity, Timers};
use crate::context::{self, Context};
use crate::error::{IntoResult, Result};

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
}

/// What a timer's handle carries besides a plain handle's: kept out of `call_soon`'s
/// handles, which are then about half the size on wasm32 (20 bytes less, and the 8-byte
/// alignment of `when` gone), so a batch of callbacks touches about half the memory.
pub(crate) struct TimerPart {
    /// The loop time the timer is due.
    when: f64,
    /// The timer's loop's timers, which it leaves when cancelled, and its key there (the
    /// timers check that the key still holds this handle: it may have left them).
    timers: Option<(Weak<Timers<Handle>>, u32)>,
}

/// A scheduled callback whose closure is stored inline (one allocation per `call_soon`);
/// `T` is `()` for a plain handle, a [`TimerPart`] for a timer's.
struct Callback<F, T> {
    header: Header,
    timer: T,
    f: Cell<Option<F>>,
}

pub(crate) trait RunCallback {
    fn header(&self) -> &Header;
    /// A timer's own part; `None` for a plain handle.
    fn timer(&self) -> Option<&TimerPart> {
        None
    }
    /// Takes the callback out and runs it; a second call does nothing.
    fn run(&self) -> Result<()>;
    /// Drops the callback (and what it captured) without running it.
    fn discard(&self);
}

/// A handle's part beside its header: nothing for a plain handle, a [`TimerPart`] for a
/// timer's.
trait Part {
    fn timer(&self) -> Option<&TimerPart>;
}

impl Part for () {
    fn timer(&self) -> Option<&TimerPart> {
        None
    }
}

impl Part for TimerPart {
    fn timer(&self) -> Option<&TimerPart> {
        Some(self)
    }
}

impl<F, R, T> RunCallback for Callback<F, T>
where
    F: FnOnce() -> R,
    R: IntoResult<Ok = ()>,
    T: Part,
{
    fn header(&self) -> &Header {
        &self.header
    }

    fn timer(&self) -> Option<&TimerPart> {
        self.timer.timer()
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
struct Repeating<F> {
    header: Header,
    f: Cell<Option<F>>,
}

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
///
/// asyncio: `handle = loop.call_soon(cb); handle.cancel()`.
///
/// ```
/// let lp = sandloop::new_event_loop();
/// let handle = lp.call_soon(|| println!("never printed"));
/// handle.cancel();
/// assert!(handle.cancelled());
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<dyn RunCallback>,
}

impl Handle {
    /// A handle for `f`; a timer's if `when` is a number or `timers` (the loop's timers and
    /// the key they will hold it under) is given.
    pub(crate) fn new<F, R>(
        f: F,
        context: Option<&Context>,
        location: &'static Location<'static>,
        when: f64,
        timers: Option<(Weak<Timers<Handle>>, u32)>,
    ) -> Handle
    where
        F: FnOnce() -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        let context = match context {
            Some(ctx) => HandleContext::Explicit(ctx.clone()),
            None => HandleContext::Snapshot(context::snapshot()),
        };
        let header = Header {
            cancelled: Cell::new(false),
            location,
            context,
        };
        let f = Cell::new(Some(f));
        if when.is_nan() && timers.is_none() {
            return Handle {
                inner: Rc::new(Callback {
                    header,
                    timer: (),
                    f,
                }),
            };
        }
        Handle {
            inner: Rc::new(Callback {
                header,
                timer: TimerPart { when, timers },
                f,
            }),
        }
    }

    /// A handle whose callback runs each time the handle runs (readers and writers),
    /// in the context current now.
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
        if let Some(TimerPart {
            timers: Some((timers, key)),
            ..
        }) = self.inner.timer()
            && let Some(timers) = timers.upgrade()
        {
            timers.cancel(*key, self);
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

    /// The loop time a timer is due; `NaN` for a plain handle.
    pub(crate) fn when(&self) -> f64 {
        self.inner.timer().map_or(f64::NAN, |timer| timer.when)
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.inner.header();
        let when = self.when();
        let kind = if when.is_nan() {
            "Handle"
        } else {
            "TimerHandle"
        };
        write!(f, "<{kind}")?;
        if !when.is_nan() {
            write!(f, " when={when:.3}")?;
        }
        if header.cancelled.get() {
            write!(f, " cancelled")?;
        }
        write!(f, " created at {}>", header.location)
    }
}

/// A callback scheduled with `call_later` or `call_at`, asyncio's `asyncio.TimerHandle`.
///
/// asyncio: `timer = loop.call_later(delay, cb); timer.cancel()`.
///
/// ```
/// use std::time::Duration;
/// let lp = sandloop::new_event_loop();
/// let timer = lp.call_later(Duration::from_secs(60), || println!("too late"));
/// assert!(timer.when() > lp.time());
/// timer.cancel();
/// ```
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) handle: Handle,
}

impl TimerHandle {
    /// The loop time the callback is due (seconds on the loop's clock, `EventLoop::time`).
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

impl Identity for Handle {
    /// Whether both are the same handle.
    fn same(&self, other: &Handle) -> bool {
        std::ptr::eq(
            Rc::as_ptr(&self.inner) as *const (),
            Rc::as_ptr(&other.inner) as *const (),
        )
    }
}
