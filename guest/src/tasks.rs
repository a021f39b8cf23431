//! Tasks: coroutines (Rust futures) driven by the loop, asyncio's `asyncio.Task` with its
//! result, plus `all_tasks`, `create_task`, `sleep`. The untyped half of a task (what the
//! loop steps, `TaskRef`, the running task) is in `base_tasks.rs`.

use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::base_tasks::{Coroutine, OwningTask, Slot, TaskName, TaskOptions, TaskRef, Tasks};
use crate::context::Context;
use crate::error::{Error, IntoResult, Result};
use crate::events::{self, EventLoop, TimerHandle};
use crate::futures::{CallbackId, Future, FutureInner};

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
    let coro = Coroutine::new(
        Box::pin(async move {
            let outcome = fut.await.into_result();
            writer.finish(outcome);
        }),
        result.inner.clone(),
    );
    let registry = lp.slot::<Tasks>();
    let factory = registry.factory.borrow().clone();
    let task = match factory {
        Some(factory) => factory(lp, coro, options),
        None => TaskRef::spawn_in(registry, lp, coro, options, location),
    };
    assert!(
        task.holds(Rc::as_ptr(&result.inner) as *const ()),
        "a task factory must return TaskRef::new(loop, coro, options) for the coroutine it was given"
    );
    Task { task, result }
}

/// A coroutine scheduled on the loop, asyncio's `asyncio.Task`. Awaiting it gives its
/// result, or `Err(Error::Cancelled)` if it was cancelled.
///
/// asyncio: `task = asyncio.create_task(coro)`, `await task`, `task.cancel()`.
///
/// ```
/// use std::time::Duration;
/// sandloop::run(async {
///     let task = sandloop::create_task(async {
///         sandloop::sleep(Duration::from_millis(10)).await?;
///         Ok::<_, sandloop::Error>(5)
///     });
///     assert_eq!(task.await?, 5);
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct Task<T> {
    task: TaskRef,
    result: Future<T>,
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Task<T> {
        Task {
            task: self.task.clone(),
            result: self.result.clone(),
        }
    }
}

impl<T: 'static> Task<T> {
    /// The task without its result type.
    pub fn as_ref(&self) -> TaskRef {
        self.task.clone()
    }

    /// `true` once the task finished, failed or was cancelled.
    ///
    /// ```
    /// # sandloop::run(async {
    /// let task = sandloop::create_task(async {});
    /// assert!(!task.done()); // it has not run yet
    /// sandloop::sleep(std::time::Duration::ZERO).await?;
    /// assert!(task.done());
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.result.done()
    }

    /// `true` once the task was cancelled.
    pub fn cancelled(&self) -> bool {
        self.result.cancelled()
    }

    /// Requests cancellation: the coroutine is dropped at its next step (Rust's native
    /// cancellation) and the task ends with `Err(Error::Cancelled)`. `false` if done.
    ///
    /// asyncio: `task.cancel()`; the task sees `Err(Error::Cancelled)` at its next await.
    ///
    /// ```
    /// use std::time::Duration;
    /// # sandloop::run(async {
    /// let task = sandloop::create_task(sandloop::sleep(Duration::from_secs(3600)));
    /// sandloop::sleep(Duration::from_millis(10)).await?;
    /// task.cancel();
    /// assert!(task.await.unwrap_err().is_cancelled());
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }

    /// [`Task::cancel`] with a message carried by `Error::Cancelled`.
    ///
    /// ```
    /// use std::time::Duration;
    /// sandloop::run(async {
    ///     let task = sandloop::create_task(sandloop::sleep(Duration::from_secs(60)));
    ///     sandloop::sleep(Duration::ZERO).await?;
    ///     task.cancel_with_message("deadline passed");
    ///     let err = task.await.unwrap_err();
    ///     assert!(matches!(err, sandloop::Error::Cancelled(Some(m)) if m == "deadline passed"));
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn cancel_with_message(&self, msg: impl Into<String>) -> bool {
        self.task.cancel_with_message(msg)
    }

    /// The exception, `None` if the task returned `Ok`. `Err(Cancelled)` when cancelled,
    /// `Err(InvalidState)` when not done.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let task = sandloop::create_task(async { Err::<(), _>(sandloop::Error::Timeout) });
    ///     let _ = task.clone().await;
    ///     assert!(matches!(task.exception(), Ok(Some(sandloop::Error::Timeout))));
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn exception(&self) -> Result<Option<Error>> {
        self.result.exception()
    }

    /// The task's name.
    pub fn get_name(&self) -> String {
        self.task.get_name()
    }

    /// Renames the task.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let task = sandloop::create_task(async {});
    ///     assert!(task.get_name().starts_with("Task-"));
    ///     task.set_name("poller");
    ///     assert_eq!(task.get_name(), "poller");
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn set_name(&self, name: impl Into<String>) {
        self.task.set_name(name)
    }

    /// The context the task runs in.
    pub fn get_context(&self) -> Context {
        self.task.get_context()
    }

    /// The loop the task runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.task.get_loop()
    }

    /// Calls `cb` with the task once it is done (scheduled with `call_soon`).
    ///
    /// asyncio: `task.add_done_callback(cb)`.
    ///
    /// ```
    /// # sandloop::run(async {
    /// let task = sandloop::create_task(async { Ok::<_, sandloop::Error>(1) });
    /// task.add_done_callback(|t| println!("{} finished: {:?}", t.get_name(), t.result()));
    /// task.await?;
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
    ///
    /// ```
    /// # sandloop::run(async {
    /// struct NotClone(u8);
    /// let task = sandloop::create_task(async { Ok::<_, sandloop::Error>(NotClone(1)) });
    /// let NotClone(n) = task.join().await?;
    /// assert_eq!(n, 1);
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
    ///
    /// ```
    /// # sandloop::run(async {
    /// let task = sandloop::create_task(async { Ok::<_, sandloop::Error>("x") });
    /// let _ = task.clone().await;
    /// assert_eq!(task.result()?, "x"); // read again, as asyncio's task.result()
    /// # Ok::<_, sandloop::Error>(())
    /// # })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
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
        self.task.fmt(f)
    }
}

