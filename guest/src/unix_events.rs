//! Unix stream sockets: `create_unix_connection` and `create_unix_server` (asyncio's
//! `unix_events.py`), with [`UnixPath`], the path argument they take.
//!
//! The host checks every path against the workload's policy (`--allow-unix`): a denial is
//! `Error::PermissionDenied` naming the operation and the path. Paths are the host's
//! paths (a workload has no file system of its own to put sockets in); a relative one is
//! resolved against the host's current directory.
//!
//! ```no_run
//! # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
//! use sandloop::{Protocol, UnixServerOptions, Transport};
//!
//! struct Echo(Option<Transport>);
//! impl Protocol for Echo {
//!     fn connection_made(&mut self, t: &Transport) { self.0 = Some(t.clone()); }
//!     fn data_received(&mut self, data: &[u8]) {
//!         if let Some(t) = &self.0 { t.write(data) }
//!     }
//! }
//! let server = lp
//!     .create_unix_server(|| Echo(None), "/tmp/echo.sock", UnixServerOptions::default())
//!     .await?;
//! // ... the socket file goes when the server closes (`cleanup_socket`).
//! server.close();
//! # Ok(())
//! # }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::log::{self, Level};
use crate::net::{Address, Family, Socket, SocketType};
use crate::protocols::Protocol;
use crate::servers::{ServeSpec, Server};
use crate::sys::net::remove_stale_socket_file;
use crate::transports::Transport;

/// The path of a unix socket, as asyncio takes it: a `str`, `bytes` or a `Path`.
///
/// A leading NUL byte makes it an abstract name (Linux), as in CPython:
/// `UnixPath::from("\0my-name")` or [`UnixPath::abstract_name`]`("my-name")`. The empty
/// path stands for asyncio's `None` (no path: pass a `sock` instead).
///
/// ```
/// use sandloop::UnixPath;
/// let file: UnixPath = "/run/app.sock".into();
/// assert!(!file.is_abstract());
/// let name = UnixPath::abstract_name("app");
/// assert!(name.is_abstract());
/// assert_eq!(name.to_string(), "@app");
/// assert_eq!(name, UnixPath::from("\0app"));
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct UnixPath(Vec<u8>);

impl UnixPath {
    /// An abstract name (Linux): no file, gone with the last socket bound to it.
    pub fn abstract_name(name: impl AsRef<[u8]>) -> UnixPath {
        let name = name.as_ref();
        let mut bytes = Vec::with_capacity(name.len() + 1);
        bytes.push(0);
        bytes.extend_from_slice(name);
        UnixPath(bytes)
    }

    /// The path's bytes (with the leading NUL of an abstract name).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether this is an abstract name.
    pub fn is_abstract(&self) -> bool {
        self.0.first() == Some(&0)
    }

    /// Whether no path was given (asyncio's `None`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The socket address of this path.
    pub fn to_address(&self) -> Address {
        Address::Unix(self.0.clone())
    }
}

impl fmt::Debug for UnixPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_address().to_string())
    }
}

impl fmt::Display for UnixPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_address().fmt(f)
    }
}

impl From<&str> for UnixPath {
    fn from(path: &str) -> UnixPath {
        UnixPath(path.as_bytes().to_vec())
    }
}

impl From<String> for UnixPath {
    fn from(path: String) -> UnixPath {
        UnixPath(path.into_bytes())
    }
}

impl From<&String> for UnixPath {
    fn from(path: &String) -> UnixPath {
        UnixPath::from(path.as_str())
    }
}

impl From<&Path> for UnixPath {
    fn from(path: &Path) -> UnixPath {
        UnixPath(path.as_os_str().as_encoded_bytes().to_vec())
    }
}

impl From<PathBuf> for UnixPath {
    fn from(path: PathBuf) -> UnixPath {
        UnixPath::from(path.as_path())
    }
}

