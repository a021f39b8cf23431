//! `Future<T>`: a result that will be set later, asyncio's `asyncio.Future`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Poll, Waker};

use crate::base_tasks::{self, OwningTask, TaskName, Waitable};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::exception_handler::ExceptionContext;

/// The identity of a done callback, for [`Future::remove_done_callback`] (Rust closures
/// cannot be compared the way Python functions are).
///
/// ```
/// # sandloop::run(async {
/// let fut = sandloop::get_running_loop()?.create_future::<()>();
/// let id = fut.add_done_callback(|_| println!("done"));
/// assert_eq!(fut.remove_done_callback(id), 1);
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CallbackId(u64);

enum State<T> {
    Pending,
    Finished(T),
    Failed(Error),
    Cancelled(Option<String>),
    /// The result was moved out by its only reader (`run_until_complete`, `wait_for`).
    Taken,
}

/// A done callback as stored until the future is done.
type DoneFn<T> = Box<dyn FnOnce(&Future<T>)>;

struct DoneCallback<T> {
    id: CallbackId,
    callback: DoneFn<T>,
    /// The context the callback runs in: the given one, or a copy of the one current at
    /// registration.
    context: Context,
}

/// The tasks awaiting a future, in the order they started to. Nearly always one, kept
/// inline: awaiting a future allocates nothing.
#[derive(Default)]
struct Wakers {
    first: Option<Waker>,
    more: Vec<Waker>,
}

