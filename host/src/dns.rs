//! Name resolution: the host side of the WIT interface `sandloop:host/dns`.
//!
//! A lookup is a resource the guest gets at once; its answer comes later. The host
//! resolves on its own resolver threads (the `resolver` module), never on the loop's thread,
//! stores the answer in the lookup and reports a `readable` event under the guest's token
//! through the instance's reactor. The guest then reads the answer with `answer`.
//!
//! Some queries need no resolver: a literal IP address, or a name the workload's
//! [`Policy`] resolves to fixed addresses (`--resolve`), with a numeric port or none. The
//! C library answers those at once on the instance's thread, and the event still comes
//! through the reactor, so the guest's code path is the same. A name listed in the policy
//! never reaches the system resolver, whatever the port.

mod host;
mod resolver;
mod sys;

use std::ffi::CString;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use wasmtime::component::ResourceTable;

use crate::error::{Error, ErrorKind, error};
use crate::net::{Address, AddressFamily, SocketType};
use crate::policy::Policy;
use crate::slot::Slot;

pub(crate) use resolver::Resolver;

/// What `getaddrinfo` should look for; `None` fields mean "any" (the WIT's `dns.hints`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hints {
    pub(crate) family: Option<AddressFamily>,
    pub(crate) socktype: Option<SocketType>,
    /// IPPROTO_* number; 0 for any.
    pub(crate) protocol: u32,
    /// AI_* flags, with Linux's values.
    pub(crate) flags: i32,
}

/// One answer of `getaddrinfo` (the WIT's `dns.addrinfo`).
#[derive(Clone, Debug)]
pub(crate) struct Addrinfo {
    pub(crate) family: AddressFamily,
    pub(crate) socktype: SocketType,
    pub(crate) protocol: u32,
    /// The canonical name when AI_CANONNAME was asked for; empty otherwise.
    pub(crate) canonname: String,
    pub(crate) address: Address,
}

/// `AI_CANONNAME`, Linux's value as the WIT documents it.
const AI_CANONNAME: i32 = libc::AI_CANONNAME;
/// `AI_NUMERICHOST`.
const AI_NUMERICHOST: i32 = libc::AI_NUMERICHOST;
/// `NI_NUMERICHOST`.
const NI_NUMERICHOST: i32 = libc::NI_NUMERICHOST;
/// `NI_NUMERICSERV`.
const NI_NUMERICSERV: i32 = libc::NI_NUMERICSERV;

/// A `getaddrinfo` in progress or answered: the WIT `dns.address-lookup`. Dropping it
/// abandons the answer (a lookup already running finishes, and nothing is reported).
pub struct AddressLookup {
    slot: Arc<Slot<Result<Vec<Addrinfo>, Error>>>,
}

/// A `getnameinfo` in progress or answered: the WIT `dns.name-lookup`. Dropping it
/// abandons the answer.
pub struct NameLookup {
    slot: Arc<Slot<Result<(String, String), Error>>>,
}

impl Drop for AddressLookup {
    fn drop(&mut self) {
        self.slot.abandon();
    }
}

impl Drop for NameLookup {
    fn drop(&mut self) {
        self.slot.abandon();
    }
}

/// A `getaddrinfo` as the C library will be asked it.
struct AddressQuery {
    /// `None`: ask the system resolver for the host as given; `Some`: the addresses the
    /// policy or the literal fixes, each asked as a numeric host.
    fixed: Option<Vec<IpAddr>>,
    host: Option<CString>,
    service: Option<CString>,
    hints: Hints,
    /// `host:port` for messages.
    label: String,
    /// The canonical name of a policy name (the name itself), when asked for.
    canonname: Option<String>,
}

