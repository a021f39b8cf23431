//! `Queue`: a FIFO queue between tasks, asyncio's `asyncio.Queue`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use crate::error::{Error, Result};
use crate::locks::Event;
use crate::waiters::{OnDrop, Waiters, new_waiter, remove_waiter};

/// A FIFO queue for tasks of one loop, asyncio's `asyncio.Queue`. Clones share the queue.
///
/// `maxsize == 0` means unbounded. `put` waits while the queue is full, `get` while it is
/// empty; `task_done` and `join` track the processing of items.
///
/// asyncio: `q = asyncio.Queue(maxsize=8)`, `await q.put(x)`, `await q.get()`.
///
/// ```
/// use sandloop::Queue;
/// sandloop::run(async {
///     let q: Queue<u32> = Queue::new(8);
///     let consumer = sandloop::create_task({
///         let q = q.clone();
///         async move {
///             let mut sum = 0;
///             for _ in 0..3 {
///                 sum += q.get().await?;
///                 q.task_done()?;
///             }
///             Ok::<_, sandloop::Error>(sum)
///         }
///     });
///     for n in [1, 2, 3] {
///         q.put(n).await?;
///     }
///     q.join().await?; // every item was processed
///     assert_eq!(consumer.await?, 6);
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct Queue<T> {
    inner: Rc<QueueInner<T>>,
}

struct QueueInner<T> {
    maxsize: usize,
    items: RefCell<VecDeque<T>>,
    getters: Waiters,
    putters: Waiters,
    unfinished_tasks: Cell<usize>,
    finished: Event,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Queue<T> {
        Queue {
            inner: self.inner.clone(),
        }
    }
}

impl<T: 'static> Queue<T> {
    /// A queue holding at most `maxsize` items (0: unbounded).
    ///
    /// ```
    /// let bounded = sandloop::Queue::<String>::new(100);
    /// assert_eq!((bounded.maxsize(), bounded.qsize(), bounded.empty()), (100, 0, true));
    /// ```
    pub fn new(maxsize: usize) -> Queue<T> {
        let finished = Event::new();
        finished.set();
        Queue {
            inner: Rc::new(QueueInner {
                maxsize,
                items: RefCell::new(VecDeque::new()),
                getters: RefCell::new(VecDeque::new()),
                putters: RefCell::new(VecDeque::new()),
                unfinished_tasks: Cell::new(0),
                finished,
            }),
        }
    }

    /// The number of items in the queue.
    pub fn qsize(&self) -> usize {
        self.inner.items.borrow().len()
    }

    /// The capacity (0: unbounded).
    pub fn maxsize(&self) -> usize {
        self.inner.maxsize
    }

    /// `true` when there is no item.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// `true` when `maxsize` items are queued.
    pub fn full(&self) -> bool {
        self.inner.maxsize > 0 && self.qsize() >= self.inner.maxsize
    }

    /// Puts an item, waiting while the queue is full.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let q = sandloop::Queue::new(1);
    ///     q.put("first").await?;
    ///     assert!(q.full());
    ///     assert_eq!(q.put_nowait("second"), Err("second")); // asyncio's QueueFull
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn put(&self, item: T) -> Result<()> {
        while self.full() {
            wait_turn(&self.inner.putters, || !self.full()).await?;
        }
        self.put_nowait(item)
            .map_err(|_| Error::runtime("queue full after wake-up"))
    }

    /// Puts an item without waiting; gives it back as `Err` when the queue is full
    /// (asyncio's `QueueFull`).
    pub fn put_nowait(&self, item: T) -> std::result::Result<(), T> {
        if self.full() {
            return Err(item);
        }
        self.inner.items.borrow_mut().push_back(item);
        self.inner
            .unfinished_tasks
            .set(self.inner.unfinished_tasks.get() + 1);
        self.inner.finished.clear();
        wake_next(&self.inner.getters);
        Ok(())
    }

    /// Takes the first item, waiting while the queue is empty.
    ///
    /// ```
    /// sandloop::run(async {
    ///     let q = sandloop::Queue::new(0);
    ///     assert_eq!(q.get_nowait(), None::<u8>); // asyncio's QueueEmpty
    ///     q.put(1).await?;
    ///     assert_eq!(q.get().await?, 1);
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn get(&self) -> Result<T> {
        loop {
            if let Some(item) = self.get_nowait() {
                return Ok(item);
            }
            wait_turn(&self.inner.getters, || !self.empty()).await?;
        }
    }

    /// Takes the first item without waiting; `None` when empty (asyncio's `QueueEmpty`).
    pub fn get_nowait(&self) -> Option<T> {
        let item = self.inner.items.borrow_mut().pop_front()?;
        wake_next(&self.inner.putters);
        Some(item)
    }

    /// Marks one item taken with `get` as processed. `Err(InvalidState)` when called more
    /// times than items were put.
    ///
    /// ```
    /// let q = sandloop::Queue::new(0);
    /// assert!(q.put_nowait(1).is_ok());
    /// assert_eq!(q.get_nowait(), Some(1));
    /// q.task_done()?; // the item taken with get is processed
    /// assert!(q.task_done().is_err()); // more than were put
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn task_done(&self) -> Result<()> {
        let unfinished = self.inner.unfinished_tasks.get();
        if unfinished == 0 {
            return Err(Error::invalid_state("task_done() called too many times"));
        }
        self.inner.unfinished_tasks.set(unfinished - 1);
        if unfinished == 1 {
            self.inner.finished.set();
        }
        Ok(())
    }

    /// Waits until every item put was marked done with `task_done`.
    ///
    /// See the [`Queue`] example: producers `put`, workers `get` and `task_done`, and `join`
    /// returns once every item was processed. With no item put it returns at once:
    ///
    /// ```
    /// sandloop::run(async {
    ///     sandloop::Queue::<u8>::new(0).join().await
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn join(&self) -> Result<()> {
        if self.inner.unfinished_tasks.get() > 0 {
            self.inner.finished.wait().await?;
        }
        Ok(())
    }
}

