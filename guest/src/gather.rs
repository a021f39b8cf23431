//! Waiting for many awaitables: `gather`, `wait`, `shield` (asyncio's `tasks.py` helpers).

use std::future::{IntoFuture, poll_fn};
use std::task::Poll;
use std::time::Duration;

use crate::base_tasks::TaskRef;
use crate::error::{Error, IntoResult, Result};
use crate::events;
use crate::tasks::{CancelTimerOnDrop, Task};

/// Runs the awaitables concurrently (each in its own task) and returns their results in
/// order, asyncio's `gather(*aws)`.
///
/// The first error (in order of the awaitables) is returned as soon as it is seen; the other
/// tasks keep running, as in asyncio. If the awaiting task is cancelled while gathering,
/// every child still pending is cancelled.
///
/// # Panics
/// When no loop is running.
///
/// asyncio: `results = await asyncio.gather(a, b, c)`.
///
/// ```
/// use std::time::Duration;
/// sandloop::run(async {
///     let delays = [30, 10, 20];
///     let results = sandloop::gather(delays.map(|ms| async move {
///         sandloop::sleep(Duration::from_millis(ms)).await?;
///         Ok::<_, sandloop::Error>(ms)
///     }))
///     .await?;
///     assert_eq!(results, [30, 10, 20]); // in the order given, not of completion
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn gather<I>(aws: I) -> Result<Vec<<<I::Item as IntoFuture>::Output as IntoResult>::Ok>>
where
    I: IntoIterator,
    I::Item: IntoFuture + 'static,
    <I::Item as IntoFuture>::Output: IntoResult,
{
    let mut guard = CancelChildren(spawn_all(aws));
    let children = &guard.0;
    poll_fn(|cx| {
        let mut all_done = true;
        for child in children.iter() {
            if child.poll_done(cx, true).is_pending() {
                all_done = false;
            } else if !matches!(child.exception(), Ok(None)) {
                return Poll::Ready(());
            }
        }
        if all_done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let children = std::mem::take(&mut guard.0);
    let mut results = Vec::with_capacity(children.len());
    for child in &children {
        if child.done()
            && let Err(e) = child.exception().and_then(|e| e.map_or(Ok(()), Err))
        {
            // The other children keep running and nobody will look at them again: their
            // errors are not "never retrieved" (asyncio marks them retrieved too).
            for other in &children {
                other.retrieve_exception_when_done();
            }
            return Err(e);
        }
    }
    for child in children {
        results.push(child.take_result()?);
    }
    Ok(results)
}

/// [`gather`] with `return_exceptions=True`: waits for every awaitable and returns each
/// outcome, errors included, in order.
///
/// ```
/// # sandloop::run(async {
/// let outcomes = sandloop::gather_settled([1, 0].map(|n| async move {
///     if n == 0 {
///         return Err(sandloop::Error::Timeout);
///     }
///     Ok(n)
/// }))
/// .await;
/// assert!(matches!(outcomes[..], [Ok(1), Err(sandloop::Error::Timeout)]));
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn gather_settled<I>(
    aws: I,
) -> Vec<Result<<<I::Item as IntoFuture>::Output as IntoResult>::Ok>>
where
    I: IntoIterator,
    I::Item: IntoFuture + 'static,
    <I::Item as IntoFuture>::Output: IntoResult,
{
    let mut guard = CancelChildren(spawn_all(aws));
    let children = &guard.0;
    poll_fn(|cx| {
        let pending = children
            .iter()
            .filter(|c| c.poll_done(cx, true).is_pending())
            .count();
        if pending == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    std::mem::take(&mut guard.0)
        .into_iter()
        .map(|c| c.take_result())
        .collect()
}

fn spawn_all<I>(aws: I) -> Vec<Task<<<I::Item as IntoFuture>::Output as IntoResult>::Ok>>
where
    I: IntoIterator,
    I::Item: IntoFuture + 'static,
    <I::Item as IntoFuture>::Output: IntoResult,
{
    let lp = events::get_running_loop().expect("RuntimeError: gather() needs a running event loop");
    aws.into_iter().map(|aw| lp.create_task(aw)).collect()
}

/// Cancels the children still pending when a gather is abandoned (its task was cancelled);
/// an error a child ended with meanwhile is not reported as never retrieved.
struct CancelChildren<T: 'static>(Vec<Task<T>>);

impl<T: 'static> Drop for CancelChildren<T> {
    fn drop(&mut self) {
        for child in &self.0 {
            child.cancel();
            child.retrieve_exception_when_done();
        }
    }
}

/// Protects `aw` from cancellation, asyncio's `shield()`: it runs in its own task, and
/// cancelling the task that awaits the shield does not cancel it.
///
/// # Panics
/// When no loop is running.
///
/// asyncio: `await asyncio.shield(aw)`: here a timeout gives up waiting, but the save goes on.
///
/// ```
/// use std::time::Duration;
/// # sandloop::run(async {
/// let save = async {
///     sandloop::sleep(Duration::from_millis(200)).await?;
///     println!("saved");
///     Ok::<_, sandloop::Error>(())
/// };
/// let waited = sandloop::timeout(Duration::from_millis(50), sandloop::shield(save)).await;
/// assert!(matches!(waited, Err(sandloop::Error::Timeout)));
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn shield<F>(aw: F) -> Result<<F::Output as IntoResult>::Ok>
where
    F: IntoFuture + 'static,
    F::Output: IntoResult,
{
    let lp = events::get_running_loop().expect("RuntimeError: shield() needs a running event loop");
    let mut guard = Shielded(Some(lp.create_task(aw)));
    let inner = guard.0.clone().expect("set just above");
    poll_fn(|cx| inner.poll_done(cx, false)).await;
    guard.0 = None;
    inner.take_result()
}

/// The shielded task while somebody waits for it. If the waiter goes away (it was
/// cancelled), the task runs on unobserved; as in asyncio, its error is then not reported as
/// never retrieved.
struct Shielded<T: 'static>(Option<Task<T>>);

impl<T: 'static> Drop for Shielded<T> {
    fn drop(&mut self) {
        if let Some(inner) = &self.0 {
            inner.retrieve_exception_when_done();
        }
    }
}

/// When [`wait`] returns, asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`.
///
/// ```
/// use std::time::Duration;
/// use sandloop::ReturnWhen;
/// sandloop::run(async {
///     let fails = sandloop::create_task(async {
///         Err::<(), _>(sandloop::Error::Timeout)
///     });
///     let slow = sandloop::create_task(sandloop::sleep(Duration::from_secs(60)));
///     let (done, pending) =
///         sandloop::wait(vec![fails, slow], None, ReturnWhen::FirstException).await?;
///     assert_eq!((done.len(), pending.len()), (1, 1));
///     assert!(done[0].exception()?.is_some());
///     pending[0].cancel();
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task is done.
    FirstCompleted,
    /// As soon as any task fails (or all are done).
    FirstException,
    /// When all tasks are done.
    #[default]
    AllCompleted,
}

/// Waits for tasks, asyncio's `wait()`: returns `(done, pending)` when `return_when` is met or
/// `timeout` passes. Nothing is cancelled.
///
/// asyncio: `done, pending = await asyncio.wait(tasks, timeout=1, return_when=FIRST_COMPLETED)`.
///
/// ```
/// use std::time::Duration;
/// use sandloop::ReturnWhen;
/// # sandloop::run(async {
/// let tasks: Vec<_> = [10u64, 5000]
///     .into_iter()
///     .map(|ms| sandloop::create_task(sandloop::sleep(Duration::from_millis(ms))))
///     .collect();
/// let (done, pending) =
///     sandloop::wait(tasks, Some(Duration::from_secs(1)), ReturnWhen::FirstCompleted).await?;
/// assert_eq!((done.len(), pending.len()), (1, 1));
/// pending[0].cancel(); // wait cancels nothing itself
/// # Ok::<_, sandloop::Error>(())
/// # })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn wait<T: 'static>(
    tasks: Vec<Task<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Result<(Vec<Task<T>>, Vec<Task<T>>)> {
    if tasks.is_empty() {
        return Err(Error::runtime("Set of awaitables is empty."));
    }
    let lp = events::get_running_loop()?;
    let deadline = lp.create_future::<()>();
    let _timer = timeout.map(|t| {
        let d = deadline.clone();
        CancelTimerOnDrop(lp.call_later(t, move || {
            let _ = d.set_result(());
        }))
    });
    // Only FIRST_EXCEPTION looks at exceptions (and so marks them retrieved, as asyncio's
    // `f.exception()` does); a cancelled task is not a failed one.
    let failed = |task: &Task<T>| !task.cancelled() && matches!(task.exception(), Ok(Some(_)));
    poll_fn(|cx| {
        if deadline.poll_done(cx, false).is_ready() {
            return Poll::Ready(());
        }
        let mut done = 0;
        for task in &tasks {
            if task.poll_done(cx, false).is_ready() {
                done += 1;
                if return_when == ReturnWhen::FirstCompleted
                    || (return_when == ReturnWhen::FirstException && failed(task))
                {
                    return Poll::Ready(());
                }
            }
        }
        if done == tasks.len() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    Ok(tasks.into_iter().partition(|t| t.done()))
}

/// Waits until `task` is done, without taking its result or cancelling it.
pub(crate) async fn wait_done(task: &TaskRef) {
    poll_fn(|cx| task.poll_done(cx, false)).await
}
