//! `create_datagram_endpoint` (asyncio's `base_events.py`).

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use super::DatagramTransport;
use crate::dns::AddrInfoHints;
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::net::{Address, Family, HostPort, SockOpt, Socket, SocketType};
use crate::protocols::DatagramProtocol;

/// asyncio's keyword arguments of `create_datagram_endpoint`. `Default` gives asyncio's
/// defaults: no addresses, any family, no options.
///
/// Addresses are `(host, port)` pairs, as asyncio's tuples, resolved with the loop's
/// [`getaddrinfo`](EventLoop::getaddrinfo) (an empty host: the host's default). Where
/// both are given, the endpoint uses the first family both resolve in.
///
/// ```no_run
/// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
/// struct Echo;
/// impl sandloop::DatagramProtocol for Echo {}
/// let (transport, _protocol) = lp
///     .create_datagram_endpoint(
///         || Echo,
///         sandloop::DatagramOptions {
///             local_addr: Some(("127.0.0.1", 9999).into()),
///             ..Default::default()
///         },
///     )
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct DatagramOptions {
    /// Bind to this local address (the policy's udp bind rules apply; port 0: any free
    /// port).
    /// A [`HostPort`], as [`crate::ConnectOptions::local_addr`]: `"127.0.0.1:0".parse()?`,
    /// `("localhost", 9999).into()`, `socket_addr.into()`.
    pub local_addr: Option<HostPort>,
    /// Connect to this remote address: it becomes the default and only target of
    /// `sendto`, and only its datagrams are received (the policy's udp send rules apply).
    pub remote_addr: Option<HostPort>,
    /// Only addresses of this family; required when neither address is given.
    pub family: Option<Family>,
    /// The protocol number passed to `getaddrinfo` (0: any).
    pub proto: u32,
    /// `AI_*` flags passed to `getaddrinfo`.
    pub flags: i32,
    /// Refused when `Some(true)`: SO_REUSEADDR on UDP lets another process take the
    /// endpoint's datagrams, which is why asyncio refuses it since 3.8.1. `Some(false)` is
    /// accepted and changes nothing.
    pub reuse_address: Option<bool>,
    /// SO_REUSEPORT: endpoints of the same user may bind the same address and share its
    /// datagrams.
    pub reuse_port: bool,
    /// SO_BROADCAST: the endpoint may send to broadcast addresses. With `remote_addr`,
    /// the socket is then not connected: `remote_addr` is only the default target.
    pub allow_broadcast: bool,
    /// An existing datagram socket to use, instead of making one. It excludes every
    /// other option.
    pub sock: Option<Socket>,
}

fn invalid_input(msg: impl Into<String>) -> Error {
    Error::Os(io::Error::new(io::ErrorKind::InvalidInput, msg.into()))
}

/// The options that make no sense with `sock`, as asyncio names them in its error.
fn conflicts_with_sock(opts: &DatagramOptions) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(HostPort { host, port }) = &opts.local_addr {
        problems.push(format!("local_addr=({host:?}, {port})"));
    }
    if let Some(HostPort { host, port }) = &opts.remote_addr {
        problems.push(format!("remote_addr=({host:?}, {port})"));
    }
    if let Some(family) = opts.family {
        problems.push(format!("family={family:?}"));
    }
    if opts.proto != 0 {
        problems.push(format!("proto={}", opts.proto));
    }
    if opts.flags != 0 {
        problems.push(format!("flags={}", opts.flags));
    }
    if opts.reuse_port {
        problems.push("reuse_port=true".into());
    }
    if opts.allow_broadcast {
        problems.push("allow_broadcast=true".into());
    }
    problems
}

/// One way to make the endpoint: a family and the addresses of that family.
struct Candidate {
    family: Family,
    local: Option<Address>,
    remote: Option<Address>,
}

