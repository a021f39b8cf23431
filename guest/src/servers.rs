//! Servers: `create_server` and [`Server`] (asyncio's `base_events.Server`).

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::{Rc, Weak};
use std::task::{Poll, Waker};

use slab::Slab;

use crate::dns::AddrInfoHints;
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::futures::Future;
use crate::net::{AI_PASSIVE, Address, Family, SockOpt, Socket, SocketType};
use crate::protocols::Protocol;
use crate::transports::TlsSetup;
use crate::transports::{SharedProtocol, Transport, TransportInner};

mod accept;

/// Where a server listens: asyncio's `host` argument of `create_server`.
///
/// ```no_run
/// use sandloop::Hosts;
/// let everywhere: Hosts = None.into(); // asyncio's host=None
/// let loopback: Hosts = "127.0.0.1".into();
/// let both: Hosts = vec!["127.0.0.1", "::1"].into();
/// # let _ = (everywhere, loopback, both);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hosts {
    /// Every interface (asyncio's `None` or `""`): the wildcard address of each family.
    All,
    /// One host name or address.
    One(String),
    /// Several hosts; the server listens on every address of each.
    Many(Vec<String>),
}

impl From<&str> for Hosts {
    fn from(host: &str) -> Hosts {
        if host.is_empty() {
            Hosts::All
        } else {
            Hosts::One(host.to_string())
        }
    }
}

impl From<String> for Hosts {
    fn from(host: String) -> Hosts {
        Hosts::from(host.as_str())
    }
}

impl From<Option<&str>> for Hosts {
    fn from(host: Option<&str>) -> Hosts {
        host.map(Hosts::from).unwrap_or(Hosts::All)
    }
}

impl<S: Into<String>> From<Vec<S>> for Hosts {
    fn from(hosts: Vec<S>) -> Hosts {
        Hosts::Many(hosts.into_iter().map(Into::into).collect())
    }
}

/// asyncio's keyword arguments of `create_server`; `Default` gives asyncio's defaults.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Echo;
/// impl sandloop::Protocol for Echo {}
/// // asyncio: create_server(Echo, "127.0.0.1", 8080, backlog=1024, start_serving=False)
/// let opts = sandloop::ServerOptions {
///     backlog: 1024,
///     start_serving: false,
///     ..Default::default()
/// };
/// let server = lp.create_server(|| Echo, "127.0.0.1", 8080, opts).await?;
/// server.serve_forever().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Only addresses of this family.
    pub family: Option<Family>,
    /// `AI_*` flags for `getaddrinfo` (default `AI_PASSIVE`).
    pub flags: i32,
    /// A bound (or already listening) socket to serve instead of binding (hosts must be
    /// `Hosts::All` and the port 0). It is put into listening mode with `backlog` when
    /// serving starts.
    pub sock: Option<Socket>,
    /// The listen backlog, also the most connections accepted per readiness event.
    pub backlog: u32,
    /// `SO_REUSEADDR` (default: on, as asyncio does on POSIX).
    pub reuse_address: Option<bool>,
    /// `SO_REUSEPORT`: several servers share the port.
    pub reuse_port: bool,
    /// `SO_KEEPALIVE` on accepted connections.
    pub keep_alive: bool,
    /// Accept connections at once (default); else call `start_serving` or `serve_forever`.
    /// As in asyncio, the sockets are bound at once but listen only when serving starts:
    /// until then a connect to them is refused.
    pub start_serving: bool,
    /// TLS on every connection, taking the server's part (a server
    /// [`TlsContext`](crate::tls::TlsContext)): the protocol sees a connection once its
    /// handshake completed; a failed handshake never reaches it (logged in debug mode).
    pub ssl: Option<crate::tls::TlsContext>,
    /// How long each TLS handshake may take (default 60 s; only with `ssl`).
    pub ssl_handshake_timeout: Option<std::time::Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s; only with
    /// `ssl`).
    pub ssl_shutdown_timeout: Option<std::time::Duration>,
}