impl AddressQuery {
    /// Checks the arguments and decides how the query is answered.
    fn new(
        policy: &Policy,
        host: Option<&str>,
        port: Option<&str>,
        hints: Hints,
    ) -> Result<AddressQuery, Error> {
        let label = format!("{}:{}", host.unwrap_or("*"), port.unwrap_or("*"));
        if host.is_none() && port.is_none() {
            return Err(error(
                ErrorKind::InvalidInput,
                "getaddrinfo: neither a host nor a port was given",
            ));
        }
        let service = port
            .map(|port| sys::c_string("getaddrinfo", "port", port))
            .transpose()?;
        let literal = host.and_then(|host| host.parse::<IpAddr>().ok());
        let fixed = match (host, literal) {
            (_, Some(ip)) => Some(vec![ip]),
            (Some(name), None) => policy.resolved(name).map(<[IpAddr]>::to_vec),
            (None, None) => None,
        };
        let canonname = match (host, literal, &fixed) {
            (Some(name), None, Some(_)) if hints.flags & AI_CANONNAME != 0 => Some(name.to_owned()),
            (Some(name), Some(_), _) if hints.flags & AI_CANONNAME != 0 => Some(name.to_owned()),
            _ => None,
        };
        let host = match (host, &fixed) {
            (Some(host), None) => {
                policy
                    .check_dns(host)
                    .map_err(|denied| error(ErrorKind::Denied, denied.to_string()))?;
                Some(sys::c_string("getaddrinfo", "host", host)?)
            }
            _ => None,
        };
        Ok(AddressQuery {
            fixed,
            host,
            service,
            hints,
            label,
            canonname,
        })
    }

    /// Whether the C library can answer without blocking: no resolver, no services file.
    fn is_immediate(&self, port: Option<&str>) -> bool {
        let numeric_port = port.is_none_or(|p| p.parse::<u16>().is_ok());
        let no_resolver = self.fixed.is_some() || self.host.is_none();
        numeric_port && no_resolver
    }

    fn run(&self) -> Result<Vec<Addrinfo>, Error> {
        let Some(addrs) = &self.fixed else {
            return sys::getaddrinfo(
                self.host.as_deref(),
                self.service.as_deref(),
                &self.hints,
                &self.label,
            );
        };
        let mut hints = self.hints;
        hints.flags = (hints.flags | AI_NUMERICHOST) & !AI_CANONNAME;
        let mut answers = Vec::new();
        for addr in addrs {
            let fits = matches!(
                (self.hints.family, addr),
                (None, _)
                    | (Some(AddressFamily::Ipv4), IpAddr::V4(_))
                    | (Some(AddressFamily::Ipv6), IpAddr::V6(_))
            );
            if !fits {
                continue;
            }
            let literal = CString::new(addr.to_string()).expect("an IP address has no NUL");
            answers.extend(sys::getaddrinfo(
                Some(&literal),
                self.service.as_deref(),
                &hints,
                &self.label,
            )?);
        }
        if answers.is_empty() {
            return Err(error(
                ErrorKind::NotFound,
                format!(
                    "getaddrinfo {}: no address of the requested family",
                    self.label
                ),
            ));
        }
        if let (Some(name), Some(first)) = (&self.canonname, answers.first_mut()) {
            first.canonname = name.clone();
        }
        Ok(answers)
    }
}

/// `getaddrinfo`: checks the query against `policy`, and `table`'s room for the lookup,
/// then answers it at once (a literal or a fixed name with a numeric port) or on a
/// resolver thread; `token` is reported when the answer is in.
pub(crate) fn getaddrinfo(
    table: &mut ResourceTable,
    policy: &Policy,
    resolver: &Resolver,
    host: Option<&str>,
    port: Option<&str>,
    hints: Hints,
    token: u64,
) -> Result<AddressLookup, Error> {
    let query = AddressQuery::new(policy, host, port, hints)?;
    crate::limits::check_room(table, &policy.limits, "getaddrinfo", 1)?;
    let immediate = query.is_immediate(port);
    let slot = answer(resolver, "getaddrinfo", token, immediate, move || {
        query.run()
    })?;
    Ok(AddressLookup { slot })
}

