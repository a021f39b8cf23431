//! `getaddrinfo` and `getnameinfo` over `wasi:sockets/ip-name-lookup`: a name is resolved
//! by the WASI host, its answer reported through the portable reactor under the lookup's
//! token; a numeric address answers at once (through the reactor too, so the loop's
//! waiting is the same for both).
//!
//! WASI's lookup knows addresses only: ports are numeric (no service names), there is no
//! canonical name, and `getnameinfo` gives the numeric form (`NI_NAMEREQD` fails).

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;

use super::bindings::ip_name_lookup::{self, ResolveAddressStream};
use super::bindings::monotonic_clock;
use super::bindings::network::{ErrorCode, IpAddress};
use super::bindings::poll::Pollable;
use super::errors::error_from_code;
use super::net::HostSource;
use super::network::with_network;
use super::poll::{Slot, Watched};
use crate::addresses::{AddrInfo, Address, Family, SocketType};
use crate::error::{Error, Result};

const AI_PASSIVE: i32 = 0x1;
const AI_NUMERICHOST: i32 = 0x4;
const NI_NAMEREQD: i32 = 0x8;

/// What a lookup waits on: the host's resolution, or nothing (an answer known at once,
/// whose pollable is a zero-length timer).
enum Pending {
    Resolving(ResolveAddressStream),
    Known,
}

impl Watched for Pending {
    fn slot(&self, _readable: bool) -> Slot {
        Slot::Own
    }

    fn subscribe(&self, _slot: Slot) -> Pollable {
        match self {
            Pending::Resolving(stream) => stream.subscribe(),
            Pending::Known => monotonic_clock::subscribe_duration(0),
        }
    }
}

/// A `getaddrinfo` in flight.
pub(crate) struct AddressLookup {
    /// Declared first: the registration goes before the resolution it watches.
    _source: HostSource,
    pending: Rc<Pending>,
    name: String,
    known: RefCell<Option<Result<Vec<IpAddr>>>>,
    port: u16,
    family: Option<Family>,
    socktypes: Vec<SocketType>,
}

/// A `getnameinfo` in flight (always answered at once).
pub(crate) struct NameLookup {
    _source: HostSource,
    answer: RefCell<Option<Result<(String, String)>>>,
}

fn lookup_error(what: &str, msg: &str) -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what}: {msg}"),
    ))
}

/// Starts a `getaddrinfo`; its event arrives under `token`.
pub(crate) fn getaddrinfo(
    host: Option<&str>,
    port: Option<&str>,
    family: Option<Family>,
    socktype: Option<SocketType>,
    _protocol: u32,
    flags: i32,
    token: u64,
) -> Result<AddressLookup> {
    let name = host.unwrap_or("").to_string();
    let port = match port {
        None => 0,
        Some(p) => p.parse::<u16>().map_err(|_| {
            lookup_error(
                &format!("getaddrinfo port {p:?}"),
                "WASI 0.2 resolves no service names; give the port as a number",
            )
        })?,
    };
    if family == Some(Family::Unix) {
        return Err(super::errors::unsupported(
            "getaddrinfo(AF_UNIX)",
            "WASI 0.2 has no unix sockets",
        ));
    }
    let socktypes = match socktype {
        Some(t) => vec![t],
        None => vec![SocketType::Stream, SocketType::Datagram],
    };
    let literal = name.trim_start_matches('[').trim_end_matches(']');
    let known: Option<Result<Vec<IpAddr>>> = match host {
        None if flags & AI_PASSIVE != 0 => Some(Ok(vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ])),
        None => Some(Ok(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ])),
        Some(_) => match literal.parse::<IpAddr>() {
            Ok(ip) => Some(Ok(vec![ip])),
            Err(_) if flags & AI_NUMERICHOST != 0 => Some(Err(Error::Os(io::Error::new(
                io::ErrorKind::NotFound,
                format!("getaddrinfo {name}: not a numeric address (AI_NUMERICHOST)"),
            )))),
            Err(_) => None,
        },
    };
    let pending = match &known {
        Some(_) => Pending::Known,
        None => {
            let stream = with_network(|net| ip_name_lookup::resolve_addresses(net, &name))
                .map_err(|code| error_from_code(&format!("getaddrinfo {name}"), code))?;
            Pending::Resolving(stream)
        }
    };
    let pending = Rc::new(pending);
    let source = HostSource::of(pending.clone());
    source.watch_once(token);
    Ok(AddressLookup {
        _source: source,
        pending,
        name,
        known: RefCell::new(known),
        port,
        family,
        socktypes,
    })
}

