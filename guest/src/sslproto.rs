//! TLS for transports and streams: the `ssl` arguments of the connection and server
//! calls, and `start_tls` (asyncio's `sslproto.py` and the TLS parts of
//! `base_events.py`).
//!
//! The host runs rustls under a completion-mode stream (see `wit/tls.wit`): a TLS
//! transport is always in completion mode, also on a `SelectorEventLoop`, whose
//! readiness-mode socket goes to the host for it. The transport half (handshake, close,
//! and the [`TlsSetup`] a transport starts TLS with) is in `transports/tls.rs`; this file
//! checks the arguments into a `TlsSetup`, and runs `start_tls`.

use std::io;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::tls::TlsContext;
use crate::transports::{HandshakeGuard, SharedProtocol, TlsSetup, Transport};

/// asyncio's default `ssl_handshake_timeout`.
pub const SSL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// asyncio's default `ssl_shutdown_timeout`.
pub const SSL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// asyncio's keyword arguments of `start_tls`; `Default` gives asyncio's defaults (a
/// client, the timeouts of 60 s and 30 s).
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop, t: sandloop::Transport, p: sandloop::SharedProtocol) -> sandloop::Result<()> {
/// use std::path::Path;
/// use std::time::Duration;
/// use sandloop::TlsOptions;
/// use sandloop::tls::TlsContext;
/// // The server's side of STARTTLS, with a shorter handshake limit than asyncio's 60 s.
/// let ctx = TlsContext::server();
/// ctx.load_cert_chain(Path::new("/certs/mail.pem"), Some(Path::new("/certs/mail.key")))?;
/// let opts = TlsOptions {
///     server_side: true,
///     ssl_handshake_timeout: Some(Duration::from_secs(10)),
///     ..Default::default()
/// };
/// let tls = lp.start_tls(&t, p, ctx, opts).await?;
/// # let _ = tls;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Take the server's part of the handshake (the context must be a server context).
    pub server_side: bool,
    /// The name a client sends (SNI) and checks the certificate against. Required by a
    /// client context that checks hostnames; `Some("")` turns the check off for this
    /// connection only (the explicit opt-out of Python's `server_hostname=''`).
    pub server_hostname: Option<String>,
    /// How long the handshake may take (default 60 s).
    pub ssl_handshake_timeout: Option<Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s).
    pub ssl_shutdown_timeout: Option<Duration>,
}

fn invalid_input(msg: impl Into<String>) -> Error {
    Error::Os(io::Error::new(io::ErrorKind::InvalidInput, msg.into()))
}

/// asyncio's rule: the TLS arguments mean nothing without `ssl`.
fn check_without_ssl(
    server_hostname: Option<&str>,
    handshake_timeout: Option<Duration>,
    shutdown_timeout: Option<Duration>,
) -> Result<()> {
    if server_hostname.is_some() {
        return Err(invalid_input("server_hostname is only meaningful with ssl"));
    }
    if handshake_timeout.is_some() {
        return Err(invalid_input(
            "ssl_handshake_timeout is only meaningful with ssl",
        ));
    }
    if shutdown_timeout.is_some() {
        return Err(invalid_input(
            "ssl_shutdown_timeout is only meaningful with ssl",
        ));
    }
    Ok(())
}

fn check_timeout(name: &str, timeout: Option<Duration>, default: Duration) -> Result<Duration> {
    match timeout {
        Some(t) if t.is_zero() => Err(invalid_input(format!(
            "{name} should be a positive number, got {}",
            t.as_secs_f64()
        ))),
        Some(t) => Ok(t),
        None => Ok(default),
    }
}

/// The checked constructors of [`TlsSetup`] (the type is the transports', which start TLS
/// with it).
impl TlsSetup {
    fn new(
        context: TlsContext,
        server_side: bool,
        server_hostname: Option<String>,
        handshake_timeout: Option<Duration>,
        shutdown_timeout: Option<Duration>,
    ) -> Result<TlsSetup> {
        if server_side != context.is_server() {
            return Err(invalid_input(if server_side {
                "a server needs a server TlsContext (TlsContext::server())"
            } else {
                "a client needs a client TlsContext (TlsContext::client())"
            }));
        }
        if server_side && server_hostname.is_some() {
            return Err(invalid_input(
                "server_hostname is only meaningful for a client",
            ));
        }
        Ok(TlsSetup {
            context,
            server_side,
            server_hostname,
            handshake_timeout: check_timeout(
                "ssl_handshake_timeout",
                handshake_timeout,
                SSL_HANDSHAKE_TIMEOUT,
            )?,
            shutdown_timeout: check_timeout(
                "ssl_shutdown_timeout",
                shutdown_timeout,
                SSL_SHUTDOWN_TIMEOUT,
            )?,
        })
    }

