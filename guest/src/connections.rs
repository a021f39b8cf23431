//! Client connections: `create_connection` with Happy Eyeballs (RFC 8305), and
//! `connect_accepted_socket` (asyncio's `base_events.py`).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use crate::dns::AddrInfoHints;
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::net::{AddrInfo, Address, Family, HostPort, SockOpt, Socket, SocketType};
use crate::protocols::Protocol;
use crate::staggered::{Attempt, staggered_race};
use crate::tls::TlsContext;
use crate::transports::TlsSetup;
use crate::transports::Transport;

/// asyncio's keyword arguments of `create_connection`. `Default` gives asyncio's defaults:
/// any family, no local address, no Happy Eyeballs delay (attempts one after another).
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// use std::time::Duration;
/// use sandloop::{ConnectOptions, Protocol};
/// struct Client;
/// impl Protocol for Client {}
/// // asyncio: create_connection(Client, "example.com", 80, happy_eyeballs_delay=0.25)
/// let opts = ConnectOptions {
///     happy_eyeballs_delay: Some(Duration::from_millis(250)),
///     ..Default::default()
/// };
/// let (transport, _client) = lp.create_connection(|| Client, "example.com", 80, opts).await?;
/// transport.close();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Only addresses of this family.
    pub family: Option<Family>,
    /// The protocol number passed to `getaddrinfo` (0: any).
    pub proto: u32,
    /// `AI_*` flags passed to `getaddrinfo`.
    pub flags: i32,
    /// An already connected socket to use instead of connecting (`host` must then be
    /// empty and `port` 0, asyncio's `None`).
    pub sock: Option<Socket>,
    /// Bind the socket to this local address before connecting: a [`HostPort`] as
    /// `create_datagram_endpoint`'s addresses (`"127.0.0.1:0".parse()?`,
    /// `("localhost", 0).into()`, `socket_addr.into()`). A name is resolved, and each
    /// attempt binds to the first of its addresses of the attempt's family.
    pub local_addr: Option<HostPort>,
    /// Happy Eyeballs: start the next attempt when the previous one has not finished after
    /// this long (RFC 8305 recommends 250 ms). `None`: one attempt after another.
    pub happy_eyeballs_delay: Option<Duration>,
    /// Reorder the addresses by family, taking this many of the first family first, then
    /// alternating (RFC 8305 §4). `None`: 1 when `happy_eyeballs_delay` is set, else 0.
    pub interleave: Option<usize>,
    /// When every attempt fails, return all their errors as `Error::Group` instead of one.
    pub all_errors: bool,
    /// TLS over the connection with these settings (a client [`TlsContext`]); the call
    /// returns once the handshake completed.
    pub ssl: Option<TlsContext>,
    /// The name TLS sends (SNI) and checks the certificate against; default: `host`.
    /// `Some("")` checks no name, an explicit opt-out (only with `ssl`).
    pub server_hostname: Option<String>,
    /// How long the TLS handshake may take (default 60 s; only with `ssl`).
    pub ssl_handshake_timeout: Option<Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s; only with
    /// `ssl`).
    pub ssl_shutdown_timeout: Option<Duration>,
}

/// asyncio's keyword arguments of `connect_accepted_socket`; `Default`: no TLS.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop, sock: sandloop::net::Socket) -> sandloop::Result<()> {
/// use std::path::Path;
/// use sandloop::tls::TlsContext;
/// struct Session;
/// impl sandloop::Protocol for Session {}
/// let ctx = TlsContext::server();
/// ctx.load_cert_chain(Path::new("/certs/server.pem"), Some(Path::new("/certs/server.key")))?;
/// let opts = sandloop::AcceptedSocketOptions { ssl: Some(ctx), ..Default::default() };
/// let (transport, _session) = lp.connect_accepted_socket(|| Session, sock, opts).await?;
/// # let _ = transport;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct AcceptedSocketOptions {
    /// TLS over the connection, taking the server's part (a server [`TlsContext`]).
    pub ssl: Option<TlsContext>,
    /// How long the TLS handshake may take (default 60 s; only with `ssl`).
    pub ssl_handshake_timeout: Option<Duration>,
    /// How long `close` waits for the peer's `close_notify` (default 30 s; only with
    /// `ssl`).
    pub ssl_shutdown_timeout: Option<Duration>,
}

