//! A task without its result type (asyncio's `base_tasks.py` and the untyped half of
//! `tasks.py`): the state the loop steps ([`TaskCore`]), [`TaskRef`], task factories, the
//! loop's registry of tasks, and the task running now.
//!
//! It sits below `futures.rs` and `tasks.rs`, so that neither imports the other's
//! internals, as asyncio's `base_futures.py` and `base_tasks.py` break the same cycle. A
//! task's result future is a [`Slot`] here (`tasks.rs` implements it for `Future<T>`); a
//! future sees the task that owns it as an [`OwningTask`], and the task that awaits it
//! through [`await_in_current_task`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Poll, RawWaker, RawWakerVTable, Waker};

use slab::Slab;

use crate::context::{Context, TaskContext};
use crate::error::{Error, Result};
use crate::events::{EventLoop, Runnable};

/// Options of [`EventLoop::create_task_with`], asyncio's `create_task(name=, context=)`.
///
/// asyncio: `loop.create_task(coro, name="worker", context=ctx)`.
///
/// ```
/// # sandloop::run(async {
/// use sandloop::context::Context;
/// let lp = sandloop::get_running_loop()?;
/// let options = sandloop::TaskOptions {
///     name: Some("worker".into()),
///     context: Some(Context::copy_current()),
/// };
/// lp.create_task_with(async {}, options).await?;
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct TaskOptions {
    /// The task's name; `Task-N` when `None`.
    pub name: Option<String>,
    /// The context the task runs in; a copy of the current one when `None`.
    pub context: Option<Context>,
}

/// A task's coroutine, type-erased for the task factory. A factory may wrap it
/// ([`Coroutine::wrap`]) but must hand it to [`TaskRef::new`].
///
/// ```
/// use std::rc::Rc;
/// use sandloop::{Coroutine, EventLoop, TaskOptions, TaskRef};
/// let lp = sandloop::new_event_loop();
/// // The factory receives every task's coroutine and must hand it to TaskRef::new.
/// lp.set_task_factory(Some(Rc::new(|lp: &EventLoop, coro: Coroutine, options: TaskOptions| {
///     TaskRef::new(lp, coro, options)
/// })));
/// assert_eq!(lp.run_until_complete(async { Ok::<_, sandloop::Error>(1) })?, 1);
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct Coroutine {
    fut: Pin<Box<dyn std::future::Future<Output = ()>>>,
    slot: Rc<dyn Slot>,
}

impl Coroutine {
    /// The coroutine `fut`, whose outcome goes to `slot` (the task's result future).
    pub(crate) fn new(
        fut: Pin<Box<dyn std::future::Future<Output = ()>>>,
        slot: Rc<dyn Slot>,
    ) -> Coroutine {
        Coroutine { fut, slot }
    }

    /// Wraps the coroutine, e.g. to instrument each poll.
    ///
    /// ```
    /// use std::rc::Rc;
    /// use sandloop::{Coroutine, EventLoop, TaskOptions, TaskRef};
    /// let lp = sandloop::new_event_loop();
    /// lp.set_task_factory(Some(Rc::new(|lp: &EventLoop, coro: Coroutine, options: TaskOptions| {
    ///     // Each task announces that it finished.
    ///     let coro = coro.wrap(|fut| {
    ///         Box::pin(async move {
    ///             fut.await;
    ///             println!("a task finished");
    ///         })
    ///     });
    ///     TaskRef::new(lp, coro, options)
    /// })));
    /// ```
    pub fn wrap(
        self,
        f: impl FnOnce(
            Pin<Box<dyn std::future::Future<Output = ()>>>,
        ) -> Pin<Box<dyn std::future::Future<Output = ()>>>,
    ) -> Coroutine {
        Coroutine {
            fut: f(self.fut),
            slot: self.slot,
        }
    }
}