    /// The client side of `create_connection` and `create_unix_connection`: `None`
    /// without `ssl` (then every other TLS argument is an error). With `ssl` and no
    /// `server_hostname`, `default_host` (the host connected to) is the name; with
    /// neither, a context that checks hostnames is an error, as in asyncio.
    pub(crate) fn client(
        ssl: Option<&TlsContext>,
        server_hostname: Option<&str>,
        default_host: Option<&str>,
        handshake_timeout: Option<Duration>,
        shutdown_timeout: Option<Duration>,
    ) -> Result<Option<TlsSetup>> {
        let Some(ctx) = ssl else {
            check_without_ssl(server_hostname, handshake_timeout, shutdown_timeout)?;
            return Ok(None);
        };
        let name = server_hostname
            .or(default_host.filter(|h| !h.is_empty()))
            .map(str::to_owned);
        if name.is_none() && ctx.check_hostname() {
            return Err(invalid_input(
                "You must set server_hostname when using ssl without a host",
            ));
        }
        TlsSetup::new(
            ctx.clone(),
            false,
            name,
            handshake_timeout,
            shutdown_timeout,
        )
        .map(Some)
    }

    /// The server side (`create_server`, `create_unix_server`,
    /// `connect_accepted_socket`): `None` without `ssl`.
    pub(crate) fn server(
        ssl: Option<&TlsContext>,
        handshake_timeout: Option<Duration>,
        shutdown_timeout: Option<Duration>,
    ) -> Result<Option<TlsSetup>> {
        let Some(ctx) = ssl else {
            check_without_ssl(None, handshake_timeout, shutdown_timeout)?;
            return Ok(None);
        };
        let setup = TlsSetup::new(ctx.clone(), true, None, handshake_timeout, shutdown_timeout)?;
        // A server without a certificate fails here, not at the first client.
        setup.host_context()?;
        Ok(Some(setup))
    }
}

impl EventLoop {
    /// Upgrades the connection of `transport` to TLS (asyncio's `start_tls`): STARTTLS
    /// in the middle of a plaintext protocol. Returns once the handshake completed, with
    /// a new transport bound to `protocol` (its `connection_made` is not called: the
    /// caller has both already); `transport` is detached and reports nothing more.
    ///
    /// What was written on `transport` before goes out first, in plaintext (a STARTTLS
    /// reply, say); reading stops at the call, so bytes the peer sends after its own
    /// switch are read as TLS. On a `SelectorEventLoop` the transport's buffer is sent
    /// first, then its socket goes to the host as a completion-mode stream. A failed
    /// or timed-out handshake (`ssl_handshake_timeout`, 60 s by default) is the error,
    /// and the connection is closed.
    ///
    /// ```no_run
    /// # async fn f(lp: sandloop::EventLoop, t: sandloop::Transport, p: sandloop::SharedProtocol) -> sandloop::Result<()> {
    /// use sandloop::{TlsOptions, tls::TlsContext};
    /// let ctx = TlsContext::client();
    /// let opts = TlsOptions { server_hostname: Some("mail.example".into()), ..Default::default() };
    /// let tls = lp.start_tls(&t, p, ctx, opts).await?;
    /// tls.write(b"EHLO me\r\n");
    /// # Ok(()) }
    /// ```
    pub async fn start_tls(
        &self,
        transport: &Transport,
        protocol: SharedProtocol,
        context: TlsContext,
        opts: TlsOptions,
    ) -> Result<Transport> {
        self.check_closed()?;
        if !opts.server_side && opts.server_hostname.is_none() && context.check_hostname() {
            return Err(invalid_input(
                "start_tls: a client context that checks hostnames needs server_hostname",
            ));
        }
        let setup = TlsSetup::new(
            context,
            opts.server_side,
            opts.server_hostname,
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        let (tls_transport, waiter) = transport.inner.upgrade_to_tls(protocol, &setup).await?;
        let guard = HandshakeGuard::new(&tls_transport);
        let outcome = waiter.await;
        guard.disarm();
        outcome?;
        Ok(tls_transport)
    }
}