impl EventLoop {
    /// Creates a datagram endpoint and runs a protocol made by `factory` on it (asyncio's
    /// `create_datagram_endpoint`).
    ///
    /// The endpoint is bound to `local_addr` and connected to `remote_addr` when given
    /// (see [`DatagramOptions`]); with neither, `family` says what socket to make, and
    /// the kernel binds it on its first send. The future resolves once `connection_made`
    /// has run.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for `reuse_address: Some(true)`, for `sock` with other options or
    /// of the wrong type, and without any address or family; `PermissionDenied` when the
    /// policy refuses the bind or the remote address; the OS error of the first failed
    /// attempt otherwise.
    ///
    /// See [`DatagramTransport`] for an echo server; a client connected to one peer:
    ///
    /// ```no_run
    /// # async fn demo(lp: sandloop::EventLoop) -> sandloop::Result<()> {
    /// struct Client;
    /// impl sandloop::DatagramProtocol for Client {
    ///     fn datagram_received(&mut self, data: &[u8], _addr: &sandloop::net::Address) {
    ///         println!("answer: {}", String::from_utf8_lossy(data));
    ///     }
    /// }
    /// let opts = sandloop::DatagramOptions {
    ///     remote_addr: Some(("127.0.0.1", 9999).into()),
    ///     ..Default::default()
    /// };
    /// let (transport, _client) = lp.create_datagram_endpoint(|| Client, opts).await?;
    /// transport.sendto(b"ping", None)?; // to remote_addr
    /// # Ok(()) }
    /// ```
    pub async fn create_datagram_endpoint<P, F>(
        &self,
        factory: F,
        opts: DatagramOptions,
    ) -> Result<(DatagramTransport, Rc<RefCell<P>>)>
    where
        P: DatagramProtocol,
        F: FnOnce() -> P,
    {
        self.check_closed()?;
        if !self.selector_watches_host_sources() {
            return Err(Error::runtime(
                "this loop's selector cannot watch host sockets; use the host's reactor",
            ));
        }
        if opts.reuse_address == Some(true) {
            return Err(invalid_input(
                "Passing `reuse_address=True` is no longer supported, as the usage of \
                 SO_REUSEPORT in UDP poses a significant security concern.",
            ));
        }
        let (sock, remote) = match &opts.sock {
            Some(sock) => {
                if sock.socket_type()? != SocketType::Datagram {
                    return Err(invalid_input(format!(
                        "A datagram socket was expected, got {sock:?}"
                    )));
                }
                let problems = conflicts_with_sock(&opts);
                if !problems.is_empty() {
                    return Err(invalid_input(format!(
                        "socket modifier keyword arguments can not be used when sock is \
                         specified. ({})",
                        problems.join(", ")
                    )));
                }
                (sock.clone(), None)
            }
            None => self.open_endpoint_socket(&opts).await?,
        };
        let protocol = Rc::new(RefCell::new(factory()));
        let transport = DatagramTransport::open(self, sock, protocol.clone(), remote)?;
        // connection_made was scheduled before this task's next step: it has run once the
        // task resumes.
        crate::sleep(Duration::ZERO).await?;
        Ok((transport, protocol))
    }

    /// Resolves the addresses and makes the socket: the first candidate family that
    /// works, else the first error.
    async fn open_endpoint_socket(
        &self,
        opts: &DatagramOptions,
    ) -> Result<(Socket, Option<Address>)> {
        let candidates = self.endpoint_candidates(opts).await?;
        let mut first_error = None;
        for candidate in candidates {
            match self.open_candidate(&candidate, opts).await {
                Ok(sock) => return Ok((sock, candidate.remote)),
                Err(err) => {
                    first_error.get_or_insert(err);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| invalid_input("can not get address information")))
    }

    /// asyncio's pairing of the resolved addresses by family, in the resolver's order.
    async fn endpoint_candidates(&self, opts: &DatagramOptions) -> Result<Vec<Candidate>> {
        if opts.local_addr.is_none() && opts.remote_addr.is_none() {
            let family = opts
                .family
                .ok_or_else(|| invalid_input("unexpected address family"))?;
            return Ok(vec![Candidate {
                family,
                local: None,
                remote: None,
            }]);
        }
        let mut candidates: Vec<Candidate> = Vec::new();
        for (is_local, addr) in [(true, &opts.local_addr), (false, &opts.remote_addr)] {
            let Some(HostPort { host, port }) = addr else {
                continue;
            };
            let hints = AddrInfoHints {
                family: opts.family,
                socktype: Some(SocketType::Datagram),
                protocol: opts.proto,
                flags: opts.flags,
            };
            let port = port.to_string();
            let host = (!host.is_empty()).then_some(host.as_str());
            let infos = self.getaddrinfo(host, Some(&port), hints).await?;
            if infos.is_empty() {
                return Err(Error::Os(io::Error::other(
                    "getaddrinfo() returned empty list",
                )));
            }
            for info in infos {
                let index = match candidates.iter().position(|c| c.family == info.family) {
                    Some(index) => index,
                    None => {
                        candidates.push(Candidate {
                            family: info.family,
                            local: None,
                            remote: None,
                        });
                        candidates.len() - 1
                    }
                };
                let slot = if is_local {
                    &mut candidates[index].local
                } else {
                    &mut candidates[index].remote
                };
                slot.get_or_insert(info.address);
            }
        }
        candidates.retain(|c| {
            (opts.local_addr.is_none() || c.local.is_some())
                && (opts.remote_addr.is_none() || c.remote.is_some())
        });
        if candidates.is_empty() {
            return Err(invalid_input(
                "can not get address information: local_addr and remote_addr have no \
                 family in common",
            ));
        }
        Ok(candidates)
    }

    /// One attempt: a datagram socket of the candidate's family, with the options,
    /// bound and connected as asked.
    async fn open_candidate(
        &self,
        candidate: &Candidate,
        opts: &DatagramOptions,
    ) -> Result<Socket> {
        let sock = Socket::new(candidate.family, SocketType::Datagram)?;
        let setup = async {
            if opts.reuse_port {
                sock.set_option(SockOpt::ReusePort(true))?;
            }
            if opts.allow_broadcast {
                sock.set_option(SockOpt::Broadcast(true))?;
            }
            if let Some(local) = &candidate.local {
                sock.bind(local.clone())?;
            }
            if let Some(remote) = &candidate.remote
                && !opts.allow_broadcast
            {
                self.sock_connect(&sock, remote.clone()).await?;
            }
            Ok::<(), Error>(())
        };
        match setup.await {
            Ok(()) => Ok(sock),
            Err(err) => {
                sock.close();
                Err(err)
            }
        }
    }
}