/// A task factory, asyncio's `loop.set_task_factory(factory)`: called by `create_task` with
/// the loop, the coroutine and the options; returns `TaskRef::new(loop, coro, options)`,
/// possibly with other options or a wrapped coroutine.
///
/// asyncio: `loop.set_task_factory(factory)`; this one names every task after a counter:
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use sandloop::{Coroutine, EventLoop, TaskOptions, TaskRef};
///
/// let count = Rc::new(Cell::new(0));
/// let factory: sandloop::TaskFactory =
///     Rc::new(move |lp: &EventLoop, coro: Coroutine, mut options: TaskOptions| {
///         count.set(count.get() + 1);
///         options.name.get_or_insert_with(|| format!("job-{}", count.get()));
///         TaskRef::new(lp, coro, options)
///     });
/// let lp = sandloop::new_event_loop();
/// lp.set_task_factory(Some(factory));
/// let name = lp.run_until_complete(async {
///     Ok::<_, sandloop::Error>(sandloop::current_task().map(|t| t.get_name()))
/// })?;
/// assert_eq!(name.as_deref(), Some("job-1"));
/// # Ok::<_, sandloop::Error>(())
/// ```
pub type TaskFactory = Rc<dyn Fn(&EventLoop, Coroutine, TaskOptions) -> TaskRef>;

/// A loop's tasks: those not done yet (asyncio's weak set of tasks, for `all_tasks`) and
/// the task factory (`set_task_factory`), in the loop's slot for them.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) live: RefCell<Slab<Weak<TaskCore>>>,
    pub(crate) factory: RefCell<Option<TaskFactory>>,
}

/// What a task waits on, whatever its result type: cancelling the task cancels it too.
pub(crate) trait Waitable {
    /// Cancels the future (or, for a task's future, the task).
    fn cancel_waitable(self: Rc<Self>, msg: Option<String>) -> bool;
}

/// The typed result future of a task, seen without its type (`tasks.rs` implements it for
/// the futures the loop makes).
pub(crate) trait Slot {
    fn done(&self) -> bool;
    fn cancelled(&self) -> bool;
    fn finish_cancelled(self: Rc<Self>, msg: Option<String>);
    fn set_owner(&self, task: OwningTask, name: TaskName);
    fn set_task_name(&self, name: TaskName);
    fn same_as(&self, other: *const ()) -> bool;
    fn exception(self: Rc<Self>) -> Result<Option<Error>>;
    fn poll_done(self: Rc<Self>, cx: &mut std::task::Context<'_>, as_waiter: bool) -> Poll<()>;
}

thread_local! {
    static CURRENT_TASK: RefCell<Option<Rc<TaskCore>>> = const { RefCell::new(None) };
    static TASK_COUNTER: Cell<u64> = const { Cell::new(0) };
    /// The `N` of default names `Task-N`; as in asyncio, named tasks do not use one up.
    static TASK_NAME_COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// A task's name. Default names (`Task-N`) are formatted only when read: creating a task
/// is on the hot path, reading its name is not.
#[derive(Clone)]
pub(crate) enum TaskName {
    Default(u64),
    Custom(Rc<str>),
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskName::Default(n) => write!(f, "Task-{n}"),
            TaskName::Custom(name) => f.write_str(name),
        }
    }
}

/// The untyped state of a task: what the loop steps and what wakers point to.
pub struct TaskCore {
    id: u64,
    /// The loop's tasks, and the task's key among them until it is done.
    registry: Rc<Tasks>,
    registry_key: Cell<Option<usize>>,
    lp: EventLoop,
    name: RefCell<TaskName>,
    context: TaskContext,
    location: &'static Location<'static>,
    coro: RefCell<Option<Pin<Box<dyn std::future::Future<Output = ()>>>>>,
    slot: Rc<dyn Slot>,
    /// A step is in the ready queue (so waking twice schedules once).
    scheduled: Cell<bool>,
    must_cancel: Cell<bool>,
    cancel_msg: RefCell<Option<String>>,
    cancel_requests: Cell<u32>,
    /// What the coroutine awaits now; cancelling the task cancels it too.
    fut_waiter: RefCell<Option<Rc<dyn Waitable>>>,
}

