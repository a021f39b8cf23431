//! hyper 1.x on sandloop (the `hyper` feature): hyper's I/O traits on
//! [`streams::Connection`], a [`LoopTimer`] and a
//! [`LoopExecutor`] on the running loop, [`serve`] for a whole server, and [`local`] to
//! await sandloop futures where `Send` futures are required (axum's handlers).
//!
//! A server in full (the `hyper_hello` example):
//!
//! ```no_run
//! use std::convert::Infallible;
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response, service::service_fn};
//!
//! async fn hello(_: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from("Hello, World!"))))
//! }
//!
//! sandloop::run(async {
//!     let server = sandloop::hyper::serve(service_fn(hello), "127.0.0.1", 8080, Default::default()).await?;
//!     server.serve_forever().await
//! })
//! .unwrap();
//! ```
//!
//! A client drives hyper's connection future as a task of its own:
//!
//! ```no_run
//! use http_body_util::{BodyExt, Empty};
//! use hyper::body::Bytes;
//! use sandloop::streams::Connection;
//!
//! # async fn demo() -> sandloop::Result<()> {
//! let conn = Connection::connect("127.0.0.1", 8080).await?;
//! let (mut sender, driver) = hyper::client::conn::http1::handshake(conn)
//!     .await
//!     .map_err(std::io::Error::other)?;
//! sandloop::create_task(async move { driver.await.map_err(std::io::Error::other) });
//! let request = hyper::Request::get("/").header("host", "127.0.0.1").body(Empty::<Bytes>::new()).unwrap();
//! let response = sender.send_request(request).await.map_err(std::io::Error::other)?;
//! let body = response.into_body().collect().await.map_err(std::io::Error::other)?.to_bytes();
//! # Ok(())
//! # }
//! ```
//!
//! ## The Send story
//!
//! sandloop's futures and handles are `Rc`-based and not `Send`: the loop runs on one
//! thread and nothing of it may leave. Three places of hyper's and axum's API ask for
//! `Send` anyway, and each is met without `unsafe` in this crate or in user code:
//! - hyper's `Timer` returns `Pin<Box<dyn Sleep>>` with `Sleep: Send + Sync`:
//!   [`LoopSleep`] holds only a key into a thread-local table of sleeps (the loop timer and
//!   waker stay there), so it is `Send + Sync` as plain data; polled on another thread it
//!   panics, dropped on one it leaks its entry.
//! - hyper's `Executor` and `Timer` must be `Send + Sync` themselves: [`LoopExecutor`] and
//!   [`LoopTimer`] are unit values that find the running loop when used.
//! - axum's handlers must return `Send` futures: wrap each sandloop future the handler
//!   awaits in [`local`] (or `.local()` with [`LocalExt`]). It is `send_wrapper`'s
//!   `SendWrapper`, which checks on every poll and on drop that it is on the thread that
//!   made it and panics otherwise, so the `Rc`s inside are never touched from another
//!   thread. This holds on any target: the crate also compiles natively, where threads
//!   exist; on wasm32-wasip2 the checks never fail because there is one thread.
//!
//! hyper's server and client connection futures need no `Send`: they run as ordinary
//! sandloop tasks.

mod io;
mod local;
mod timer;

use std::error::Error as StdError;
use std::future::Future;
use std::io as stdio;

use ::hyper::body::{Body, Incoming};
use ::hyper::rt::Executor;
use ::hyper::server::conn::http1;
use ::hyper::service::HttpService;

pub use local::{Local, LocalExt, local};
pub use timer::{LoopSleep, LoopTimer};

use crate::error::{Error, IntoResult, Result};
use crate::log::{self, Level};
use crate::servers::{Hosts, Server, ServerOptions};
use crate::streams::{self, Connection, StreamReader, StreamWriter};

/// hyper's [`Executor`] on the running loop: each future becomes a task
/// ([`create_task`](crate::create_task)). hyper needs one for HTTP/2 and for its
/// connection pools; a unit value that finds the loop when used.
///
/// # Panics
/// When used outside a running loop.
///
/// ```no_run
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// # async fn demo(conn: sandloop::streams::Connection) -> sandloop::Result<()> {
/// // hyper spawns its connection's background work through the executor.
/// let (mut sender, driver) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(conn)
///     .await
///     .map_err(std::io::Error::other)?;
/// hyper::rt::Executor::execute(&sandloop::hyper::LoopExecutor, async move {
///     driver.await.map_err(std::io::Error::other)
/// });
/// # let _ = &mut sender;
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LoopExecutor;

