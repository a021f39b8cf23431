//! TLS settings (Python's `ssl.SSLContext`) and what a handshake settled (the parts of
//! `ssl.SSLObject` asyncio exposes).
//!
//! TLS runs in the host (rustls): a [`TlsContext`] only gathers settings, and the host
//! configuration is built from them at first use and cached until a setting changes. A
//! transport with TLS hands its bytes to the host in plaintext; see `sslproto.rs`.
//!
//! ```no_run
//! # async fn f(lp: sandloop::EventLoop) -> sandloop::Result<()> {
//! use sandloop::tls::TlsContext;
//! let ctx = TlsContext::client();
//! ctx.load_verify_locations(Some("/certs/ca.pem".as_ref()), None)?;
//! ctx.set_alpn_protocols(&["http/1.1"])?;
//! # Ok(()) }
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::path::Path;
use std::rc::Rc;

use crate::error::{Error, Result};
pub use crate::sys::tls::TlsInfo;
use crate::sys::tls::{ClientAuth, ClientConfig, HostTlsContext, IdentityPem, ServerConfig};

/// How a context checks the peer's certificate (Python's `ssl.VerifyMode`).
///
/// A server that asks every client for a certificate (mutual TLS):
///
/// ```no_run
/// use std::path::Path;
/// use sandloop::tls::{TlsContext, VerifyMode};
/// let ctx = TlsContext::server();
/// ctx.load_cert_chain(Path::new("/certs/server.pem"), Some(Path::new("/certs/server.key")))?;
/// ctx.load_verify_locations(Some(Path::new("/certs/clients-ca.pem")), None)?;
/// ctx.set_verify_mode(VerifyMode::Required)?;
/// assert_eq!(ctx.verify_mode(), VerifyMode::Required);
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyMode {
    /// `CERT_NONE`: a client accepts any certificate; a server asks for none.
    None,
    /// `CERT_OPTIONAL`: a server asks for a client certificate and checks one that is
    /// given; on a client it is the same as `Required` (as in Python).
    Optional,
    /// `CERT_REQUIRED`: the peer must present a certificate that chains to a trusted one.
    Required,
}

/// A certificate chain and its key, PEM.
#[derive(Clone)]
struct Identity {
    cert_chain: Vec<u8>,
    key: Vec<u8>,
}

#[derive(Clone)]
struct Settings {
    ca_pem: Vec<Vec<u8>>,
    system_roots: bool,
    check_hostname: bool,
    verify_mode: VerifyMode,
    alpn: Vec<Vec<u8>>,
    identity: Option<Identity>,
}

struct ContextInner {
    server_side: bool,
    settings: RefCell<Settings>,
    /// The host configuration for these settings, once built.
    host: RefCell<Option<Rc<HostTlsContext>>>,
    /// The same with hostname checking off, for a client connection whose
    /// `server_hostname` is `""` (the explicit opt-out).
    host_any_name: RefCell<Option<Rc<HostTlsContext>>>,
}

/// TLS settings shared by connections: Python's `ssl.SSLContext`. A cheap handle (`Rc`
/// inside): clones share the settings, and a change applies to connections started
/// afterwards.
///
/// [`TlsContext::client`] is `ssl.create_default_context()`: the host's root store,
/// certificates verified, hostnames checked. [`TlsContext::server`] needs
/// [`TlsContext::load_cert_chain`] (or `_pem`) before use.
///
/// asyncio: `ssl.create_default_context()` passed as `ssl=` to `create_connection`:
///
/// ```no_run
/// use sandloop::tls::TlsContext;
/// use sandloop::{ConnectOptions, Protocol, Transport};
///
/// struct Get;
/// impl Protocol for Get {
///     fn connection_made(&mut self, t: &Transport) {
///         t.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
///     }
///     fn data_received(&mut self, data: &[u8]) {
///         print!("{}", String::from_utf8_lossy(data));
///     }
/// }
///
/// sandloop::run(async {
///     let lp = sandloop::get_running_loop()?;
///     let opts = ConnectOptions { ssl: Some(TlsContext::client()), ..Default::default() };
///     let (transport, _get) = lp.create_connection(|| Get, "example.com", 443, opts).await?;
///     # let _ = transport;
///     Ok::<_, sandloop::Error>(())
/// })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
#[derive(Clone)]
pub struct TlsContext {
    inner: Rc<ContextInner>,
}