impl From<&[u8]> for UnixPath {
    fn from(path: &[u8]) -> UnixPath {
        UnixPath(path.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for UnixPath {
    fn from(path: &[u8; N]) -> UnixPath {
        UnixPath(path.to_vec())
    }
}

impl From<Vec<u8>> for UnixPath {
    fn from(path: Vec<u8>) -> UnixPath {
        UnixPath(path)
    }
}

/// asyncio's keyword arguments of `create_unix_connection`.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
/// struct Client;
/// impl sandloop::Protocol for Client {}
/// // A unix socket connected elsewhere (say, one end of socketpair()): the path stays empty.
/// let opts = sandloop::UnixConnectOptions { sock: Some(sock), ..Default::default() };
/// let (transport, _client) = lp.create_unix_connection(|| Client, "", opts).await?;
/// # let _ = transport;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct UnixConnectOptions {
    /// An already connected unix stream socket to use instead of connecting (the path
    /// must then be empty).
    pub sock: Option<Socket>,
    /// TLS over the connection with these settings (a client
    /// [`TlsContext`](crate::tls::TlsContext)); the call returns once the handshake
    /// completed.
    pub ssl: Option<crate::tls::TlsContext>,
    /// The name TLS sends and checks the certificate against: required with a context
    /// that checks hostnames (a path names no host); `Some("")` checks no name.
    pub server_hostname: Option<String>,
    /// How long the TLS handshake may take (default 60 s; only with `ssl`).
    pub ssl_handshake_timeout: Option<std::time::Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s; only with
    /// `ssl`).
    pub ssl_shutdown_timeout: Option<std::time::Duration>,
}

/// asyncio's keyword arguments of `create_unix_server`; `Default` gives asyncio's
/// defaults.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Session;
/// impl sandloop::Protocol for Session {}
/// let opts = sandloop::UnixServerOptions {
///     backlog: 64,
///     cleanup_socket: false, // leave the socket file when the server closes
///     ..Default::default()
/// };
/// let server = lp.create_unix_server(|| Session, "/run/app.sock", opts).await?;
/// # let _ = server;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct UnixServerOptions {
    /// A bound (or already listening) unix stream socket to serve instead of binding (the
    /// path must then be empty). It is put into listening mode with `backlog` when
    /// serving starts.
    pub sock: Option<Socket>,
    /// The listen backlog, also the most connections accepted per readiness event.
    pub backlog: u32,
    /// Accept connections at once (default); else call `start_serving` or `serve_forever`.
    /// As in asyncio, the socket is bound at once but listens only when serving starts:
    /// until then a connect to it is refused.
    pub start_serving: bool,
    /// Remove the socket file when the server closes, unless it was replaced meanwhile
    /// (compared by device and inode, as asyncio does). On by default, as in Python 3.13.
    pub cleanup_socket: bool,
    /// TLS on every connection, taking the server's part (a server
    /// [`TlsContext`](crate::tls::TlsContext)); the protocol sees a connection once its
    /// handshake completed.
    pub ssl: Option<crate::tls::TlsContext>,
    /// How long each TLS handshake may take (default 60 s; only with `ssl`).
    pub ssl_handshake_timeout: Option<std::time::Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s; only with
    /// `ssl`).
    pub ssl_shutdown_timeout: Option<std::time::Duration>,
}

impl Default for UnixServerOptions {
    fn default() -> UnixServerOptions {
        UnixServerOptions {
            sock: None,
            backlog: 100,
            start_serving: true,
            cleanup_socket: true,
            ssl: None,
            ssl_handshake_timeout: None,
            ssl_shutdown_timeout: None,
        }
    }
}

fn invalid_input(msg: impl Into<String>) -> Error {
    Error::Os(io::Error::new(io::ErrorKind::InvalidInput, msg.into()))
}

/// asyncio's check of a `sock=` argument: a unix stream socket.
fn expect_unix_socket(sock: &Socket) -> Result<()> {
    if sock.family()? != Family::Unix || sock.socket_type()? != SocketType::Stream {
        return Err(invalid_input(format!(
            "A UNIX Domain Stream Socket was expected, got {sock:?}"
        )));
    }
    Ok(())
}

impl EventLoop {
    /// Connects to the unix socket at `path` and runs a protocol made by `factory` on the
    /// connection (asyncio's `create_unix_connection`). The future resolves once
    /// `connection_made` has run.
    ///
    /// `path` is a `&str`, `String`, `&Path`, `PathBuf`, `&[u8]` or `Vec<u8>`; a leading
    /// NUL byte names an abstract socket. With `opts.sock` (an already connected unix
    /// socket) the path must be empty (`""`).
    ///
    /// asyncio: `await loop.create_unix_connection(factory, path)`.
    ///
    /// ```no_run
    /// use sandloop::{Protocol, Transport, UnixConnectOptions};
    ///
    /// struct Ping;
    ///
    /// impl Protocol for Ping {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"PING\r\n");
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         print!("{}", String::from_utf8_lossy(data));
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let opts = UnixConnectOptions::default();
    ///     let connecting = lp.create_unix_connection(|| Ping, "/run/redis.sock", opts);
    ///     let (transport, _ping) = connecting.await?;
    ///     sandloop::sleep(std::time::Duration::from_millis(100)).await?;
    ///     transport.close();
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn create_unix_connection<P, F>(
        &self,
        factory: F,
        path: impl Into<UnixPath>,
        opts: UnixConnectOptions,
    ) -> Result<(Transport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let tls = crate::transports::TlsSetup::client(
            opts.ssl.as_ref(),
            opts.server_hostname.as_deref(),
            None,
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        let path = path.into();
        let sock = match (path.is_empty(), opts.sock) {
            (false, Some(_)) => {
                return Err(invalid_input(
                    "path and sock can not be specified at the same time",
                ));
            }
            (true, None) => return Err(invalid_input("no path and sock were specified")),
            (true, Some(sock)) => {
                expect_unix_socket(&sock)?;
                sock
            }
            (false, None) => {
                let sock = Socket::new(Family::Unix, SocketType::Stream)?;
                if let Err(err) = self.sock_connect(&sock, path.to_address()).await {
                    sock.close();
                    return Err(err);
                }
                sock
            }
        };
        self.create_connection_transport(sock, factory, tls).await
    }

    /// Listens on the unix socket at `path` and runs a protocol made by `factory` on each
    /// connection (asyncio's `create_unix_server`).
    ///
    /// As asyncio does: a stale socket file at `path` is removed before binding; any other
    /// file there is left alone and the bind fails with `AddrInUse`. With
    /// `opts.cleanup_socket` (the default) the server removes its socket file when it
    /// closes, unless the file was replaced in the meantime. With `opts.sock` (a bound
    /// unix socket) the path must be empty (`""`).
    ///
    /// asyncio: `await loop.create_unix_server(factory, path)`.
    ///
    /// ```no_run
    /// use sandloop::{Protocol, Transport, UnixServerOptions};
    ///
    /// struct Status;
    ///
    /// impl Protocol for Status {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"ok\n");
    ///         transport.close();
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let starting =
    ///         lp.create_unix_server(|| Status, "/run/status.sock", UnixServerOptions::default());
    ///     let server = starting.await?;
    ///     server.serve_forever().await
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn create_unix_server<P, F>(
        &self,
        factory: F,
        path: impl Into<UnixPath>,
        opts: UnixServerOptions,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        self.check_closed()?;
        let tls = crate::transports::TlsSetup::server(
            opts.ssl.as_ref(),
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        let path = path.into();
        let sock = match (path.is_empty(), &opts.sock) {
            (false, Some(_)) => {
                return Err(invalid_input(
                    "path and sock can not be specified at the same time",
                ));
            }
            (true, None) => {
                return Err(invalid_input(
                    "path was not specified, and no sock specified",
                ));
            }
            (true, Some(sock)) => {
                expect_unix_socket(sock)?;
                sock.clone()
            }
            (false, None) => bind_unix(&path)?,
        };
        let spec = ServeSpec {
            backlog: opts.backlog,
            keep_alive: false,
            start_serving: opts.start_serving,
            cleanup_socket: opts.cleanup_socket,
            tls,
            // Leave no file behind for a server that never served.
            owns_sockets: opts.sock.is_none(),
        };
        self.serve_sockets(factory, vec![sock], spec).await
    }
}

/// A unix stream socket bound to `path`, after removing a stale socket file there.
fn bind_unix(path: &UnixPath) -> Result<Socket> {
    if !path.is_abstract() {
        match remove_stale_socket_file(path.as_bytes()) {
            Ok(_) => {}
            Err(err @ Error::PermissionDenied(_)) => return Err(err),
            // As asyncio: the cleanup failing is logged; the bind then says what is wrong.
            Err(err) => log::log(
                Level::Error,
                format_args!("Unable to check or remove stale UNIX socket {path:?}: {err}"),
            ),
        }
    }
    let sock = Socket::new(Family::Unix, SocketType::Stream)?;
    if let Err(err) = sock.bind(path.to_address()) {
        sock.close();
        return Err(match err {
            Error::Os(e) if e.kind() == io::ErrorKind::AddrInUse => Error::Os(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("Address {path:?} is already in use"),
            )),
            other => other,
        });
    }
    Ok(sock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_form_gives_the_same_bytes() {
        let expected = b"/tmp/a.sock".to_vec();
        for path in [
            UnixPath::from("/tmp/a.sock"),
            UnixPath::from(String::from("/tmp/a.sock")),
            UnixPath::from(Path::new("/tmp/a.sock")),
            UnixPath::from(PathBuf::from("/tmp/a.sock")),
            UnixPath::from(&b"/tmp/a.sock"[..]),
            UnixPath::from(b"/tmp/a.sock"),
            UnixPath::from(b"/tmp/a.sock".to_vec()),
        ] {
            assert_eq!(path.as_bytes(), expected);
            assert!(!path.is_abstract());
        }
        assert!(UnixPath::from("").is_empty());
    }

    #[test]
    fn abstract_names_start_with_nul_and_print_with_at() {
        let name = UnixPath::abstract_name("svc");
        assert_eq!(name, UnixPath::from("\0svc"));
        assert!(name.is_abstract());
        assert_eq!(name.to_string(), "@svc");
        assert_eq!(format!("{:?}", UnixPath::from("/x.sock")), "\"/x.sock\"");
    }
}