impl Wakers {
    /// Adds `waker` unless it would wake a task already waiting.
    fn add(&mut self, waker: &Waker) {
        match &self.first {
            None => self.first = Some(waker.clone()),
            Some(first) if first.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    fn wake_all(self) {
        self.first
            .into_iter()
            .chain(self.more)
            .for_each(Waker::wake);
    }
}

pub(crate) struct FutureInner<T> {
    lp: EventLoop,
    state: RefCell<State<T>>,
    callbacks: RefCell<Vec<DoneCallback<T>>>,
    wakers: RefCell<Wakers>,
    next_callback_id: Cell<u64>,
    /// An exception nobody retrieved is reported when the future is dropped.
    log_traceback: Cell<bool>,
    /// Set when this future holds a task's result: cancelling it cancels the task.
    owner: RefCell<Option<OwningTask>>,
    task_name: RefCell<Option<TaskName>>,
}

/// A result that will be set later, asyncio's `asyncio.Future`. Awaiting it gives the result
/// (`Ok`), the exception (`Err`), or `Err(Error::Cancelled)`.
///
/// Cheap to clone: clones share the same result.
///
/// asyncio: `fut = loop.create_future()`, `fut.set_result(v)`, `await fut`.
///
/// ```
/// sandloop::run(async {
///     let fut = sandloop::get_running_loop()?.create_future::<String>();
///     let setter = fut.clone();
///     sandloop::create_task(async move { setter.set_result("ready".to_string()) });
///     assert_eq!(fut.await?, "ready");
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct Future<T> {
    pub(crate) inner: Rc<FutureInner<T>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Future<T> {
        Future {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Future<T> {
    pub(crate) fn new(lp: EventLoop) -> Future<T> {
        Future {
            inner: Rc::new(FutureInner {
                lp,
                state: RefCell::new(State::Pending),
                callbacks: RefCell::new(Vec::new()),
                wakers: RefCell::new(Wakers::default()),
                next_callback_id: Cell::new(0),
                log_traceback: Cell::new(false),
                owner: RefCell::new(None),
                task_name: RefCell::new(None),
            }),
        }
    }

    /// The loop the future belongs to.
    pub fn get_loop(&self) -> EventLoop {
        self.inner.lp.clone()
    }

    /// `true` once a result or an exception is set, or the future is cancelled.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<u8>();
    /// assert!(!fut.done());
    /// fut.set_result(1)?;
    /// assert!(fut.done() && fut.result()? == 1);
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn done(&self) -> bool {
        self.inner.done()
    }

    /// `true` once cancelled.
    pub fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }

    /// Sets the result and schedules the done callbacks.
    ///
    /// `Err(InvalidState)` when the future is done already; `Err(Runtime)` on a task's
    /// future (a task sets its own result).
    ///
    /// asyncio: `fut.set_result(value)`; a second set is an error, as in asyncio.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<u8>();
    /// fut.set_result(1)?;
    /// assert!(matches!(fut.set_result(2), Err(sandloop::Error::InvalidState(_))));
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn set_result(&self, value: T) -> Result<()> {
        self.check_settable()?;
        self.complete(State::Finished(value));
        Ok(())
    }

    /// Sets the exception and schedules the done callbacks.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<u8>();
    /// fut.set_exception(sandloop::Error::Timeout)?;
    /// assert!(matches!(fut.exception(), Ok(Some(sandloop::Error::Timeout))));
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn set_exception(&self, err: Error) -> Result<()> {
        self.check_settable()?;
        self.inner.log_traceback.set(true);
        self.complete(State::Failed(err));
        Ok(())
    }

    fn check_settable(&self) -> Result<()> {
        if self.inner.owner.borrow().is_some() {
            return Err(Error::runtime("Task does not support setting its result"));
        }
        if self.done() {
            return Err(Error::invalid_state(self.describe()));
        }
        Ok(())
    }

    /// Cancels the future: `false` if it is done already.
    ///
    /// asyncio: `fut.cancel()`; whoever awaits gets `Err(Error::Cancelled)`.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<u8>();
    /// assert!(fut.cancel());
    /// assert!(fut.cancelled());
    /// assert!(fut.result().unwrap_err().is_cancelled());
    /// assert!(!fut.cancel()); // done already
    /// ```
    pub fn cancel(&self) -> bool {
        self.cancel_with(None)
    }

    /// Cancels with a message that [`Error::Cancelled`] carries to whoever awaits.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<()>();
    /// fut.cancel_with_message("shutting down");
    /// let err = fut.result().unwrap_err();
    /// assert!(matches!(err, sandloop::Error::Cancelled(Some(m)) if m == "shutting down"));
    /// ```
    pub fn cancel_with_message(&self, msg: impl Into<String>) -> bool {
        self.cancel_with(Some(msg.into()))
    }

    fn cancel_with(&self, msg: Option<String>) -> bool {
        let owner = self.inner.owner.borrow().clone();
        if let Some(cancelled) = owner.and_then(|task| task.cancel(msg.clone())) {
            return cancelled;
        }
        if self.done() {
            return false;
        }
        self.complete(State::Cancelled(msg));
        true
    }

    /// Marks a task's future cancelled (the task itself calls this).
    pub(crate) fn finish_cancelled(&self, msg: Option<String>) {
        if !self.done() {
            self.complete(State::Cancelled(msg));
        }
    }

    /// Stores a task's outcome: `Err(Cancelled)` means the task was cancelled. A task whose
    /// coroutine returns `Ok` after a cancellation was requested (it cancelled itself and
    /// returned before its next step) ends cancelled, as in asyncio.
    pub(crate) fn finish(&self, outcome: Result<T>) {
        if self.done() {
            return;
        }
        let owner = self.inner.owner.borrow().clone();
        if let (Ok(_), Some(msg)) = (&outcome, owner.and_then(|task| task.pending_cancel())) {
            self.complete(State::Cancelled(msg));
            return;
        }
        match outcome {
            Ok(v) => self.complete(State::Finished(v)),
            Err(Error::Cancelled(msg)) => self.complete(State::Cancelled(msg)),
            Err(e) => {
                self.inner.log_traceback.set(true);
                self.complete(State::Failed(e))
            }
        }
    }

    fn complete(&self, state: State<T>) {
        *self.inner.state.borrow_mut() = state;
        self.schedule_callbacks();
    }

    /// Schedules every done callback with `call_soon` and wakes every awaiting task.
    fn schedule_callbacks(&self) {
        let callbacks = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        let wakers = std::mem::take(&mut *self.inner.wakers.borrow_mut());
        let lp = &self.inner.lp;
        if !lp.is_closed() {
            for cb in callbacks {
                let fut = self.clone();
                let callback = cb.callback;
                lp.call_soon_with_context(move || callback(&fut), &cb.context);
            }
        }
        wakers.wake_all();
    }

    /// The exception, or `None` if a result is set. `Err(Cancelled)` when cancelled,
    /// `Err(InvalidState)` when not done.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<u8>();
    /// fut.set_result(3)?;
    /// assert!(fut.exception()?.is_none()); // a result, no exception
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn exception(&self) -> Result<Option<Error>> {
        match &*self.inner.state.borrow() {
            State::Pending => Err(Error::invalid_state("Exception is not set.")),
            State::Cancelled(msg) => Err(Error::Cancelled(msg.clone())),
            State::Failed(e) => {
                self.inner.log_traceback.set(false);
                Ok(Some(e.clone()))
            }
            State::Finished(_) | State::Taken => Ok(None),
        }
    }

    /// Calls `cb` with the future once it is done (through `call_soon`, in a copy of the
    /// context current now, at registration, as asyncio does); right away (scheduled) if it
    /// is done already.
    ///
    /// asyncio: `fut.add_done_callback(cb)`.
    ///
    /// ```
    /// let lp = sandloop::new_event_loop();
    /// let fut = lp.create_future::<u32>();
    /// let stopper = lp.clone();
    /// fut.add_done_callback(move |f| {
    ///     println!("result: {:?}", f.result());
    ///     stopper.stop();
    /// });
    /// fut.set_result(3)?;
    /// lp.run_forever()?; // runs the callback, which stops the loop
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn add_done_callback(&self, cb: impl FnOnce(&Future<T>) + 'static) -> CallbackId {
        self.add_done_callback_inner(Box::new(cb), Context::copy_current())
    }

    /// [`Future::add_done_callback`] with the callback running in `ctx`.
    pub fn add_done_callback_with_context(
        &self,
        cb: impl FnOnce(&Future<T>) + 'static,
        ctx: &Context,
    ) -> CallbackId {
        self.add_done_callback_inner(Box::new(cb), ctx.clone())
    }

    fn add_done_callback_inner(&self, callback: DoneFn<T>, context: Context) -> CallbackId {
        let id = CallbackId(self.inner.next_callback_id.get());
        self.inner.next_callback_id.set(id.0 + 1);
        if self.done() {
            let fut = self.clone();
            self.inner
                .lp
                .call_soon_with_context(move || callback(&fut), &context);
        } else {
            self.inner.callbacks.borrow_mut().push(DoneCallback {
                id,
                callback,
                context,
            });
        }
        id
    }

    /// Removes a done callback that has not been scheduled yet; returns how many were removed.
    pub fn remove_done_callback(&self, id: CallbackId) -> usize {
        let mut callbacks = self.inner.callbacks.borrow_mut();
        let before = callbacks.len();
        callbacks.retain(|cb| cb.id != id);
        before - callbacks.len()
    }

    /// Moves the result out (for the single reader that owns the future).
    pub(crate) fn take_result(&self) -> Result<T> {
        let state = std::mem::replace(&mut *self.inner.state.borrow_mut(), State::Taken);
        match state {
            State::Finished(v) => Ok(v),
            State::Failed(e) => {
                self.inner.log_traceback.set(false);
                Err(e)
            }
            State::Cancelled(msg) => {
                *self.inner.state.borrow_mut() = State::Cancelled(msg.clone());
                Err(Error::Cancelled(msg))
            }
            State::Pending => {
                *self.inner.state.borrow_mut() = State::Pending;
                Err(Error::invalid_state("Result is not set."))
            }
            State::Taken => Err(Error::invalid_state("Result was already taken.")),
        }
    }

    /// A description for logs, asyncio's `repr(fut)`.
    pub(crate) fn describe(&self) -> String {
        let state = match &*self.inner.state.borrow() {
            State::Pending => "pending".to_string(),
            State::Finished(_) | State::Taken => "finished".to_string(),
            State::Failed(e) => format!("finished exception={e:#?}"),
            State::Cancelled(_) => "cancelled".to_string(),
        };
        match &*self.inner.task_name.borrow() {
            Some(name) => format!("<Task {state} name='{name}'>"),
            None => format!("<Future {state}>"),
        }
    }

    /// `Ready` once done; otherwise registers the waker (and, with `as_waiter`, tells the
    /// current task that it waits on this future, so cancelling the task cancels it).
    pub(crate) fn poll_done(&self, cx: &mut std::task::Context<'_>, as_waiter: bool) -> Poll<()> {
        if self.done() {
            return Poll::Ready(());
        }
        self.add_waker(cx);
        if as_waiter {
            base_tasks::current_task_waits_on(self.inner.clone());
        }
        Poll::Pending
    }

    fn add_waker(&self, cx: &std::task::Context<'_>) {
        self.inner.wakers.borrow_mut().add(cx.waker());
    }
}

impl<T: Clone + 'static> Future<T> {
    /// The result: `Ok(value)`, the exception as `Err`, `Err(Cancelled)`, or
    /// `Err(InvalidState)` when not done.
    ///
    /// ```
    /// let fut = sandloop::new_event_loop().create_future::<&str>();
    /// assert!(matches!(fut.result(), Err(sandloop::Error::InvalidState(_)))); // not done yet
    /// fut.set_result("ok")?;
    /// assert_eq!(fut.result()?, "ok");
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn result(&self) -> Result<T> {
        match &*self.inner.state.borrow() {
            State::Pending => Err(Error::invalid_state("Result is not set.")),
            State::Finished(v) => Ok(v.clone()),
            State::Failed(e) => {
                self.inner.log_traceback.set(false);
                Err(e.clone())
            }
            State::Cancelled(msg) => Err(Error::Cancelled(msg.clone())),
            State::Taken => Err(Error::invalid_state("Result was already taken.")),
        }
    }
}

impl<T: Clone + 'static> std::future::Future for Future<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Result<T>> {
        if self.done() {
            return Poll::Ready(self.result());
        }
        let owner = self.inner.owner.borrow().clone();
        if let Err(problem) =
            base_tasks::await_in_current_task(self.inner.clone(), &self.inner.lp, owner.as_ref())
        {
            return Poll::Ready(Err(Error::runtime(format!(
                "{problem}: {}",
                self.describe()
            ))));
        }
        self.add_waker(cx);
        Poll::Pending
    }
}

impl<T: 'static> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl<T> FutureInner<T> {
    /// `true` once a result or an exception is set, or the future is cancelled.
    pub(crate) fn done(&self) -> bool {
        !matches!(*self.state.borrow(), State::Pending)
    }