/// Waits in `waiters` for a turn. A waiter that was woken but is abandoned before it runs
/// (its task was cancelled) passes the wake-up on when the condition still holds, so no item
/// or slot is stranded; one cancelled while still waiting wakes nobody (asyncio's
/// `if not self.empty() and not getter.cancelled(): self._wakeup_next(self._getters)`).
async fn wait_turn(waiters: &Waiters, ready: impl Fn() -> bool) -> Result<()> {
    let fut = new_waiter(waiters)?;
    let mut abandoned = OnDrop(Some(|| {
        remove_waiter(waiters, &fut);
        let woken = fut.done() && !fut.cancelled();
        fut.cancel();
        if woken && ready() {
            wake_next(waiters);
        }
    }));
    let woken = fut.clone().await;
    abandoned.disarm();
    remove_waiter(waiters, &fut);
    woken
}

fn wake_next(waiters: &Waiters) {
    loop {
        let next = waiters.borrow_mut().pop_front();
        match next {
            Some(fut) if fut.done() => continue,
            Some(fut) => {
                let _ = fut.set_result(());
                return;
            }
            None => return,
        }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Queue maxsize={} qsize={} unfinished={}>",
            self.inner.maxsize,
            self.inner.items.borrow().len(),
            self.inner.unfinished_tasks.get()
        )
    }
}

impl<T: 'static> Queue<T> {
    /// The queue's items as a `futures_core::Stream`: each item is taken as [`Queue::get`]
    /// takes it (waiting while the queue is empty; `task_done` still applies). The stream
    /// does not end by itself, as a `while True: await q.get()` loop does not: stop taking
    /// items, or take them inside [`crate::timeout`]. Dropping the stream while it waits
    /// gives its turn to the next getter, as a cancelled `get()` does.
    ///
    /// ```no_run
    /// use futures_core::Stream;
    /// use std::pin::Pin;
    /// sandloop::run(async {
    ///     let q = sandloop::Queue::new(0);
    ///     q.put_nowait(1).unwrap();
    ///     q.put_nowait(2).unwrap();
    ///     let mut items = q.stream();
    ///     let first = std::future::poll_fn(|cx| Pin::new(&mut items).poll_next(cx)).await;
    ///     assert_eq!(first, Some(1));
    ///     Ok::<_, sandloop::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub fn stream(&self) -> QueueStream<T> {
        QueueStream {
            queue: self.clone(),
            get: None,
        }
    }
}

/// The stream [`Queue::stream`] returns.
///
/// ```
/// use futures_util::StreamExt;
/// sandloop::run(async {
///     let queue = sandloop::Queue::new(0);
///     queue.put_nowait("job").expect("an unbounded queue has room");
///     let mut items = queue.stream(); // as `get()` would, one item at a time
///     println!("{:?}", items.next().await);
///     Ok::<_, sandloop::Error>(())
/// })
/// .unwrap();
/// ```
pub struct QueueStream<T: 'static> {
    queue: Queue<T>,
    /// The `get()` under way: kept across polls so that its place among the getters is
    /// kept too.
    get: Option<Pin<Box<dyn Future<Output = Result<T>>>>>,
}

impl<T: 'static> Stream for QueueStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = &mut *self;
        let get = this.get.get_or_insert_with(|| {
            let queue = this.queue.clone();
            Box::pin(async move { queue.get().await })
        });
        let taken = ready!(get.as_mut().poll(cx));
        this.get = None;
        // `get` fails only outside a running loop (no waiter can be made): the end.
        Poll::Ready(taken.ok())
    }
}