/// Identity: clones of the same context (settings changed through one show in all).
impl PartialEq for TlsContext {
    fn eq(&self, other: &TlsContext) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for TlsContext {}

impl fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.settings.borrow();
        f.debug_struct("TlsContext")
            .field("server_side", &self.inner.server_side)
            .field("verify_mode", &s.verify_mode)
            .field("check_hostname", &s.check_hostname)
            .finish()
    }
}

fn invalid_input(msg: impl Into<String>) -> Error {
    Error::Os(io::Error::new(io::ErrorKind::InvalidInput, msg.into()))
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Os(io::Error::new(
            e.kind(),
            format!("{what} {}: {e}", path.display()),
        ))
    })
}

impl TlsContext {
    fn new(server_side: bool, settings: Settings) -> TlsContext {
        TlsContext {
            inner: Rc::new(ContextInner {
                server_side,
                settings: RefCell::new(settings),
                host: RefCell::new(None),
                host_any_name: RefCell::new(None),
            }),
        }
    }

    /// A client context, as `ssl.create_default_context()` makes it: trusts the host's
    /// root store, verifies certificates (`VerifyMode::Required`) and checks hostnames.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use sandloop::tls::TlsContext;
    /// let ctx = TlsContext::client();
    /// // Also trust a private CA (asyncio: ctx.load_verify_locations("ca.pem")).
    /// ctx.load_verify_locations(Some(Path::new("/certs/ca.pem")), None)?;
    /// ctx.set_alpn_protocols(&["h2", "http/1.1"])?;
    /// assert!(ctx.check_hostname() && !ctx.is_server());
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub fn client() -> TlsContext {
        TlsContext::new(
            false,
            Settings {
                ca_pem: Vec::new(),
                system_roots: true,
                check_hostname: true,
                verify_mode: VerifyMode::Required,
                alpn: Vec::new(),
                identity: None,
            },
        )
    }

    /// A server context (`ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)`): asks
    /// clients for no certificate (`VerifyMode::None`), checks no hostname. Give it a
    /// certificate with [`TlsContext::load_cert_chain`] before use.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::path::Path;
    /// use sandloop::tls::TlsContext;
    /// struct Https;
    /// impl sandloop::Protocol for Https {}
    /// let ctx = TlsContext::server();
    /// ctx.load_cert_chain(Path::new("/certs/site.pem"), Some(Path::new("/certs/site.key")))?;
    /// let opts = sandloop::ServerOptions { ssl: Some(ctx), ..Default::default() };
    /// let server = lp.create_server(|| Https, "0.0.0.0", 8443, opts).await?;
    /// # let _ = server;
    /// # Ok(()) }
    /// ```
    pub fn server() -> TlsContext {
        TlsContext::new(
            true,
            Settings {
                ca_pem: Vec::new(),
                system_roots: false,
                check_hostname: false,
                verify_mode: VerifyMode::None,
                alpn: Vec::new(),
                identity: None,
            },
        )
    }

    /// Whether this is a server context.
    pub fn is_server(&self) -> bool {
        self.inner.server_side
    }

    /// Changes the settings; the host configuration is rebuilt at next use. When
    /// `validate`, it is built now, and a failure restores the old settings.
    fn change(&self, validate: bool, f: impl FnOnce(&mut Settings)) -> Result<()> {
        let old = self.inner.settings.borrow().clone();
        f(&mut self.inner.settings.borrow_mut());
        self.inner.host.borrow_mut().take();
        self.inner.host_any_name.borrow_mut().take();
        if validate && let Err(err) = self.host_context(false) {
            *self.inner.settings.borrow_mut() = old;
            self.inner.host.borrow_mut().take();
            return Err(err);
        }
        Ok(())
    }

    /// Trusts the certificates of `cafile` (a PEM file the workload can read: a preopened
    /// directory) and of `cadata` (PEM). At least one must be given. On a server
    /// context they are what client certificates must chain to.
    pub fn load_verify_locations(
        &self,
        cafile: Option<&Path>,
        cadata: Option<&[u8]>,
    ) -> Result<()> {
        if cafile.is_none() && cadata.is_none() {
            return Err(invalid_input("cafile and cadata cannot be both omitted"));
        }
        let mut bundles = Vec::new();
        if let Some(path) = cafile {
            bundles.push(read_file(path, "load_verify_locations: cafile")?);
        }
        if let Some(data) = cadata {
            bundles.push(data.to_vec());
        }
        let validate = !self.inner.server_side || self.inner.settings.borrow().identity.is_some();
        self.change(validate, |s| s.ca_pem.extend(bundles))
    }

    /// Trusts the host's root store (the operating system's certificates) as well.
    pub fn load_default_certs(&self) -> Result<()> {
        self.change(false, |s| s.system_roots = true)
    }

