//! Tasks: coroutines (Rust futures) driven by the loop, asyncio's `asyncio.Task`, plus
//! `current_task`, `all_tasks`, `sleep`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use slab::Slab;

use crate::base_events::{EventLoop, Runnable};
use crate::context::{Context, TaskContext};
use crate::error::{Error, IntoResult, Result};
use crate::events::{self, TimerHandle};
use crate::futures::{CallbackId, Future, Waitable};

/// Options of [`EventLoop::create_task_with`], asyncio's `create_task(name=, context=)`.
#[derive(Clone, Debug, Default)]
pub struct TaskOptions {
    /// The task's name; `Task-N` when `None`.
    pub name: Option<String>,
    /// The context the task runs in; a copy of the current one when `None`.
    pub context: Option<Context>,
}

/// A task's coroutine, type-erased for the task factory. A factory may wrap it
/// ([`Coroutine::wrap`]) but must hand it to [`TaskRef::new`].
pub struct Coroutine {
    fut: Pin<Box<dyn std::future::Future<Output = ()>>>,
    slot: Rc<dyn Slot>,
}

impl Coroutine {
    /// Wraps the coroutine, e.g. to instrument each poll.
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
pub type TaskFactory = Rc<dyn Fn(&EventLoop, Coroutine, TaskOptions) -> TaskRef>;

/// A loop's tasks: those not done yet (asyncio's weak set of tasks, for `all_tasks`) and
/// the task factory (`set_task_factory`), in the loop's slot for them.
#[derive(Default)]
pub(crate) struct Tasks {
    pub(crate) live: RefCell<Slab<std::rc::Weak<TaskCore>>>,
    pub(crate) factory: RefCell<Option<TaskFactory>>,
}

/// The typed result future of a task, seen without its type.
pub(crate) trait Slot {
    fn done(&self) -> bool;
    fn cancelled(&self) -> bool;
    fn finish_cancelled(self: Rc<Self>, msg: Option<String>);
    fn set_owner(&self, task: std::rc::Weak<TaskCore>, name: TaskName);
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
    /// The task's key in its loop's registry, until it is done.
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
        if let Some(key) = self.registry_key.take()
            && let Some(tasks) = self.lp.existing_slot::<Tasks>()
        {
            tasks.live.borrow_mut().try_remove(key);
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

/// The current task (if any) starts waiting on `waiter`, a future of loop `lp` that holds
/// the result of task `owner` if it has one: one look at the current task checks asyncio's
/// two errors (the wait could never end) and records what the task waits on.
pub(crate) fn wait_on(
    waiter: Rc<dyn Waitable>,
    lp: &EventLoop,
    owner: Option<&std::rc::Weak<TaskCore>>,
) -> std::result::Result<(), &'static str> {
    CURRENT_TASK.with(|c| {
        let current = c.borrow();
        let Some(task) = current.as_ref() else {
            return Ok(());
        };
        if owner.is_some_and(|o| std::ptr::eq(Rc::as_ptr(task), o.as_ptr())) {
            return Err("Task cannot await on itself");
        }
        if task.lp != *lp {
            return Err("Task got Future attached to a different loop");
        }
        *task.fut_waiter.borrow_mut() = Some(waiter);
        Ok(())
    })
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

/// Called by a future being polled: the current task now waits on it.
pub(crate) fn set_fut_waiter(waiter: Rc<dyn Waitable>) {
    CURRENT_TASK.with(|c| {
        if let Some(task) = &*c.borrow() {
            *task.fut_waiter.borrow_mut() = Some(waiter);
        }
    });
}

// ---- Creating tasks ----------------------------------------------------------------------

pub(crate) fn create<F>(
    lp: &EventLoop,
    fut: F,
    options: TaskOptions,
    location: &'static Location<'static>,
) -> Task<<F::Output as IntoResult>::Ok>
where
    F: std::future::Future + 'static,
    F::Output: IntoResult,
{
    let result = lp.create_future();
    let writer = result.clone();
    let coro = Coroutine {
        fut: Box::pin(async move {
            let outcome = fut.await.into_result();
            writer.finish(outcome);
        }),
        slot: result.inner.clone(),
    };
    let task = match lp.get_task_factory() {
        Some(factory) => factory(lp, coro, options),
        None => TaskRef::spawn(lp, coro, options, location),
    };
    assert!(
        task.core
            .slot
            .same_as(Rc::as_ptr(&result.inner) as *const ()),
        "a task factory must return TaskRef::new(loop, coro, options) for the coroutine it was given"
    );
    Task {
        core: task.core,
        result,
    }
}

/// A task of any result type: what `current_task`, `all_tasks` and task factories handle.
#[derive(Clone)]
pub struct TaskRef {
    pub(crate) core: Rc<TaskCore>,
}

impl TaskRef {
    /// Creates and schedules a task (what a task factory calls).
    #[track_caller]
    pub fn new(lp: &EventLoop, coro: Coroutine, options: TaskOptions) -> TaskRef {
        TaskRef::spawn(lp, coro, options, Location::caller())
    }

    fn spawn(
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
        core.slot.set_owner(Rc::downgrade(&core), name);
        let key = lp
            .slot::<Tasks>()
            .live
            .borrow_mut()
            .insert(Rc::downgrade(&core));
        core.registry_key.set(Some(key));
        core.schedule();
        TaskRef { core }
    }

    pub(crate) fn from_core(core: Rc<TaskCore>) -> TaskRef {
        TaskRef { core }
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

/// A coroutine scheduled on the loop, asyncio's `asyncio.Task`. Awaiting it gives its
/// result, or `Err(Error::Cancelled)` if it was cancelled.
pub struct Task<T> {
    core: Rc<TaskCore>,
    result: Future<T>,
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Task<T> {
        Task {
            core: self.core.clone(),
            result: self.result.clone(),
        }
    }
}

impl<T: 'static> Task<T> {
    /// The task without its result type.
    pub fn as_ref(&self) -> TaskRef {
        TaskRef {
            core: self.core.clone(),
        }
    }

    /// `true` once the task finished, failed or was cancelled.
    pub fn done(&self) -> bool {
        self.result.done()
    }

    /// `true` once the task was cancelled.
    pub fn cancelled(&self) -> bool {
        self.result.cancelled()
    }

    /// Requests cancellation: the coroutine is dropped at its next step (Rust's native
    /// cancellation) and the task ends with `Err(Error::Cancelled)`. `false` if done.
    pub fn cancel(&self) -> bool {
        self.core.cancel(None)
    }

    /// [`Task::cancel`] with a message carried by `Error::Cancelled`.
    pub fn cancel_with_message(&self, msg: impl Into<String>) -> bool {
        self.core.cancel(Some(msg.into()))
    }

    /// The exception, `None` if the task returned `Ok`. `Err(Cancelled)` when cancelled,
    /// `Err(InvalidState)` when not done.
    pub fn exception(&self) -> Result<Option<Error>> {
        self.result.exception()
    }

    /// The task's name.
    pub fn get_name(&self) -> String {
        self.as_ref().get_name()
    }

    /// Renames the task.
    pub fn set_name(&self, name: impl Into<String>) {
        self.as_ref().set_name(name)
    }

    /// The context the task runs in.
    pub fn get_context(&self) -> Context {
        self.core.context.get()
    }

    /// The loop the task runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.core.lp.clone()
    }

    /// Calls `cb` with the task once it is done (scheduled with `call_soon`).
    pub fn add_done_callback(&self, cb: impl FnOnce(&Task<T>) + 'static) -> CallbackId {
        let task = self.clone();
        self.result.add_done_callback(move |_| cb(&task))
    }

    /// Removes a done callback not yet scheduled; returns how many were removed.
    pub fn remove_done_callback(&self, id: CallbackId) -> usize {
        self.result.remove_done_callback(id)
    }

    pub(crate) fn poll_done(&self, cx: &mut std::task::Context<'_>, as_waiter: bool) -> Poll<()> {
        self.result.poll_done(cx, as_waiter)
    }

    /// Waits for the task and moves its result out: awaiting a task needs `T: Clone` (its
    /// result can be read many times, as in asyncio); `join` takes any `T`, for the one
    /// reader that owns the result. Readers after it get `Err(InvalidState)`.
    pub async fn join(self) -> Result<T> {
        std::future::poll_fn(|cx| self.result.poll_done(cx, true)).await;
        self.result.take_result()
    }

    /// Moves the result out (for the single owner: `run_until_complete`, `wait_for`).
    pub(crate) fn take_result(&self) -> Result<T> {
        self.result.take_result()
    }

    /// Marks the task's exception retrieved once it is done, so it is not reported as never
    /// retrieved: for helpers that stop watching a task on purpose (`gather` after its first
    /// error, an abandoned `shield`), as asyncio's do.
    pub(crate) fn retrieve_exception_when_done(&self) {
        if self.result.done() {
            let _ = self.result.exception();
        } else {
            self.result.add_done_callback(|f| {
                let _ = f.exception();
            });
        }
    }
}

impl<T: Clone + 'static> Task<T> {
    /// The result: `Ok(value)`, the exception as `Err`, `Err(Cancelled)`, or
    /// `Err(InvalidState)` when not done.
    pub fn result(&self) -> Result<T> {
        self.result.result()
    }
}

impl<T: Clone + 'static> std::future::Future for Task<T> {
    type Output = Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Result<T>> {
        Pin::new(&mut self.result).poll(cx)
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.core.describe())
    }
}