/// RFC 8305 §4: the first `first_family_count` addresses of the first family, then one of
/// each family in turn.
pub(crate) fn interleave_addrinfos(
    infos: Vec<AddrInfo>,
    first_family_count: usize,
) -> Vec<AddrInfo> {
    let mut families: Vec<(Family, std::collections::VecDeque<AddrInfo>)> = Vec::new();
    for info in infos {
        match families.iter_mut().find(|(f, _)| *f == info.family) {
            Some((_, list)) => list.push_back(info),
            None => families.push((info.family, [info].into())),
        }
    }
    let mut out = Vec::new();
    if first_family_count > 1
        && let Some((_, first)) = families.first_mut()
    {
        for _ in 0..first_family_count - 1 {
            match first.pop_front() {
                Some(info) => out.push(info),
                None => break,
            }
        }
    }
    loop {
        let mut any = false;
        for (_, list) in families.iter_mut() {
            if let Some(info) = list.pop_front() {
                out.push(info);
                any = true;
            }
        }
        if !any {
            return out;
        }
    }
}

/// One error for a failed set of attempts, as asyncio reports it: the error itself if there
/// was one (or all read the same), else "Multiple exceptions: ...".
fn combine_errors(mut errors: Vec<Error>, all_errors: bool) -> Error {
    if all_errors {
        return Error::Group(errors);
    }
    if errors.len() == 1 {
        return errors.remove(0);
    }
    let first = errors[0].to_string();
    if errors.iter().all(|e| e.to_string() == first) {
        return errors.remove(0);
    }
    let joined: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    Error::Os(io::Error::other(format!(
        "Multiple exceptions: {}",
        joined.join(", ")
    )))
}

impl EventLoop {
    /// Connects to `host`:`port` and runs a protocol made by `factory` on the connection
    /// (asyncio's `create_connection`).
    ///
    /// The host resolves the name; the addresses are tried as RFC 8305 says when
    /// `happy_eyeballs_delay` is set, else one after another. `TCP_NODELAY` is on. The
    /// future resolves once `connection_made` has run: with `ssl`, after the TLS
    /// handshake, whose failure (`Error::Tls`, or the timeout's `ConnectionAborted`) is
    /// the call's.
    ///
    /// asyncio: `transport, protocol = await loop.create_connection(factory, host, port)`.
    ///
    /// ```no_run
    /// use sandloop::{ConnectOptions, Protocol, Transport};
    ///
    /// struct Hello;
    ///
    /// impl Protocol for Hello {
    ///     fn connection_made(&mut self, transport: &Transport) {
    ///         transport.write(b"GET / HTTP/1.0\r\n\r\n");
    ///     }
    ///     fn data_received(&mut self, data: &[u8]) {
    ///         print!("{}", String::from_utf8_lossy(data));
    ///     }
    /// }
    ///
    /// sandloop::run(async {
    ///     let lp = sandloop::get_running_loop()?;
    ///     let (transport, _hello) =
    ///         lp.create_connection(|| Hello, "127.0.0.1", 8080, ConnectOptions::default()).await?;
    ///     println!("connected to {:?}", transport.peername());
    ///     Ok::<_, sandloop::Error>(())
    /// })?;
    /// # Ok::<_, sandloop::Error>(())
    /// ```
    pub async fn create_connection<P, F>(
        &self,
        factory: F,
        host: &str,
        port: u16,
        opts: ConnectOptions,
    ) -> Result<(Transport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let tls = TlsSetup::client(
            opts.ssl.as_ref(),
            opts.server_hostname.as_deref(),
            Some(host),
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        let sock = match &opts.sock {
            Some(sock) => {
                if !host.is_empty() || port != 0 {
                    return Err(Error::Os(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "host/port and sock can not be specified at the same time",
                    )));
                }
                sock.clone()
            }
            None => self.connect_host(host, port, &opts).await?,
        };
        self.create_connection_transport(sock, factory, tls).await
    }

