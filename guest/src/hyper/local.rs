//! [`local`]: a sandloop future made `Send`, for APIs that ask for `Send` futures (axum's
//! handlers) on a loop that runs everything on one thread.
//!
//! sandloop's futures hold `Rc`s and are not `Send`. axum's `Handler` wants `Send` futures
//! because multi-threaded runtimes may move a task between threads; on sandloop no task
//! ever leaves the loop's thread. [`Local`] wraps a future in `send_wrapper`'s
//! `SendWrapper`, which is `Send` and checks on every poll and on drop that it is on the
//! thread that made it, panicking otherwise. Soundness does not rest on the target having
//! one thread: a `Local` moved to another thread can still be moved back, but it can
//! never be polled or dropped there, so the `Rc`s inside are only touched from their own
//! thread (the argument `send_wrapper` makes, with its `unsafe` kept inside that crate).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskCx, Poll};

use send_wrapper::SendWrapper;

/// Makes `fut` `Send` so an axum handler (or any API that wants `Send` futures) can await
/// sandloop futures: `sandloop::hyper::local(sandloop::sleep(d)).await`.
///
/// # Panics
/// The returned future panics when polled or dropped on another thread than the one that
/// called `local` (see the [module docs](super#the-send-story)).
///
/// ```no_run
/// use std::time::Duration;
/// use sandloop::hyper::local;
///
/// async fn handler() -> &'static str {
///     local(sandloop::sleep(Duration::from_millis(10))).await.ok();
///     "slept"
/// }
/// fn assert_send<F: Future + Send>(_: F) {}
/// assert_send(handler());
/// ```
pub fn local<F: Future>(fut: F) -> Local<F> {
    Local {
        inner: Box::pin(SendWrapper::new(fut)),
    }
}

/// `.local()` on any future: the method form of [`local`].
///
/// ```no_run
/// use std::time::Duration;
/// use sandloop::hyper::LocalExt;
///
/// # async fn demo() -> sandloop::Result<()> {
/// sandloop::sleep(Duration::from_millis(10)).local().await?;
/// # Ok(())
/// # }
/// ```
pub trait LocalExt: Future + Sized {
    /// This future made `Send` with [`local`].
    fn local(self) -> Local<Self> {
        local(self)
    }
}

impl<F: Future> LocalExt for F {}

/// A future made `Send` by [`local`]; it resolves to what the wrapped future does.
///
/// ```no_run
/// use std::time::Duration;
/// fn assert_send<F: Send>(_: &F) {}
/// # async fn demo() -> sandloop::Result<()> {
/// let sleep = sandloop::hyper::local(sandloop::sleep(Duration::from_millis(10)));
/// assert_send(&sleep); // what axum asks of a handler's future
/// sleep.await?;
/// # Ok(()) }
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Local<F: Future> {
    /// Boxed so `Local` is `Unpin` without a pin projection (one allocation per wrap).
    inner: Pin<Box<SendWrapper<F>>>,
}

impl<F: Future> Future for Local<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<F::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<F: Future> std::fmt::Debug for Local<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Local")
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use super::*;

    #[test]
    fn an_rc_future_becomes_send_and_still_resolves() {
        fn assert_send<T: Send>(_: &T) {}
        let shared = Rc::new(7);
        let fut = local(async move { *shared + 1 });
        assert_send(&fut);
        let waker = std::task::Waker::noop();
        let mut cx = TaskCx::from_waker(waker);
        let mut fut = std::pin::pin!(fut);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(8));
    }

    #[test]
    fn polling_on_another_thread_panics() {
        let fut = local(async { Rc::new(1) });
        let joined = std::thread::spawn(move || {
            let waker = std::task::Waker::noop();
            let mut cx = TaskCx::from_waker(waker);
            let mut fut = fut;
            let _ = Pin::new(&mut fut).poll(&mut cx);
        })
        .join();
        assert!(joined.is_err(), "polling on another thread must panic");
    }
}
