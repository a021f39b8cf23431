//! [`StreamReaderProtocol`]: the protocol under a pair of streams, and the flow-control
//! state it shares with the [`StreamWriter`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future as StdFuture;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Waker;

use super::{StreamReader, StreamWriter};
use crate::error::{Error, IntoResult, Result};
use crate::exception_handler::ExceptionContext;
use crate::protocols::Protocol;
use crate::transports::Transport;

/// What a connection's protocol shares with its writer: flow control (asyncio's
/// `FlowControlMixin`) and whether the connection is gone.
#[derive(Default)]
pub(super) struct ConnState {
    /// Between `pause_writing` and `resume_writing`.
    pub(super) write_paused: Cell<bool>,
    pub(super) lost: Cell<bool>,
    /// `connection_lost`'s error.
    pub(super) exc: RefCell<Option<Error>>,
    /// Tasks in `drain`, `wait_closed` or the `AsyncWrite` methods.
    waiters: RefCell<Vec<Waker>>,
}

impl ConnState {
    pub(super) fn register(&self, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }

    /// What writing to a lost connection fails with: its error, or a reset.
    pub(super) fn lost_error(&self) -> Error {
        self.exc.borrow().clone().unwrap_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "Connection lost",
            ))
        })
    }
}

/// The client callback of [`start_server`](super::start_server), its future boxed so that
/// one protocol type serves every callback type.
pub(super) type ClientConnected =
    Rc<dyn Fn(StreamReader, StreamWriter) -> Pin<Box<dyn StdFuture<Output = Result<()>>>>>;

/// The protocol behind streams (asyncio's `StreamReaderProtocol`): feeds a
/// [`StreamReader`], tracks flow control for [`StreamWriter::drain`], and on a server runs
/// the client callback as a task per connection.
///
/// Use it with [`crate::EventLoop::create_connection`] or `create_server` to get streams
/// with options [`open_connection`](super::open_connection) does not offer:
///
/// ```no_run
/// use sandloop::streams::{StreamReader, StreamReaderProtocol, StreamWriter};
///
/// # async fn demo() -> sandloop::Result<()> {
/// let lp = sandloop::get_running_loop()?;
/// let reader = StreamReader::new();
/// let r = reader.clone();
/// let factory = move || StreamReaderProtocol::new(r);
/// let (transport, protocol) = lp
///     .create_connection(factory, "localhost", 80, Default::default())
///     .await?;
/// let writer = StreamWriter::new(transport, &protocol.borrow(), Some(reader.clone()));
/// # Ok(())
/// # }
/// ```
pub struct StreamReaderProtocol {
    /// Dropped when the connection is lost.
    reader: Option<StreamReader>,
    pub(super) conn: Rc<ConnState>,
    client_connected_cb: Option<ClientConnected>,
}

impl StreamReaderProtocol {
    /// A protocol feeding `reader`.
    pub fn new(reader: StreamReader) -> StreamReaderProtocol {
        StreamReaderProtocol {
            reader: Some(reader),
            conn: Rc::new(ConnState::default()),
            client_connected_cb: None,
        }
    }

    /// A protocol feeding `reader` that, once connected, runs `cb(reader, writer)` as a
    /// task (what [`start_server`](super::start_server) does for each connection). An `Err`
    /// from `cb` goes to the loop's exception handler and closes the connection.
    pub fn with_client_connected_cb<F, R>(reader: StreamReader, cb: F) -> StreamReaderProtocol
    where
        F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
        R: IntoResult<Ok = ()>,
    {
        StreamReaderProtocol::with_erased_cb(reader, erase_client_connected(cb))
    }

    pub(super) fn with_erased_cb(
        reader: StreamReader,
        cb: ClientConnected,
    ) -> StreamReaderProtocol {
        StreamReaderProtocol {
            client_connected_cb: Some(cb),
            ..StreamReaderProtocol::new(reader)
        }
    }
}

/// Shares `cb` between the connections of a server and boxes the futures it returns.
pub(super) fn erase_client_connected<F, R>(cb: F) -> ClientConnected
where
    F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
    R: IntoResult<Ok = ()>,
{
    let cb = Rc::new(cb);
    Rc::new(move |reader, writer| {
        let cb = cb.clone();
        Box::pin(async move { (*cb)(reader, writer).await.into_result() })
    })
}

/// Runs a server's client callback as a task; like asyncio, a failure goes to the
/// exception handler, and a failed or cancelled callback closes its connection.
fn spawn_client_connected(
    transport: &Transport,
    fut: Pin<Box<dyn StdFuture<Output = Result<()>>>>,
) {
    let task = transport.get_loop().create_task(fut);
    let transport = transport.clone();
    task.add_done_callback(move |task| {
        if task.cancelled() {
            transport.close();
            return;
        }
        if let Ok(Some(exc)) = task.exception() {
            transport
                .get_loop()
                .call_exception_handler(&ExceptionContext {
                    message: "Unhandled exception in client_connected_cb".into(),
                    exception: Some(exc),
                    transport: Some(format!("{transport:?}")),
                    ..Default::default()
                });
            transport.close();
        }
    });
}

impl Protocol for StreamReaderProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        let Some(reader) = self.reader.clone() else {
            return;
        };
        reader.set_transport(transport.clone());
        if let Some(cb) = self.client_connected_cb.take() {
            let writer = StreamWriter::new(transport.clone(), self, Some(reader.clone()));
            spawn_client_connected(transport, cb(reader, writer));
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        // A transport delivers nothing after EOF; should one, the bytes cannot be read.
        if let Some(reader) = &self.reader
            && !reader.eof_fed()
        {
            reader.feed_data(data);
        }
    }

    fn eof_received(&mut self) -> bool {
        match &self.reader {
            Some(reader) => {
                reader.feed_eof();
                // Keep the transport open while the writer may still have something to say
                // (half-close); with the writer gone, both sides are done.
                !reader.writer_gone()
            }
            None => true,
        }
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        if let Some(reader) = self.reader.take() {
            match &exc {
                None => reader.feed_eof(),
                Some(e) => reader.set_exception(e.clone()),
            }
        }
        self.client_connected_cb = None;
        self.conn.lost.set(true);
        *self.conn.exc.borrow_mut() = exc;
        self.conn.wake_all();
    }

    fn pause_writing(&mut self) {
        self.conn.write_paused.set(true);
    }

    fn resume_writing(&mut self) {
        self.conn.write_paused.set(false);
        self.conn.wake_all();
    }
}

impl fmt::Debug for StreamReaderProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReaderProtocol")
            .field("reader", &self.reader)
            .field("write_paused", &self.conn.write_paused.get())
            .field("lost", &self.conn.lost.get())
            .finish()
    }
}
