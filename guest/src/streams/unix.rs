//! `open_unix_connection` and `start_unix_server`: the streams API on unix sockets
//! (asyncio's `asyncio.open_unix_connection` / `asyncio.start_unix_server`).

use super::protocol;
use super::{DEFAULT_LIMIT, StreamReader, StreamReaderProtocol, StreamWriter};
use crate::error::{IntoResult, Result};
use crate::events::get_running_loop;
use crate::servers::Server;
use crate::unix_events::{UnixConnectOptions, UnixPath, UnixServerOptions};

/// Connects to the unix socket at `path` and returns the connection's two halves, on the
/// running loop. `opts` are those of [`crate::EventLoop::create_unix_connection`]; the
/// reader's limit is [`DEFAULT_LIMIT`].
///
/// ```no_run
/// # async fn demo() -> sandloop::Result<()> {
/// use sandloop::streams;
/// let (reader, writer) =
///     streams::open_unix_connection("/tmp/echo.sock", Default::default()).await?;
/// writer.write(b"ping\n");
/// let reply = reader.readline().await?;
/// # Ok(())
/// # }
/// ```
pub async fn open_unix_connection(
    path: impl Into<UnixPath>,
    opts: UnixConnectOptions,
) -> Result<(StreamReader, StreamWriter)> {
    open_unix_connection_with_limit(path, opts, DEFAULT_LIMIT).await
}

/// [`open_unix_connection`] with the reader's `limit` (asyncio's `limit=` argument).
pub async fn open_unix_connection_with_limit(
    path: impl Into<UnixPath>,
    opts: UnixConnectOptions,
    limit: usize,
) -> Result<(StreamReader, StreamWriter)> {
    let lp = get_running_loop()?;
    super::open_streams(limit, |fed| {
        lp.create_unix_connection(move || StreamReaderProtocol::new(fed), path, opts)
    })
    .await
}

/// Listens on the unix socket at `path` and runs `client_connected_cb(reader, writer)` as
/// a task for each connection, on the running loop. `opts` are those of
/// [`crate::EventLoop::create_unix_server`] (the socket file is removed on close unless
/// `cleanup_socket` is off); the callback behaves as in [`super::start_server`].
pub async fn start_unix_server<F, R>(
    client_connected_cb: F,
    path: impl Into<UnixPath>,
    opts: UnixServerOptions,
) -> Result<Server>
where
    F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
    R: IntoResult<Ok = ()>,
{
    start_unix_server_with_limit(client_connected_cb, path, opts, DEFAULT_LIMIT).await
}

/// [`start_unix_server`] with the readers' `limit` (asyncio's `limit=` argument).
pub async fn start_unix_server_with_limit<F, R>(
    client_connected_cb: F,
    path: impl Into<UnixPath>,
    opts: UnixServerOptions,
    limit: usize,
) -> Result<Server>
where
    F: AsyncFn(StreamReader, StreamWriter) -> R + 'static,
    R: IntoResult<Ok = ()>,
{
    let lp = get_running_loop()?;
    let cb = protocol::erase_client_connected(client_connected_cb);
    lp.create_unix_server(
        move || StreamReaderProtocol::with_erased_cb(StreamReader::with_limit(limit), cb.clone()),
        path,
        opts,
    )
    .await
}