/// `getnameinfo`: checks `addr` and the policy (a reverse lookup that needs the resolver
/// is a DNS lookup of the address), and `table`'s room; a name the policy fixes answers
/// for its addresses, as an /etc/hosts does.
pub(crate) fn getnameinfo(
    table: &mut ResourceTable,
    policy: &Policy,
    resolver: &Resolver,
    addr: &str,
    flags: i32,
    token: u64,
) -> Result<NameLookup, Error> {
    let addr: SocketAddr = addr.parse().map_err(|_| {
        error(
            ErrorKind::InvalidInput,
            format!(
                "getnameinfo: {addr:?} is not an IP socket address (like 127.0.0.1:80 or [::1]:80)"
            ),
        )
    })?;
    // A name the policy fixes answers the reverse lookup of its addresses too, as an
    // /etc/hosts does.
    let fixed_name = match flags & NI_NUMERICHOST {
        0 => policy.name_of(addr.ip()).map(str::to_owned),
        _ => None,
    };
    // A reverse lookup asks the resolver unless the host is numeric or fixed; a
    // service name (without NI_NUMERICSERV) comes from the services file, not DNS.
    if flags & NI_NUMERICHOST == 0
        && fixed_name.is_none()
        && let Err(denied) = policy.check_dns(&addr.ip().to_string())
    {
        return Err(error(ErrorKind::Denied, denied.to_string()));
    }
    let lookup_flags = if fixed_name.is_some() {
        flags | NI_NUMERICHOST
    } else {
        flags
    };
    let resolve = move || {
        sys::getnameinfo(&addr, lookup_flags).map(|(host, service)| match &fixed_name {
            Some(name) => (name.clone(), service),
            None => (host, service),
        })
    };
    crate::limits::check_room(table, &policy.limits, "getnameinfo", 1)?;
    let immediate =
        lookup_flags & (NI_NUMERICHOST | NI_NUMERICSERV) == NI_NUMERICHOST | NI_NUMERICSERV;
    let slot = answer(resolver, "getnameinfo", token, immediate, resolve)?;
    Ok(NameLookup { slot })
}

/// Runs `resolve` now (`immediate`: nothing to ask a resolver) or on a resolver thread,
/// fills the returned slot with its answer and reports `token` through the reactor.
fn answer<T: Clone + Send + 'static>(
    resolver: &Resolver,
    op: &str,
    token: u64,
    immediate: bool,
    resolve: impl FnOnce() -> T + Send + 'static,
) -> Result<Arc<Slot<T>>, Error> {
    let slot = Slot::new();
    if immediate {
        slot.deliver(resolve(), resolver.completer(), token);
        return Ok(slot);
    }
    let job_slot = Arc::clone(&slot);
    let completer = resolver.completer().clone();
    resolver
        .submit(move || {
            if job_slot.is_abandoned() {
                return;
            }
            job_slot.deliver(resolve(), &completer, token);
        })
        .map_err(|err| {
            error(
                ErrorKind::Other,
                format!("{op}: cannot start a resolver thread: {err}"),
            )
        })?;
    Ok(slot)
}

/// The addresses the system resolver knows for `name` (any family, each once): what
/// `wasi:sockets/ip-name-lookup` answers for a name that is neither a literal nor fixed
/// by the policy. Blocks: call it on a resolver thread.
pub(crate) fn system_addresses(name: &str) -> Result<Vec<IpAddr>, Error> {
    let host = sys::c_string("resolve-addresses", "name", name)?;
    let hints = Hints {
        family: None,
        socktype: Some(SocketType::Stream),
        protocol: 0,
        flags: 0,
    };
    let mut ips: Vec<IpAddr> = Vec::new();
    for info in sys::getaddrinfo(Some(&host), None, &hints, name)? {
        if let Address::Inet(text) = &info.address
            && let Ok(addr) = text.parse::<SocketAddr>()
            && !ips.contains(&addr.ip().to_canonical())
        {
            ips.push(addr.ip().to_canonical());
        }
    }
    Ok(ips)
}

impl AddressLookup {
    /// The answer, once it is in.
    pub(crate) fn answer(&self) -> Option<Result<Vec<Addrinfo>, Error>> {
        self.slot.get()
    }
}

impl NameLookup {
    /// The answer (`(host, service)`), once it is in.
    pub(crate) fn answer(&self) -> Option<Result<(String, String), Error>> {
        self.slot.get()
    }
}

#[cfg(test)]
mod tests;