    /// `true` once cancelled.
    pub(crate) fn cancelled(&self) -> bool {
        matches!(*self.state.borrow(), State::Cancelled(_))
    }

    /// Makes this future the result of `task`, named `name`: cancelling it cancels the
    /// task, and it reports itself as the task.
    pub(crate) fn set_owner(&self, task: OwningTask, name: TaskName) {
        *self.owner.borrow_mut() = Some(task);
        *self.task_name.borrow_mut() = Some(name);
    }

    /// The owning task was renamed.
    pub(crate) fn set_task_name(&self, name: TaskName) {
        *self.task_name.borrow_mut() = Some(name);
    }
}

impl<T: 'static> Waitable for FutureInner<T> {
    fn cancel_waitable(self: Rc<Self>, msg: Option<String>) -> bool {
        Future { inner: self }.cancel_with(msg)
    }
}

impl<T> Drop for FutureInner<T> {
    fn drop(&mut self) {
        if !self.log_traceback.get() {
            return;
        }
        if let State::Failed(e) = &*self.state.borrow() {
            let name = self.task_name.borrow();
            let (what, future) = match &*name {
                Some(n) => (
                    "Task",
                    format!("<Task finished name='{n}' exception={e:#?}>"),
                ),
                None => ("Future", format!("<Future finished exception={e:#?}>")),
            };
            self.lp.call_exception_handler(&ExceptionContext {
                message: format!("{what} exception was never retrieved"),
                exception: Some(e.clone()),
                future: Some(future),
                ..Default::default()
            });
        }
    }
}