impl TaskCore {
    /// One step: poll the coroutine once inside the task's context (asyncio's `__step`).
    pub(crate) fn step(self: Rc<Self>) {
        self.scheduled.set(false);
        if self.slot.done() {
            return;
        }
        if self.must_cancel.get() {
            let coro = self.coro.borrow_mut().take();
            // The coroutine's drop guards are its `finally` clauses: like asyncio, run them
            // inside the task (its context entered, `current_task()` is the task).
            self.run_inside(|| drop(coro));
            self.slot
                .clone()
                .finish_cancelled(self.cancel_msg.borrow().clone());
            self.finish();
            return;
        }
        *self.fut_waiter.borrow_mut() = None;
        let waker = waker_for(&self);
        let mut cx = std::task::Context::from_waker(&waker);
        let poll = self.run_inside(|| {
            let mut coro = self.coro.borrow_mut();
            match coro.as_mut() {
                Some(fut) => fut.as_mut().poll(&mut cx),
                None => Poll::Ready(()),
            }
        });
        if poll.is_ready() {
            let coro = self.coro.borrow_mut().take();
            drop(coro);
            self.finish();
        }
    }

    /// The message of a requested cancellation not carried out yet (`Some(None)`: no message).
    pub(crate) fn pending_cancel(&self) -> Option<Option<String>> {
        self.must_cancel
            .get()
            .then(|| self.cancel_msg.borrow().clone())
    }

    /// Runs `f` as part of the task: its context entered, `current_task()` returning it.
    fn run_inside<R>(self: &Rc<Self>, f: impl FnOnce() -> R) -> R {
        let previous = CURRENT_TASK.with(|c| c.replace(Some(self.clone())));
        let result = self.context.run(f);
        CURRENT_TASK.with(|c| c.replace(previous));
        result
    }

    fn finish(&self) {
        *self.fut_waiter.borrow_mut() = None;
        if let Some(key) = self.registry_key.take() {
            self.registry.live.borrow_mut().try_remove(key);
        }
    }

    /// Queues a step unless one is queued or the task is done.
    fn schedule(self: &Rc<Self>) {
        if !self.scheduled.get() && !self.slot.done() {
            self.scheduled.set(true);
            self.lp.push_ready(self.clone());
        }
    }

    /// Requests cancellation: the coroutine is dropped at its next step and the task ends
    /// with `Err(Cancelled)`; the future it awaits is cancelled too.
    pub(crate) fn cancel(self: &Rc<Self>, msg: Option<String>) -> bool {
        if self.slot.done() {
            return false;
        }
        self.cancel_requests.set(self.cancel_requests.get() + 1);
        self.must_cancel.set(true);
        *self.cancel_msg.borrow_mut() = msg.clone();
        let waiter = self.fut_waiter.borrow_mut().take();
        if let Some(waiter) = waiter {
            waiter.cancel_waitable(msg);
        }
        self.schedule();
        true
    }

    pub(crate) fn describe(&self) -> String {
        let state = if self.slot.cancelled() {
            "cancelled"
        } else if self.slot.done() {
            "finished"
        } else {
            "pending"
        };
        format!(
            "<Task {state} name='{}' created at {}>",
            self.name.borrow(),
            self.location
        )
    }
}

/// A task's step is what the loop runs when the task is ready.
impl Runnable for TaskCore {
    fn run(self: Rc<Self>) {
        self.step();
    }

    fn describe(&self) -> String {
        TaskCore::describe(self)
    }
}

// ---- Wakers ------------------------------------------------------------------------------
//
// A waker is an `Rc<TaskCore>` in disguise. That is sound because a wasm32-wasip2 guest has
// exactly one thread: a waker can never reach another thread, so the non-atomic reference
// count is never touched concurrently.

fn waker_for(task: &Rc<TaskCore>) -> Waker {
    let raw = RawWaker::new(Rc::into_raw(task.clone()) as *const (), &VTABLE);
    // SAFETY: the vtable functions below uphold the RawWaker contract for an
    // `Rc<TaskCore>` pointer, and the guest is single-threaded (see above).
    unsafe { Waker::from_raw(raw) }
}

static VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Rc::into_raw` and the Rc is alive while a waker exists.
    unsafe { Rc::increment_strong_count(data as *const TaskCore) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: takes back the reference this waker owned.
    let task = unsafe { Rc::from_raw(data as *const TaskCore) };
    task.schedule();
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: borrows the reference this waker owns without consuming it.
    let task = std::mem::ManuallyDrop::new(unsafe { Rc::from_raw(data as *const TaskCore) });
    task.schedule();
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: releases the reference this waker owned.
    drop(unsafe { Rc::from_raw(data as *const TaskCore) });
}

/// The task whose result a future holds, as that future sees it: cancelling the future
/// cancels the task. (asyncio's `Task` is a `Future`; here a task owns one, which knows
/// its task only through this weak handle.)
#[derive(Clone)]
pub(crate) struct OwningTask(Weak<TaskCore>);

impl OwningTask {
    /// Requests the task's cancellation; `None` when the task is gone.
    pub(crate) fn cancel(&self, msg: Option<String>) -> Option<bool> {
        self.0.upgrade().map(|task| task.cancel(msg))
    }

    /// The message of a cancellation requested and not carried out yet (`Some(None)`: no
    /// message).
    pub(crate) fn pending_cancel(&self) -> Option<Option<String>> {
        self.0.upgrade()?.pending_cancel()
    }
}

// ---- The running task, as the futures it polls see it -------------------------------------

/// The current task (if any) starts waiting on `waiter`, a future of loop `lp` that holds
/// the result of `owner` if it has one: one look at the current task checks asyncio's two
/// errors (the wait could never end) and records what the task waits on, so that
/// cancelling the task cancels it. (asyncio's task does this with the future its
/// coroutine yields; a Rust future has no such channel, so the future reports itself.)
pub(crate) fn await_in_current_task(
    waiter: Rc<dyn Waitable>,
    lp: &EventLoop,
    owner: Option<&OwningTask>,
) -> std::result::Result<(), &'static str> {
    CURRENT_TASK.with(|c| {
        let current = c.borrow();
        let Some(task) = current.as_ref() else {
            return Ok(());
        };
        if owner.is_some_and(|o| std::ptr::eq(Rc::as_ptr(task), o.0.as_ptr())) {
            return Err("Task cannot await on itself");
        }
        if task.lp != *lp {
            return Err("Task got Future attached to a different loop");
        }
        *task.fut_waiter.borrow_mut() = Some(waiter);
        Ok(())
    })
}

/// The current task (if any) now waits on `waiter`, without asyncio's checks: for the
/// crate's helpers that poll a future on a task's behalf (`wait_for`, `gather`).
pub(crate) fn current_task_waits_on(waiter: Rc<dyn Waitable>) {
    CURRENT_TASK.with(|c| {
        if let Some(task) = &*c.borrow() {
            *task.fut_waiter.borrow_mut() = Some(waiter);
        }
    });
}

/// Cancels what the current task waits on (a deadline passed inside the task).
pub(crate) fn cancel_current_waiter() {
    let waiter = CURRENT_TASK.with(|c| {
        c.borrow()
            .as_ref()
            .and_then(|task| task.fut_waiter.borrow_mut().take())
    });
    if let Some(waiter) = waiter {
        waiter.cancel_waitable(None);
    }
}

/// A task of any result type: what `current_task`, `all_tasks` and task factories handle.
///
/// ```
/// # sandloop::run(async {
/// let me: sandloop::TaskRef = sandloop::current_task().expect("inside a task");
/// let child = sandloop::create_task(async {});
/// assert!(!child.as_ref().ptr_eq(&me));
/// println!("{} started {}", me.get_name(), child.get_name());
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TaskRef {
    core: Rc<TaskCore>,
}

impl TaskRef {
    /// Creates and schedules a task (what a task factory calls).
    #[track_caller]
    pub fn new(lp: &EventLoop, coro: Coroutine, options: TaskOptions) -> TaskRef {
        TaskRef::spawn(lp, coro, options, Location::caller())
    }

    /// Creates and schedules a task for `coro` (its location: where it was created).
    pub(crate) fn spawn(
        lp: &EventLoop,
        coro: Coroutine,
        options: TaskOptions,
        location: &'static Location<'static>,
    ) -> TaskRef {
        TaskRef::spawn_in(lp.slot::<Tasks>(), lp, coro, options, location)
    }

