//! `sandloop::run`, asyncio's `asyncio.run()`.

use std::future::IntoFuture;

use crate::error::{Error, IntoResult, Result};
use crate::events;
use crate::events::EventLoop;
use crate::exception_handler::ExceptionContext;

/// How long `run` waits for the default executor's running jobs (asyncio's
/// `THREAD_JOIN_TIMEOUT`).
#[cfg(feature = "host-reactor")]
const EXECUTOR_JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs `main` on a new loop and closes the loop afterwards, asyncio's `asyncio.run()`.
///
/// The new loop becomes the thread's current loop while it runs. When `main` completes,
/// the tasks still pending are cancelled and awaited, registered async generators are
/// closed, the default executor is shut down (its running jobs get 300 s), and the loop is
/// closed. `Err(Runtime)` when called from a running loop.
///
/// ```no_run
/// use std::time::Duration;
/// let answer = sandloop::run(async {
///     sandloop::sleep(Duration::from_millis(10)).await?;
///     Ok::<_, sandloop::Error>(42)
/// });
/// assert_eq!(answer.unwrap(), 42);
/// ```
pub fn run<F>(main: F) -> Result<<F::Output as IntoResult>::Ok>
where
    F: IntoFuture + 'static,
    F::Output: IntoResult,
{
    if events::get_running_loop().is_ok() {
        return Err(Error::runtime(
            "sandloop::run() cannot be called from a running event loop",
        ));
    }
    // A loop from the policy, as asyncio.run makes one with `events.new_event_loop()`.
    let lp = events::new_event_loop();
    events::set_event_loop(Some(lp.clone()));
    let result = lp.run_until_complete(main);
    cancel_all_tasks(&lp);
    let agens = lp.run_until_complete({
        let lp = lp.clone();
        async move { lp.shutdown_asyncgens().await }
    });
    #[cfg(feature = "host-reactor")]
    let executor = lp.run_until_complete({
        let lp = lp.clone();
        async move {
            lp.shutdown_default_executor(Some(EXECUTOR_JOIN_TIMEOUT))
                .await
        }
    });
    events::set_event_loop(None);
    let closed = lp.close();
    let value = result?;
    agens?;
    #[cfg(feature = "host-reactor")]
    executor?;
    closed?;
    Ok(value)
}

/// Cancels every pending task and runs the loop until they are all done, reporting the
/// errors of tasks that failed instead of finishing cancelled (asyncio's `_cancel_all_tasks`).
fn cancel_all_tasks(lp: &EventLoop) {
    let tasks = lp.all_tasks();
    if tasks.is_empty() {
        return;
    }
    for task in &tasks {
        task.cancel();
    }
    let waiting = tasks.clone();
    let _ = lp.run_until_complete(async move {
        for task in waiting {
            crate::gather::wait_done(&task).await;
        }
    });
    for task in tasks {
        if !task.cancelled()
            && let Ok(Some(e)) = task.exception()
        {
            lp.call_exception_handler(&ExceptionContext {
                message: "unhandled exception during sandloop::run() shutdown".into(),
                exception: Some(e),
                task: Some(task.clone()),
                ..Default::default()
            });
        }
    }
}