    /// Resolves and connects, staggered as `opts` says.
    async fn connect_host(&self, host: &str, port: u16, opts: &ConnectOptions) -> Result<Socket> {
        let hints = AddrInfoHints {
            family: opts.family,
            socktype: Some(SocketType::Stream),
            protocol: opts.proto,
            flags: opts.flags,
        };
        let port_text = port.to_string();
        let host = (!host.is_empty()).then_some(host);
        let mut infos = self.getaddrinfo(host, Some(&port_text), hints).await?;
        if infos.is_empty() {
            return Err(Error::Os(io::Error::other(
                "getaddrinfo() returned empty list",
            )));
        }
        let interleave = opts
            .interleave
            .unwrap_or(usize::from(opts.happy_eyeballs_delay.is_some()));
        if interleave > 0 {
            infos = interleave_addrinfos(infos, interleave);
        }
        let locals = match &opts.local_addr {
            Some(local) => Some(self.resolve_local(local, &hints).await?),
            None => None,
        };
        let locals = locals.as_deref();
        let attempts = infos.into_iter().map(|info| {
            let lp = self.clone();
            Box::pin(async move { lp.connect_one(&info, locals).await }) as Attempt<'_, Socket>
        });
        staggered_race(attempts, opts.happy_eyeballs_delay)
            .await
            .map_err(|errors| combine_errors(errors, opts.all_errors))
    }

    /// The IP addresses of `local_addr`: the literal itself, or what its name resolves to
    /// (asyncio resolves `local_addr` as it does the remote host).
    async fn resolve_local(
        &self,
        local: &HostPort,
        hints: &AddrInfoHints,
    ) -> Result<Vec<SocketAddr>> {
        if let Some(sa) = local.as_socket_addr() {
            return Ok(vec![sa]);
        }
        let port = local.port.to_string();
        let host = (!local.host.is_empty()).then_some(local.host.as_str());
        let infos = self.getaddrinfo(host, Some(&port), *hints).await?;
        let addrs: Vec<SocketAddr> = infos.iter().filter_map(|i| i.address.as_inet()).collect();
        if addrs.is_empty() {
            return Err(Error::Os(io::Error::other(format!(
                "getaddrinfo() returned no address for local_addr {local}"
            ))));
        }
        Ok(addrs)
    }

    /// One attempt: a socket of the address's family, bound to the first of `locals` of
    /// that family if given, connected.
    async fn connect_one(&self, info: &AddrInfo, locals: Option<&[SocketAddr]>) -> Result<Socket> {
        let sock = Socket::new(info.family, SocketType::Stream)?;
        if let Some(locals) = locals {
            let Some(&local) = locals.iter().find(|l| Family::of(l) == info.family) else {
                sock.close();
                return Err(Error::Os(io::Error::new(
                    io::ErrorKind::AddrNotAvailable,
                    format!(
                        "local address {} is not of the family of {}",
                        locals[0], info.address
                    ),
                )));
            };
            sock.bind(local)
                .map_err(|e| annotate(e, "bind", &Address::Inet(local)))?;
        }
        match self.sock_connect(&sock, info.address.clone()).await {
            Ok(()) => Ok(sock),
            Err(err) => {
                sock.close();
                Err(annotate(err, "connect", &info.address))
            }
        }
    }

    /// Runs a protocol on a connected socket and waits for `connection_made` (with
    /// `tls`, for the handshake, which calls it).
    pub(crate) async fn create_connection_transport<P, F>(
        &self,
        sock: Socket,
        factory: F,
        tls: Option<TlsSetup>,
    ) -> Result<(Transport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        if matches!(sock.family()?, Family::Inet | Family::Inet6) {
            sock.set_option(SockOpt::NoDelay(true))?;
        }
        let protocol = Rc::new(RefCell::new(factory()));
        if let Some(setup) = tls {
            let (transport, waiter) =
                Transport::open_tls(self, &sock, protocol.clone(), &setup, true)?;
            if let Some(waiter) = waiter {
                let guard = crate::transports::HandshakeGuard::new(&transport);
                let outcome = waiter.await;
                guard.disarm();
                outcome?;
            }
            return Ok((transport, protocol));
        }
        let transport = Transport::open(self, &sock, protocol.clone())?;
        // connection_made was scheduled before this task's next step: it has run once the
        // task resumes.
        crate::sleep(Duration::ZERO).await?;
        Ok((transport, protocol))
    }