/// The task running now, if any (asyncio's `current_task()`).
pub fn current_task() -> Option<TaskRef> {
    CURRENT_TASK.with(|c| c.borrow().clone().map(TaskRef::from_core))
}

/// The running loop's tasks that are not done (asyncio's `all_tasks()`).
pub fn all_tasks() -> Result<Vec<TaskRef>> {
    Ok(events::get_running_loop()?.all_tasks())
}

/// Creates a task on the running loop (asyncio's `asyncio.create_task`).
///
/// # Panics
/// When no loop is running (asyncio raises `RuntimeError`).
#[track_caller]
pub fn create_task<F>(fut: F) -> Task<<F::Output as IntoResult>::Ok>
where
    F: std::future::IntoFuture + 'static,
    F::Output: IntoResult,
{
    match events::get_running_loop() {
        Ok(lp) => lp.create_task(fut),
        Err(_) => panic!("RuntimeError: create_task() needs a running event loop"),
    }
}

// ---- sleep -------------------------------------------------------------------------------

/// Suspends the current task for `delay` (asyncio's `asyncio.sleep`). A zero delay yields
/// to the loop once. `Err(Runtime)` outside a running loop.
pub async fn sleep(delay: Duration) -> Result<()> {
    let lp = events::get_running_loop()?;
    if delay.is_zero() {
        YieldNow(false).await;
        return Ok(());
    }
    let fut = lp.create_future::<()>();
    let setter = fut.clone();
    let timer = lp.call_later(delay, move || {
        if !setter.done() {
            let _ = setter.set_result(());
        }
    });
    let _cancel = CancelTimerOnDrop(timer);
    fut.await
}

/// Cancels a timer when the awaiting coroutine is dropped (a cancelled sleep, an abandoned
/// `wait_for`), so the timer does not keep what it captured alive until it is due.
pub(crate) struct CancelTimerOnDrop(pub(crate) TimerHandle);

impl Drop for CancelTimerOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Returns `Pending` once after waking itself: the task goes to the back of the ready queue.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