impl Default for ServerOptions {
    fn default() -> ServerOptions {
        ServerOptions {
            family: None,
            flags: AI_PASSIVE,
            sock: None,
            backlog: 100,
            reuse_address: None,
            reuse_port: false,
            keep_alive: false,
            start_serving: true,
            ssl: None,
            ssl_handshake_timeout: None,
            ssl_shutdown_timeout: None,
        }
    }
}

/// How a [`Server`] serves its sockets: the options `create_server` and
/// `create_unix_server` have in common.
pub(crate) struct ServeSpec {
    pub(crate) backlog: u32,
    pub(crate) keep_alive: bool,
    pub(crate) start_serving: bool,
    pub(crate) cleanup_socket: bool,
    /// TLS on every accepted connection.
    pub(crate) tls: Option<TlsSetup>,
    /// The sockets were made for the server (not given as `sock`): when serving cannot
    /// start, they are closed and their unix socket files removed.
    pub(crate) owns_sockets: bool,
}

/// A listening server (asyncio's `asyncio.Server`). A cheap handle; clones share it.
///
/// asyncio: `server = await loop.create_server(...)`, then
/// `async with server: await server.serve_forever()`.
///
/// ```no_run
/// use sandloop::{Protocol, ServerOptions, Transport};
///
/// #[derive(Default)]
/// struct Echo(Option<Transport>);
///
/// impl Protocol for Echo {
///     fn connection_made(&mut self, transport: &Transport) {
///         self.0 = Some(transport.clone());
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         if let Some(t) = &self.0 {
///             t.write(data);
///         }
///     }
/// }
///
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let opts = ServerOptions::default();
///     let server = lp.create_server(Echo::default, "127.0.0.1", 0, opts).await?;
///     println!("listening on {}", server.local_addr()?);
///     server.scope(|server| async move { server.serve_forever().await }).await
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

struct ServerInner {
    lp: EventLoop,
    /// `None` once closed.
    sockets: RefCell<Option<Vec<Socket>>>,
    tls: Option<TlsSetup>,
    factory: RefCell<Box<dyn FnMut() -> SharedProtocol>>,
    backlog: u32,
    keep_alive: bool,
    /// Remove the unix socket files the sockets were bound to on close, unless replaced
    /// (`create_unix_server`'s `cleanup_socket`).
    cleanup_socket: bool,
    serving: Cell<bool>,
    /// Connections made by this server and not lost yet.
    clients: RefCell<Slab<Weak<TransportInner>>>,
    /// `wait_closed` callers; `None` once the server is closed and every connection gone.
    waiters: RefCell<Option<Vec<Waker>>>,
    serving_forever: RefCell<Option<Future<()>>>,
}

impl ServerInner {
    fn wakeup(&self) {
        if let Some(waiters) = self.waiters.borrow_mut().take() {
            for waker in waiters {
                waker.wake();
            }
        }
    }

    fn closed_and_idle(&self) -> bool {
        self.sockets.borrow().is_none() && self.clients.borrow().is_empty()
    }
}

impl EventLoop {
    /// Listens on `hosts`:`port` and runs a protocol made by `factory` on each connection
    /// (asyncio's `create_server`). Port 0 picks a free port (see [`Server::sockets`]).
    ///
    /// asyncio: `server = await loop.create_server(factory, "127.0.0.1", 8080)`; a greeting
    /// server (see [`Server`] for an echo):
    ///
    /// ```no_run
    /// use sandloop::{Protocol, ServerOptions, Transport};
    ///
    /// struct Greet;
    ///
    /// impl Protocol for Greet {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"hello\n");
    ///         transport.close();
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let opts = ServerOptions::default();
    ///     let server = lp.create_server(|| Greet, "127.0.0.1", 8080, opts).await?;
    ///     server.serve_forever().await
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn create_server<P, F>(
        &self,
        factory: F,
        hosts: impl Into<Hosts>,
        port: u16,
        opts: ServerOptions,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        self.check_closed()?;
        let tls = TlsSetup::server(
            opts.ssl.as_ref(),
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        let hosts = hosts.into();
        let sockets = match &opts.sock {
            Some(sock) => {
                if hosts != Hosts::All || port != 0 {
                    return Err(Error::Os(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "host/port and sock can not be specified at the same time",
                    )));
                }
                vec![sock.clone()]
            }
            None => self.bind_hosts(&hosts, port, &opts).await?,
        };
        let spec = ServeSpec {
            backlog: opts.backlog,
            keep_alive: opts.keep_alive,
            start_serving: opts.start_serving,
            cleanup_socket: false,
            tls,
            owns_sockets: opts.sock.is_none(),
        };
        self.serve_sockets(factory, sockets, spec).await
    }

    /// A [`Server`] on bound `sockets`: what `create_server` and `create_unix_server`
    /// share once their sockets are bound. They listen when serving starts.
    pub(crate) async fn serve_sockets<P, F>(
        &self,
        factory: F,
        sockets: Vec<Socket>,
        spec: ServeSpec,
    ) -> Result<Server>
    where
        P: Protocol,
        F: FnMut() -> P + 'static,
    {
        let mut factory = factory;
        let server = Server {
            inner: Rc::new(ServerInner {
                lp: self.clone(),
                sockets: RefCell::new(Some(sockets)),
                tls: spec.tls,
                factory: RefCell::new(Box::new(move || {
                    Rc::new(RefCell::new(factory())) as SharedProtocol
                })),
                backlog: spec.backlog,
                keep_alive: spec.keep_alive,
                cleanup_socket: spec.cleanup_socket,
                serving: Cell::new(false),
                clients: RefCell::new(Slab::new()),
                waiters: RefCell::new(Some(Vec::new())),
                serving_forever: RefCell::new(None),
            }),
        };
        if spec.start_serving {
            if let Err(err) = server.start_serving_now() {
                if spec.owns_sockets {
                    server.close_sockets(true);
                }
                return Err(err);
            }
            // Let accept callbacks see the listening sockets from the next iteration.
            crate::sleep(std::time::Duration::ZERO).await?;
        }
        Ok(server)
    }

    /// Resolves `hosts` and binds a socket to every address (listening waits until the
    /// server starts serving, as in asyncio).
    async fn bind_hosts(
        &self,
        hosts: &Hosts,
        port: u16,
        opts: &ServerOptions,
    ) -> Result<Vec<Socket>> {
        let names: Vec<Option<&str>> = match hosts {
            Hosts::All => vec![None],
            Hosts::One(h) => vec![Some(h.as_str())],
            Hosts::Many(hs) => hs.iter().map(|h| Some(h.as_str())).collect(),
        };
        let hints = AddrInfoHints {
            family: opts.family,
            socktype: Some(SocketType::Stream),
            protocol: 0,
            flags: opts.flags,
        };
        let port_text = port.to_string();
        let mut addresses: Vec<(Family, Address)> = Vec::new();
        for name in names {
            for info in self.getaddrinfo(name, Some(&port_text), hints).await? {
                let entry = (info.family, info.address);
                if !addresses.contains(&entry) {
                    addresses.push(entry);
                }
            }
        }
        let mut sockets = Vec::new();
        for (family, address) in addresses {
            let sock = Socket::new(family, SocketType::Stream)?;
            if opts.reuse_address.unwrap_or(true) {
                sock.set_option(SockOpt::ReuseAddress(true))?;
            }
            if opts.reuse_port {
                sock.set_option(SockOpt::ReusePort(true))?;
            }
            if opts.keep_alive {
                sock.set_option(SockOpt::KeepAlive(true))?;
            }
            if let Err(err) = sock.bind(address.clone()) {
                for s in &sockets {
                    Socket::close(s);
                }
                return Err(match err {
                    Error::Os(e) => Error::Os(io::Error::new(
                        e.kind(),
                        format!("error while attempting to bind on address {address}: {e}"),
                    )),
                    other => other,
                });
            }
            sockets.push(sock);
        }
        Ok(sockets)
    }
}

impl Server {
    /// The loop the server runs on.
    pub fn get_loop(&self) -> EventLoop {
        self.inner.lp.clone()
    }

    /// The listening sockets (empty once closed).
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// struct Idle;
    /// impl sandloop::Protocol for Idle {}
    /// // Port 0: the OS picks a free port; the listening sockets tell which.
    /// let server = lp.create_server(|| Idle, "127.0.0.1", 0, Default::default()).await?;
    /// for sock in server.sockets() {
    ///     println!("listening on {}", sock.local_addr()?);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn sockets(&self) -> Vec<Socket> {
        self.inner.sockets.borrow().clone().unwrap_or_default()
    }

    /// The address of the first listening socket: the short way to learn which port a
    /// server bound to port 0 got (asyncio's `server.sockets[0].getsockname()`).
    /// `Err(InvalidState)` once the server is closed.
    ///
    /// ```no_run
    /// # async fn f(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// # struct Echo;
    /// # impl sandloop::Protocol for Echo {}
    /// let server = lp
    ///     .create_server(|| Echo, "127.0.0.1", 0, Default::default())
    ///     .await?;
    /// println!("listening on {}", server.local_addr()?);
    /// let port = server.port()?;
    /// # Ok(()) }
    /// ```
    pub fn local_addr(&self) -> Result<Address> {
        let first = self
            .inner
            .sockets
            .borrow()
            .as_ref()
            .and_then(|s| s.first().cloned());
        first
            .ok_or_else(|| Error::invalid_state("the server has no listening socket (closed)"))?
            .local_addr()
    }

    /// The port of the first listening socket (see [`Server::local_addr`]).
    /// `Err(InvalidInput)` for a unix socket server.
    pub fn port(&self) -> Result<u16> {
        let addr = self.local_addr()?;
        addr.port().ok_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the server listens on {addr}, which has no port"),
            ))
        })
    }

    /// Whether the server accepts connections.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get()
    }

    /// Puts every socket into listening mode and watches it for connections (asyncio's
    /// `Server._start_serving`). A failure leaves the server not serving and no socket
    /// watched (those already listening stay so until the server closes).
    fn start_serving_now(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.serving.get() {
            return Ok(());
        }
        let Some(sockets) = inner.sockets.borrow().clone() else {
            return Err(Error::runtime(format!(
                "server {:?} is closed",
                self.addresses()
            )));
        };
        let started = sockets.iter().try_for_each(|sock| {
            sock.listen(inner.backlog)?;
            accept::watch_listener(inner, sock)
        });
        match started {
            Ok(()) => inner.serving.set(true),
            Err(_) => {
                for sock in &sockets {
                    inner.lp.remove_reader(sock);
                }
            }
        }
        started
    }

    /// Starts accepting connections (a no-op if it already does): the sockets listen from
    /// now on.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// struct Idle;
    /// impl sandloop::Protocol for Idle {}
    /// let opts = sandloop::ServerOptions { start_serving: false, ..Default::default() };
    /// let server = lp.create_server(|| Idle, "127.0.0.1", 8080, opts).await?;
    /// // ... finish setting up, then accept:
    /// server.start_serving().await?;
    /// assert!(server.is_serving());
    /// # Ok(()) }
    /// ```
    pub async fn start_serving(&self) -> Result<()> {
        self.start_serving_now()?;
        crate::sleep(std::time::Duration::ZERO).await
    }

    /// Accepts connections until the server is closed or the task cancelled; ends with
    /// `Error::Cancelled` as asyncio's `serve_forever` raises `CancelledError`.
    ///
    /// asyncio: `await server.serve_forever()`; here its task is cancelled after a minute:
    ///
    /// ```no_run
    /// # async fn demo(server: sandloop::Server) -> sandloop::Result<()> {
    /// use std::time::Duration;
    /// let serving = sandloop::create_task({
    ///     let server = server.clone();
    ///     async move { server.serve_forever().await }
    /// });
    /// sandloop::sleep(Duration::from_secs(60)).await?;
    /// serving.cancel(); // stops serving, closes the server
    /// server.wait_closed().await;
    /// # Ok(()) }
    /// ```
    pub async fn serve_forever(&self) -> Result<()> {
        if self.inner.serving_forever.borrow().is_some() {
            return Err(Error::runtime(format!(
                "server {:?} is already being awaited on serve_forever()",
                self.addresses()
            )));
        }
        if self.inner.sockets.borrow().is_none() {
            return Err(Error::runtime(format!(
                "server {:?} is closed",
                self.addresses()
            )));
        }
        self.start_serving_now()?;
        let fut = self.inner.lp.create_future::<()>();
        *self.inner.serving_forever.borrow_mut() = Some(fut.clone());
        struct Finish<'a>(&'a Server);
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                self.0.inner.serving_forever.borrow_mut().take();
                self.0.close();
            }
        }
        let _finish = Finish(self);
        fut.await
    }

    /// Stops listening: the sockets close, accepted connections stay open.
    ///
    /// ```no_run
    /// # async fn demo(server: sandloop::Server) {
    /// server.close(); // stop listening; accepted connections stay open
    /// server.close_clients(); // close those too
    /// server.wait_closed().await;
    /// assert!(!server.is_serving());
    /// # }
    /// ```
    pub fn close(&self) {
        self.close_sockets(self.inner.cleanup_socket);
    }

    /// [`close`](Server::close), removing the unix socket files the sockets were bound to
    /// if `remove_files` (and they were not replaced).
    fn close_sockets(&self, remove_files: bool) {
        let inner = &self.inner;
        let Some(sockets) = inner.sockets.borrow_mut().take() else {
            return;
        };
        for sock in &sockets {
            inner.lp.remove_reader(sock);
            if remove_files {
                remove_bound_path(sock);
            }
            sock.close();
        }
        inner.serving.set(false);
        if let Some(fut) = inner.serving_forever.borrow_mut().take()
            && !fut.done()
        {
            fut.cancel();
        }
        if inner.clients.borrow().is_empty() {
            inner.wakeup();
        }
    }

    fn clients(&self) -> Vec<Transport> {
        self.inner
            .clients
            .borrow()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .map(|inner| Transport { inner })
            .collect()
    }

    /// Closes every connection the server accepted (their buffers are still sent).
    pub fn close_clients(&self) {
        for t in self.clients() {
            t.close();
        }
    }

    /// Aborts every connection the server accepted.
    pub fn abort_clients(&self) {
        for t in self.clients() {
            t.abort();
        }
    }

    /// Waits until the server is closed and every connection it accepted is gone.
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            let inner = &self.inner;
            if inner.closed_and_idle() {
                inner.wakeup();
            }
            match &mut *inner.waiters.borrow_mut() {
                None => Poll::Ready(()),
                Some(waiters) => {
                    waiters.push(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// asyncio's `async with server:`: runs `body` with the server, then closes the server
    /// and waits until it and its connections are gone, whatever `body` returned.
    ///
    /// ```no_run
    /// # async fn demo(server: sandloop::Server) -> sandloop::Result<()> {
    /// use std::time::Duration;
    /// // Serve for a minute, then close the server and wait for its connections to end.
    /// server
    ///     .scope(|_server| async {
    ///         sandloop::sleep(Duration::from_secs(60)).await
    ///     })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn scope<T, Fut>(self, body: impl FnOnce(Server) -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        let outcome = body(self.clone()).await;
        self.close();
        self.wait_closed().await;
        outcome
    }

    fn addresses(&self) -> Vec<String> {
        self.sockets()
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| a.to_string())
            .collect()
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("sockets", &self.addresses())
            .finish()
    }
}

/// Removes the socket file `sock` was bound to, unless someone replaced it; a failure is
/// logged, as asyncio logs "Unable to clean up listening UNIX socket".
fn remove_bound_path(sock: &Socket) {
    if let Err(err) = sock.with(|s| s.remove_bound_path()) {
        let path = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
        crate::log::log(
            crate::log::Level::Error,
            format_args!("Unable to clean up listening UNIX socket {path:?}: {err}"),
        );
    }
}
