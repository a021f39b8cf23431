//! `as_completed`: tasks in the order they finish, asyncio's `asyncio.as_completed`, as a
//! `futures_core::Stream` (asyncio 3.13 iterates it with `async for`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::futures::CallbackId;
use crate::tasks::Task;

/// Yields every task of `tasks` once it is done, in the order they finish: asyncio's
/// `as_completed`, in its `async for` form (3.13), whose items are the tasks themselves.
/// Read an item's result with `join()`, `result()` or `exception()`.
///
/// Nothing is cancelled, and there is no `timeout` argument: put the loop that takes the
/// items inside [`crate::timeout`] for a deadline.
///
/// With futures' `StreamExt`, `while let Some(task) = done.next().await`; without it:
///
/// ```no_run
/// use futures_core::Stream;
/// use std::pin::Pin;
/// use std::time::Duration;
/// sandloop::run(async {
///     let slow = sandloop::create_task(async {
///         sandloop::sleep(Duration::from_millis(20)).await?;
///         Ok::<_, sandloop::Error>("slow")
///     });
///     let fast = sandloop::create_task(async { "fast" });
///     let mut done = sandloop::as_completed([slow, fast]);
///     while let Some(task) = std::future::poll_fn(|cx| Pin::new(&mut done).poll_next(cx)).await {
///         println!("{}", task.join().await?);
///     }
///     Ok::<_, sandloop::Error>(())
/// })
/// .unwrap();
/// ```
pub fn as_completed<T: 'static>(tasks: impl IntoIterator<Item = Task<T>>) -> AsCompleted<T> {
    let shared = Rc::new(RefCell::new(Finished {
        tasks: VecDeque::new(),
        waker: None,
    }));
    let watched: Vec<(Task<T>, CallbackId)> = tasks
        .into_iter()
        .map(|task| {
            let finished = shared.clone();
            // Done callbacks run in the order the tasks finished (each is scheduled with
            // `call_soon` when its task completes), which is the order to yield them in.
            let id = task.add_done_callback(move |task| {
                let mut finished = finished.borrow_mut();
                finished.tasks.push_back(task.clone());
                if let Some(waker) = finished.waker.take() {
                    waker.wake();
                }
            });
            (task, id)
        })
        .collect();
    AsCompleted {
        remaining: watched.len(),
        watched,
        shared,
    }
}

/// The stream [`as_completed`] returns.
///
/// ```
/// use futures_util::StreamExt;
/// sandloop::run(async {
///     let tasks = [sandloop::create_task(async { 1_u32 }), sandloop::create_task(async { 2_u32 })];
///     let mut done = sandloop::as_completed(tasks);
///     while let Some(task) = done.next().await {
///         println!("{}", task.join().await?);
///     }
///     Ok::<_, sandloop::Error>(())
/// })
/// .unwrap();
/// ```
pub struct AsCompleted<T: 'static> {
    watched: Vec<(Task<T>, CallbackId)>,
    remaining: usize,
    shared: Rc<RefCell<Finished<T>>>,
}

/// The tasks whose done callback ran and the stream has not yielded yet.
struct Finished<T> {
    tasks: VecDeque<Task<T>>,
    waker: Option<Waker>,
}

impl<T: 'static> Stream for AsCompleted<T> {
    type Item = Task<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Task<T>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let next = self.shared.borrow_mut().tasks.pop_front();
        match next {
            Some(task) => {
                self.remaining -= 1;
                Poll::Ready(Some(task))
            }
            None => {
                self.shared.borrow_mut().waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

/// A stream dropped early stops watching: its tasks keep running, unreferenced by it.
impl<T: 'static> Drop for AsCompleted<T> {
    fn drop(&mut self) {
        for (task, id) in self.watched.drain(..) {
            task.remove_done_callback(id);
        }
    }
}