impl<F> Executor<F> for LoopExecutor
where
    F: Future + 'static,
    F::Output: IntoResult,
{
    fn execute(&self, fut: F) {
        crate::create_task(fut);
    }
}

/// A boxed error, as hyper takes them.
type BoxError = Box<dyn StdError + Send + Sync>;

/// What [`serve`] takes: a hyper service (`service_fn(..)`, or a tower service through
/// hyper-util's `TowerToHyperService`) that can be cloned for each connection. Implemented
/// for every such type.
///
/// ```no_run
/// use std::convert::Infallible;
/// use http_body_util::Full;
/// use hyper::body::{Bytes, Incoming};
/// use hyper::{Request, Response, service::service_fn};
/// # async fn demo() -> sandloop::Result<()> {
/// // A `service_fn` of an async fn is `Clone`, so it is a `Service`.
/// let svc = service_fn(|req: Request<Incoming>| async move {
///     let body = format!("you asked for {}", req.uri().path());
///     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
/// });
/// let server = sandloop::hyper::serve(svc, "127.0.0.1", 0, Default::default()).await?;
/// println!("port {:?}", server.port());
/// # Ok(()) }
/// ```
pub trait Service:
    HttpService<Incoming, Error: Into<BoxError>, ResBody: Body<Error: Into<BoxError>> + 'static>
    + Clone
    + 'static
{
}

impl<S> Service for S where
    S: HttpService<Incoming, Error: Into<BoxError>, ResBody: Body<Error: Into<BoxError>> + 'static>
        + Clone
        + 'static
{
}

/// An HTTP/1 server builder with the loop's timer ([`LoopTimer`]), so hyper's header read
/// timeout (30 s unless set) and keep-alive timers work. Configure it further and pass it
/// to [`serve_with`], or to `serve_connection` yourself.
///
/// ```no_run
/// let mut builder = sandloop::hyper::builder();
/// builder.header_read_timeout(std::time::Duration::from_secs(5));
/// ```
pub fn builder() -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder.timer(LoopTimer);
    builder
}

/// Serves `service` over HTTP/1 on `hosts`:`port` ([`streams::start_server`] with `opts`,
/// TLS with `opts.ssl`), each connection a task running hyper's `serve_connection` with
/// [`builder`]'s settings. Returns the started server.
///
/// A connection's failure that the client caused (it went away mid-request, sent a
/// malformed request, or was too slow with its request head) ends that connection
/// quietly, as a native hyper server does (in debug mode with a `hyper connection ended`
/// line); other failures (an error from the service) reach the loop's exception handler.
pub async fn serve(
    service: impl Service,
    hosts: impl Into<Hosts>,
    port: u16,
    opts: ServerOptions,
) -> Result<Server> {
    serve_with(builder(), service, hosts, port, opts).await
}

/// [`serve`] with the HTTP/1 settings of `builder` (start from [`builder`] so the timers
/// work).
pub async fn serve_with(
    builder: http1::Builder,
    service: impl Service,
    hosts: impl Into<Hosts>,
    port: u16,
    opts: ServerOptions,
) -> Result<Server> {
    streams::start_server(
        async move |reader: StreamReader, writer: StreamWriter| {
            let conn = Connection::from((reader, writer));
            match builder.serve_connection(conn, service.clone()).await {
                Err(e) if !client_caused(&e) => Err(Error::other(e)),
                Err(e) => {
                    let lp = crate::events::get_running_loop()?;
                    if lp.get_debug() {
                        log::log(Level::Debug, format_args!("hyper connection ended: {e}"));
                    }
                    Ok(())
                }
                Ok(()) => Ok(()),
            }
        },
        hosts,
        port,
        opts,
    )
    .await
}

/// Whether `err` ending a server connection is the client's doing.
fn client_caused(err: &::hyper::Error) -> bool {
    if err.is_incomplete_message() || err.is_parse() || err.is_timeout() || err.is_closed() {
        return true;
    }
    let io = std::iter::successors(err.source(), |e| (*e).source())
        .find_map(|e| e.downcast_ref::<stdio::Error>());
    io.is_some_and(|e| {
        matches!(
            e.kind(),
            stdio::ErrorKind::ConnectionReset
                | stdio::ErrorKind::ConnectionAborted
                | stdio::ErrorKind::BrokenPipe
                | stdio::ErrorKind::UnexpectedEof
        )
    })
}