/// A task's view of its result future, whatever the result type.
impl<T: 'static> Slot for FutureInner<T> {
    fn done(&self) -> bool {
        FutureInner::done(self)
    }
    fn cancelled(&self) -> bool {
        FutureInner::cancelled(self)
    }
    fn finish_cancelled(self: Rc<Self>, msg: Option<String>) {
        Future { inner: self }.finish_cancelled(msg)
    }
    fn set_owner(&self, task: OwningTask, name: TaskName) {
        FutureInner::set_owner(self, task, name);
    }
    fn set_task_name(&self, name: TaskName) {
        FutureInner::set_task_name(self, name);
    }
    fn same_as(&self, other: *const ()) -> bool {
        std::ptr::eq(self as *const Self as *const (), other)
    }
    fn exception(self: Rc<Self>) -> Result<Option<Error>> {
        Future { inner: self }.exception()
    }
    fn poll_done(self: Rc<Self>, cx: &mut std::task::Context<'_>, as_waiter: bool) -> Poll<()> {
        Future { inner: self }.poll_done(cx, as_waiter)
    }
}

/// The running loop's tasks that are not done (asyncio's `all_tasks()`).
///
/// ```
/// # sandloop::run(async {
/// sandloop::create_task(async {});
/// let names: Vec<String> = sandloop::all_tasks()?.iter().map(|t| t.get_name()).collect();
/// println!("{names:?}"); // the main task and the new one
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub fn all_tasks() -> Result<Vec<TaskRef>> {
    Ok(events::get_running_loop()?.all_tasks())
}

/// Creates a task on the running loop (asyncio's `asyncio.create_task`).
///
/// # Panics
/// When no loop is running (asyncio raises `RuntimeError`).
///
/// ```
/// sandloop::run(async {
///     let a = sandloop::create_task(async { Ok::<_, sandloop::Error>(1) });
///     let b = sandloop::create_task(async { Ok::<_, sandloop::Error>(2) });
///     assert_eq!(a.await? + b.await?, 3);
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
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

/// [`crate::EventLoop::spawn`] on the running loop: a task whose result is `fut`'s output
/// as it is, of any type (tokio's `spawn`).
///
/// # Panics
/// When no loop is running (asyncio raises `RuntimeError`).
#[track_caller]
pub fn spawn<F>(fut: F) -> Task<F::Output>
where
    F: std::future::IntoFuture + 'static,
    F::Output: 'static,
{
    match events::get_running_loop() {
        Ok(lp) => lp.spawn(fut),
        Err(_) => panic!("RuntimeError: spawn() needs a running event loop"),
    }
}

// ---- sleep -------------------------------------------------------------------------------

/// Suspends the current task for `delay` (asyncio's `asyncio.sleep`). A zero delay yields
/// to the loop once. `Err(Runtime)` outside a running loop.
///
/// asyncio: `await asyncio.sleep(0.05)`.
///
/// ```
/// use std::time::Duration;
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let start = lp.time();
///     sandloop::sleep(Duration::from_millis(500)).await?;
///     assert!(lp.time() - start >= 0.5);
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
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