/// Starts a `getnameinfo` of an IP socket address; its event arrives under `token`.
pub(crate) fn getnameinfo(addr: &str, flags: i32, token: u64) -> Result<NameLookup> {
    let answer = match addr.parse::<SocketAddr>() {
        Ok(_) if flags & NI_NAMEREQD != 0 => Err(Error::Os(io::Error::new(
            io::ErrorKind::NotFound,
            format!("getnameinfo {addr}: WASI 0.2 has no reverse lookup (NI_NAMEREQD)"),
        ))),
        Ok(sa) => Ok((sa.ip().to_string(), sa.port().to_string())),
        Err(_) => Err(lookup_error(
            &format!("getnameinfo {addr:?}"),
            "not an IP socket address",
        )),
    };
    let source = HostSource::of(Rc::new(Pending::Known));
    source.watch_once(token);
    Ok(NameLookup {
        _source: source,
        answer: RefCell::new(Some(answer)),
    })
}

fn ip_from_wasi(ip: IpAddress) -> IpAddr {
    match ip {
        IpAddress::Ipv4((a, b, c, d)) => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        IpAddress::Ipv6((a, b, c, d, e, f, g, h)) => {
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h))
        }
    }
}

impl AddressLookup {
    /// Every address the host resolved; `None` while it is still resolving.
    fn resolved(&self) -> Option<Result<Vec<IpAddr>>> {
        if let Some(known) = self.known.borrow_mut().take() {
            return Some(known);
        }
        let Pending::Resolving(stream) = &*self.pending else {
            return None;
        };
        let mut ips = Vec::new();
        loop {
            match stream.resolve_next_address() {
                Ok(Some(ip)) => ips.push(ip_from_wasi(ip)),
                Ok(None) => return Some(Ok(ips)),
                Err(ErrorCode::WouldBlock) => return None,
                Err(code) => {
                    return Some(Err(error_from_code(
                        &format!("getaddrinfo {}", self.name),
                        code,
                    )));
                }
            }
        }
    }

    /// The answer, once the lookup's event came; `None` before.
    pub(crate) fn answer(&self) -> Option<Result<Vec<AddrInfo>>> {
        let ips = match self.resolved()? {
            Ok(ips) => ips,
            Err(e) => return Some(Err(e)),
        };
        let mut infos = Vec::new();
        for ip in ips {
            let family = if ip.is_ipv4() {
                Family::Inet
            } else {
                Family::Inet6
            };
            if self.family.is_some_and(|f| f != family) {
                continue;
            }
            for &socktype in &self.socktypes {
                infos.push(AddrInfo {
                    family,
                    socktype,
                    protocol: match socktype {
                        SocketType::Stream => 6,
                        SocketType::Datagram => 17,
                    },
                    canonname: String::new(),
                    address: Address::Inet(SocketAddr::new(ip, self.port)),
                });
            }
        }
        if infos.is_empty() {
            return Some(Err(Error::Os(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "getaddrinfo {}: no address of the family asked for",
                    self.name
                ),
            ))));
        }
        Some(Ok(infos))
    }
}

impl NameLookup {
    /// `(host, service)`, once the lookup's event came; `None` before.
    pub(crate) fn answer(&self) -> Option<Result<(String, String)>> {
        self.answer.borrow_mut().take()
    }
}
