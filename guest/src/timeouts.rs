//! Deadlines: `wait_for`, `timeout` and `timeout_at` (the awaitable runs inside the current
//! task), asyncio's `wait_for` and `timeout()`.

use std::future::{Future as _, IntoFuture, poll_fn};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::base_tasks;
use crate::error::{Error, IntoResult, Result};
use crate::events;
use crate::tasks::CancelTimerOnDrop;

/// Waits for `aw` at most `timeout` (`None`: no limit), asyncio's `wait_for`.
///
/// As asyncio does since 3.12, this is [`timeout`] around `aw`: `aw` runs inside the
/// current task (no task is created), so it may borrow from the caller (it need not be
/// `'static`). When the timeout passes, `aw` is dropped (Rust's cancellation), what it was
/// awaiting (a task, a future) is cancelled, and the result is `Err(Error::Timeout)`; an
/// `aw` that is ready when the deadline passes gives its result. If the awaiting task is
/// cancelled, so is `aw`.
///
/// ```no_run
/// # async fn f() -> sandloop::Result<()> {
/// use std::time::Duration;
/// let slow = sandloop::sleep(Duration::from_secs(10));
/// let r = sandloop::wait_for(slow, Duration::from_millis(10)).await;
/// assert!(matches!(r, Err(sandloop::Error::Timeout)));
/// let names = vec!["a", "b"];
/// let count = sandloop::wait_for(async { names.len() }, Duration::from_secs(1)).await?;
/// # Ok(()) }
/// ```
pub async fn wait_for<F>(
    aw: F,
    timeout: impl Into<Option<Duration>>,
) -> Result<<F::Output as IntoResult>::Ok>
where
    F: IntoFuture,
    F::Output: IntoResult,
{
    self::timeout(timeout, aw).await
}

/// Runs `aw` inside the current task with a deadline `delay` from now (`None`: no limit),
/// asyncio's `async with asyncio.timeout(delay)`.
///
/// When the deadline passes first, `aw` is dropped (Rust's cancellation), what it was
/// awaiting is cancelled (as asyncio cancels the task, and with it the future the task
/// waits on), and the result is `Err(Error::Timeout)`. No task is created.
///
/// ```no_run
/// # async fn f() -> sandloop::Result<()> {
/// use std::time::Duration;
/// let r = sandloop::timeout(Duration::from_millis(10), sandloop::sleep(Duration::from_secs(5))).await;
/// assert!(matches!(r, Err(sandloop::Error::Timeout)));
/// # Ok(()) }
/// ```
pub async fn timeout<F>(
    delay: impl Into<Option<Duration>>,
    aw: F,
) -> Result<<F::Output as IntoResult>::Ok>
where
    F: IntoFuture,
    F::Output: IntoResult,
{
    let lp = events::get_running_loop()?;
    let when = delay.into().map(|d| lp.time() + d.as_secs_f64());
    timeout_at(when, aw).await
}

/// [`timeout`] with an absolute deadline on the loop clock ([`crate::EventLoop::time`]),
/// asyncio's `timeout_at(when)`.
///
/// ```
/// use std::time::Duration;
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let deadline = lp.time() + 0.05;
///     let r = sandloop::timeout_at(deadline, sandloop::sleep(Duration::from_secs(5))).await;
///     assert!(matches!(r, Err(sandloop::Error::Timeout)));
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub async fn timeout_at<F>(
    when: impl Into<Option<f64>>,
    aw: F,
) -> Result<<F::Output as IntoResult>::Ok>
where
    F: IntoFuture,
    F::Output: IntoResult,
{
    let lp = events::get_running_loop()?;
    let mut aw = pin!(aw.into_future());
    let Some(when) = when.into() else {
        return aw.await.into_result();
    };
    let deadline = lp.create_future::<()>();
    let setter = deadline.clone();
    let _timer = CancelTimerOnDrop(lp.call_at(when, move || {
        let _ = setter.set_result(());
    }));
    poll_fn(|cx| {
        if let Poll::Ready(out) = aw.as_mut().poll(cx) {
            return Poll::Ready(out.into_result());
        }
        if deadline.poll_done(cx, false).is_ready() {
            base_tasks::cancel_current_waiter();
            return Poll::Ready(Err(Error::Timeout));
        }
        Poll::Pending
    })
    .await
}