    /// Presents the certificate chain of `certfile` (PEM, the leaf first) with the
    /// private key of `keyfile`, or of `certfile` itself when `keyfile` is `None`. A key
    /// that does not match the certificate is `Os(InvalidInput)`.
    pub fn load_cert_chain(&self, certfile: &Path, keyfile: Option<&Path>) -> Result<()> {
        let cert = read_file(certfile, "load_cert_chain: certfile")?;
        let key = match keyfile {
            Some(path) => read_file(path, "load_cert_chain: keyfile")?,
            None => cert.clone(),
        };
        self.load_cert_chain_pem(&cert, &key)
    }

    /// [`TlsContext::load_cert_chain`] from PEM bytes.
    pub fn load_cert_chain_pem(&self, cert_chain: &[u8], key: &[u8]) -> Result<()> {
        let identity = Identity {
            cert_chain: cert_chain.to_vec(),
            key: key.to_vec(),
        };
        self.change(true, |s| s.identity = Some(identity))
    }

    /// The protocols offered (client) or accepted (server) with ALPN, in order of
    /// preference. Each name is 1 to 255 bytes.
    pub fn set_alpn_protocols(&self, protocols: &[&str]) -> Result<()> {
        if let Some(bad) = protocols.iter().find(|p| p.is_empty() || p.len() > 255) {
            return Err(invalid_input(format!(
                "ALPN protocol names are 1 to 255 bytes long, got {bad:?}"
            )));
        }
        let alpn = protocols.iter().map(|p| p.as_bytes().to_vec()).collect();
        self.change(false, |s| s.alpn = alpn)
    }

    /// Whether a client checks that the server's certificate names the server.
    pub fn check_hostname(&self) -> bool {
        self.inner.settings.borrow().check_hostname
    }

    /// Turns hostname checking on or off. Turning it on also sets
    /// `VerifyMode::Required` when verification was off, as Python does.
    pub fn set_check_hostname(&self, on: bool) {
        let _ = self.change(false, |s| {
            s.check_hostname = on;
            if on && s.verify_mode == VerifyMode::None {
                s.verify_mode = VerifyMode::Required;
            }
        });
    }

    /// How the peer's certificate is checked.
    pub fn verify_mode(&self) -> VerifyMode {
        self.inner.settings.borrow().verify_mode
    }

    /// Sets how the peer's certificate is checked. `VerifyMode::None` while
    /// `check_hostname` is on is an error, as in Python ("Cannot set verify_mode to
    /// CERT_NONE when check_hostname is enabled"): turn hostname checking off first.
    pub fn set_verify_mode(&self, mode: VerifyMode) -> Result<()> {
        if mode == VerifyMode::None && self.check_hostname() {
            return Err(invalid_input(
                "Cannot set verify_mode to CERT_NONE when check_hostname is enabled.",
            ));
        }
        self.change(false, |s| s.verify_mode = mode)
    }

    /// The host configuration for the current settings, built at first use; with
    /// `any_name`, a client's with hostname checking off (`server_hostname=""`).
    pub(crate) fn host_context(&self, any_name: bool) -> Result<Rc<HostTlsContext>> {
        let slot = if any_name {
            &self.inner.host_any_name
        } else {
            &self.inner.host
        };
        if let Some(ctx) = &*slot.borrow() {
            return Ok(ctx.clone());
        }
        let s = self.inner.settings.borrow();
        let identity = s.identity.as_ref().map(|id| IdentityPem {
            cert_chain: &id.cert_chain,
            key: &id.key,
        });
        let ctx = if self.inner.server_side {
            let identity = identity.ok_or_else(|| {
                invalid_input("a server TlsContext needs a certificate: call load_cert_chain first")
            })?;
            HostTlsContext::server(&ServerConfig {
                identity,
                alpn: &s.alpn,
                client_auth: match s.verify_mode {
                    VerifyMode::None => ClientAuth::None,
                    VerifyMode::Optional => ClientAuth::Optional,
                    VerifyMode::Required => ClientAuth::Required,
                },
                client_ca_pem: &s.ca_pem,
            })?
        } else {
            HostTlsContext::client(&ClientConfig {
                ca_pem: &s.ca_pem,
                system_roots: s.system_roots,
                verify: s.verify_mode != VerifyMode::None,
                check_hostname: s.check_hostname && !any_name,
                alpn: &s.alpn,
                identity,
            })?
        };
        let ctx = Rc::new(ctx);
        *slot.borrow_mut() = Some(ctx.clone());
        Ok(ctx)
    }
}
