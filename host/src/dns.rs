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

mod resolver;
mod sys;

use std::ffi::CString;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use wasmtime::component::Resource;

use crate::bindings::dns::{self as wit, Addrinfo, Hints};
use crate::bindings::types::{AddressFamily, Error, ErrorKind};
use crate::error::error;
use crate::slot::Slot;
use crate::state::DnsView;

pub(crate) use resolver::Resolver;

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

impl wit::Host for DnsView<'_> {
    fn getaddrinfo(
        &mut self,
        host: Option<String>,
        port: Option<String>,
        hints: Hints,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<AddressLookup>, Error>> {
        let query = match self.address_query(host.as_deref(), port.as_deref(), hints) {
            Ok(query) => query,
            Err(err) => return Ok(Err(err)),
        };
        let limits = &self.policy.limits;
        if let Err(err) = crate::limits::check_room(self.table, limits, "getaddrinfo", 1) {
            return Ok(Err(err));
        }
        let immediate = query.is_immediate(port.as_deref());
        let slot = match self.answer("getaddrinfo", token, immediate, move || query.run()) {
            Ok(slot) => slot,
            Err(err) => return Ok(Err(err)),
        };
        Ok(Ok(self.table.push(AddressLookup { slot })?))
    }

    fn getnameinfo(
        &mut self,
        addr: String,
        flags: i32,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<NameLookup>, Error>> {
        let addr: SocketAddr = match addr.parse() {
            Ok(addr) => addr,
            Err(_) => {
                return Ok(Err(error(
                    ErrorKind::InvalidInput,
                    format!(
                        "getnameinfo: {addr:?} is not an IP socket address (like 127.0.0.1:80 or [::1]:80)"
                    ),
                )));
            }
        };
        // A name the policy fixes answers the reverse lookup of its addresses too, as an
        // /etc/hosts does.
        let fixed_name = match flags & NI_NUMERICHOST {
            0 => self.policy.name_of(addr.ip()).map(str::to_owned),
            _ => None,
        };
        // A reverse lookup asks the resolver unless the host is numeric or fixed; a
        // service name (without NI_NUMERICSERV) comes from the services file, not DNS.
        if flags & NI_NUMERICHOST == 0
            && fixed_name.is_none()
            && let Err(denied) = self.policy.check_dns(&addr.ip().to_string())
        {
            return Ok(Err(error(ErrorKind::Denied, denied.to_string())));
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
        if let Err(err) =
            crate::limits::check_room(self.table, &self.policy.limits, "getnameinfo", 1)
        {
            return Ok(Err(err));
        }
        let immediate =
            lookup_flags & (NI_NUMERICHOST | NI_NUMERICSERV) == NI_NUMERICHOST | NI_NUMERICSERV;
        let slot = match self.answer("getnameinfo", token, immediate, resolve) {
            Ok(slot) => slot,
            Err(err) => return Ok(Err(err)),
        };
        Ok(Ok(self.table.push(NameLookup { slot })?))
    }
}

impl DnsView<'_> {
    /// Runs `resolve` now (`immediate`: nothing to ask a resolver) or on a resolver thread,
    /// fills the returned slot with its answer and reports `token` through the reactor.
    fn answer<T: Clone + Send + 'static>(
        &self,
        op: &str,
        token: u64,
        immediate: bool,
        resolve: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Arc<Slot<T>>, Error> {
        let slot = Slot::new();
        if immediate {
            slot.deliver(resolve(), self.resolver.completer(), token);
            return Ok(slot);
        }
        let job_slot = Arc::clone(&slot);
        let completer = self.resolver.completer().clone();
        self.resolver
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

    /// Checks the arguments and decides how the query is answered.
    fn address_query(
        &self,
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
            (Some(name), None) => self.policy.resolved(name).map(<[IpAddr]>::to_vec),
            (None, None) => None,
        };
        let canonname = match (host, literal, &fixed) {
            (Some(name), None, Some(_)) if hints.flags & AI_CANONNAME != 0 => Some(name.to_owned()),
            (Some(name), Some(_), _) if hints.flags & AI_CANONNAME != 0 => Some(name.to_owned()),
            _ => None,
        };
        let host = match (host, &fixed) {
            (Some(host), None) => {
                self.policy
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
}

impl wit::HostAddressLookup for DnsView<'_> {
    fn answer(
        &mut self,
        self_: Resource<AddressLookup>,
    ) -> wasmtime::Result<Option<Result<Vec<Addrinfo>, Error>>> {
        Ok(self.table.get(&self_)?.slot.get())
    }

    fn drop(&mut self, rep: Resource<AddressLookup>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

impl wit::HostNameLookup for DnsView<'_> {
    fn answer(
        &mut self,
        self_: Resource<NameLookup>,
    ) -> wasmtime::Result<Option<Result<(String, String), Error>>> {
        Ok(self.table.get(&self_)?.slot.get())
    }

    fn drop(&mut self, rep: Resource<NameLookup>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