    /// Runs a protocol on a socket accepted outside the loop (asyncio's
    /// `connect_accepted_socket`); with `opts.ssl`, as the server of a TLS handshake,
    /// returning once it completed.
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// use std::net::SocketAddr;
    /// use sandloop::net::{Family, Socket, SocketType};
    /// struct Session;
    /// impl sandloop::Protocol for Session {}
    /// let listener = Socket::new(Family::Inet, SocketType::Stream)?;
    /// listener.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    /// listener.listen(16)?;
    /// let (sock, peer) = lp.sock_accept(&listener).await?;
    /// println!("{peer} connected");
    /// let (transport, _session) = lp
    ///     .connect_accepted_socket(|| Session, sock, sandloop::AcceptedSocketOptions::default())
    ///     .await?;
    /// # let _ = transport;
    /// # Ok(()) }
    /// ```
    pub async fn connect_accepted_socket<P, F>(
        &self,
        factory: F,
        sock: Socket,
        opts: AcceptedSocketOptions,
    ) -> Result<(Transport, Rc<RefCell<P>>)>
    where
        P: Protocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        let tls = TlsSetup::server(
            opts.ssl.as_ref(),
            opts.ssl_handshake_timeout,
            opts.ssl_shutdown_timeout,
        )?;
        self.create_connection_transport(sock, factory, tls).await
    }
}

/// Adds the operation and address to an OS error that lacks them, as asyncio does
/// ("[Errno 111] Connect call failed ('127.0.0.1', 1)").
fn annotate(err: Error, op: &str, addr: &Address) -> Error {
    match err {
        Error::Os(e) => {
            let text = e.to_string();
            if text.contains(&addr.to_string()) {
                Error::Os(e)
            } else {
                Error::Os(io::Error::new(e.kind(), format!("{op} {addr}: {text}")))
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(addr: &str) -> AddrInfo {
        let address: SocketAddr = addr.parse().unwrap();
        AddrInfo {
            family: Family::of(&address),
            socktype: SocketType::Stream,
            protocol: 6,
            canonname: String::new(),
            address: Address::Inet(address),
        }
    }

    fn order(infos: &[AddrInfo]) -> Vec<String> {
        infos.iter().map(|i| i.address.to_string()).collect()
    }

    #[test]
    fn interleave_alternates_families_after_the_first_count() {
        let infos = vec![
            info("[::1]:1"),
            info("[::2]:1"),
            info("[::3]:1"),
            info("127.0.0.1:1"),
            info("127.0.0.2:1"),
        ];
        assert_eq!(
            order(&interleave_addrinfos(infos.clone(), 1)),
            [
                "[::1]:1",
                "127.0.0.1:1",
                "[::2]:1",
                "127.0.0.2:1",
                "[::3]:1"
            ]
        );
        assert_eq!(
            order(&interleave_addrinfos(infos, 2)),
            [
                "[::1]:1",
                "[::2]:1",
                "127.0.0.1:1",
                "[::3]:1",
                "127.0.0.2:1"
            ]
        );
    }

    #[test]
    fn errors_combine_as_asyncio_reports_them() {
        let same = || Error::Os(io::Error::new(io::ErrorKind::ConnectionRefused, "refused"));
        assert!(matches!(
            combine_errors(vec![same(), same()], false),
            Error::Os(_)
        ));
        let mixed = combine_errors(vec![same(), Error::Timeout], false);
        assert!(mixed.to_string().starts_with("Multiple exceptions: "));
        assert!(
            matches!(combine_errors(vec![same(), same()], true), Error::Group(v) if v.len() == 2)
        );
    }
}