    /// [`TaskRef::spawn`] with the loop's tasks at hand (`create_task` looked them up for
    /// the factory already: creating a task reads the slot once).
    pub(crate) fn spawn_in(
        registry: Rc<Tasks>,
        lp: &EventLoop,
        coro: Coroutine,
        options: TaskOptions,
        location: &'static Location<'static>,
    ) -> TaskRef {
        let id = TASK_COUNTER.with(|c| {
            let id = c.get() + 1;
            c.set(id);
            id
        });
        let name = match options.name {
            Some(name) => TaskName::Custom(name.into()),
            None => TaskName::Default(TASK_NAME_COUNTER.with(|c| {
                c.set(c.get() + 1);
                c.get()
            })),
        };
        let core = Rc::new(TaskCore {
            id,
            registry: registry.clone(),
            registry_key: Cell::new(None),
            lp: lp.clone(),
            name: RefCell::new(name.clone()),
            context: options
                .context
                .map_or_else(TaskContext::copy_current, TaskContext::given),
            location,
            coro: RefCell::new(Some(coro.fut)),
            slot: coro.slot,
            scheduled: Cell::new(false),
            must_cancel: Cell::new(false),
            cancel_msg: RefCell::new(None),
            cancel_requests: Cell::new(0),
            fut_waiter: RefCell::new(None),
        });
        core.slot.set_owner(OwningTask(Rc::downgrade(&core)), name);
        let key = registry.live.borrow_mut().insert(Rc::downgrade(&core));
        core.registry_key.set(Some(key));
        core.schedule();
        TaskRef { core }
    }

    pub(crate) fn from_core(core: Rc<TaskCore>) -> TaskRef {
        TaskRef { core }
    }

    /// Whether the task's result is `slot` (a task factory must make the task it was given
    /// the coroutine of).
    pub(crate) fn holds(&self, slot: *const ()) -> bool {
        self.core.slot.same_as(slot)
    }

    /// The task's name.
    pub fn get_name(&self) -> String {
        self.core.name.borrow().to_string()
    }

    /// Renames the task (also in what the loop reports about it later).
    pub fn set_name(&self, name: impl Into<String>) {
        let name = TaskName::Custom(name.into().into());
        self.core.slot.set_task_name(name.clone());
        *self.core.name.borrow_mut() = name;
    }

    /// The context the task runs in.
    pub fn get_context(&self) -> Context {
        self.core.context.get()
    }

    /// The loop the task runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.core.lp.clone()
    }

    /// `true` once the task finished, failed or was cancelled.
    pub fn done(&self) -> bool {
        self.core.slot.done()
    }

    /// `true` once the task was cancelled.
    pub fn cancelled(&self) -> bool {
        self.core.slot.cancelled()
    }

    /// Requests cancellation; `false` if the task is done already.
    pub fn cancel(&self) -> bool {
        self.core.cancel(None)
    }

    /// Requests cancellation with a message carried by `Error::Cancelled`.
    pub fn cancel_with_message(&self, msg: impl Into<String>) -> bool {
        self.core.cancel(Some(msg.into()))
    }

    /// The exception, `None` if the task returned `Ok`; `Err(Cancelled)` when cancelled,
    /// `Err(InvalidState)` when not done.
    pub fn exception(&self) -> Result<Option<Error>> {
        self.core.slot.clone().exception()
    }

    pub(crate) fn poll_done(&self, cx: &mut std::task::Context<'_>, as_waiter: bool) -> Poll<()> {
        self.core.slot.clone().poll_done(cx, as_waiter)
    }

    /// How many cancellations were requested (asyncio's `cancelling()`).
    ///
    /// ```
    /// use std::time::Duration;
    /// sandloop::run(async {
    ///     let task = sandloop::create_task(sandloop::sleep(Duration::from_secs(60)));
    ///     task.cancel();
    ///     assert_eq!(task.as_ref().cancelling(), 1);
    ///     assert!(task.await.unwrap_err().is_cancelled());
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn cancelling(&self) -> u32 {
        if self.done() {
            0
        } else {
            self.core.cancel_requests.get()
        }
    }

    /// The order tasks were created in (for `all_tasks`).
    pub(crate) fn creation_order(&self) -> u64 {
        self.core.id
    }

    /// `true` when both refer to the same task.
    pub fn ptr_eq(&self, other: &TaskRef) -> bool {
        Rc::ptr_eq(&self.core, &other.core)
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.core.describe())
    }
}

/// The task running now, if any (asyncio's `current_task()`).
///
/// ```
/// assert!(sandloop::current_task().is_none()); // outside any task
/// sandloop::run(async {
///     let task = sandloop::current_task().expect("main runs in a task");
///     println!("running in {}", task.get_name());
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub fn current_task() -> Option<TaskRef> {
    CURRENT_TASK.with(|c| c.borrow().clone().map(TaskRef::from_core))
}
