//! The `sandloop:host/dns` bindings: lookups the host runs on its own threads and answers
//! through the reactor (an event under the lookup's token says the answer is ready).

use super::bindings::dns;
use super::errors::error_from_wit;
use super::net::{address_from_wit, family_from_wit, family_to_wit, type_from_wit, type_to_wit};
use crate::addresses::{AddrInfo, Family, SocketType};
use crate::error::{Error, Result};

/// A `getaddrinfo` in flight.
pub(crate) struct AddressLookup(dns::AddressLookup);

/// A `getnameinfo` in flight.
pub(crate) struct NameLookup(dns::NameLookup);

/// Starts a `getaddrinfo`; its event arrives under `token`.
pub(crate) fn getaddrinfo(
    host: Option<&str>,
    port: Option<&str>,
    family: Option<Family>,
    socktype: Option<SocketType>,
    protocol: u32,
    flags: i32,
    token: u64,
) -> Result<AddressLookup> {
    let hints = dns::Hints {
        family: family.map(family_to_wit),
        socktype: socktype.map(type_to_wit),
        protocol,
        flags,
    };
    dns::getaddrinfo(host, port, hints, token)
        .map(AddressLookup)
        .map_err(error_from_wit)
}

/// Starts a `getnameinfo` of an IP socket address; its event arrives under `token`.
pub(crate) fn getnameinfo(addr: &str, flags: i32, token: u64) -> Result<NameLookup> {
    dns::getnameinfo(addr, flags, token)
        .map(NameLookup)
        .map_err(error_from_wit)
}

impl AddressLookup {
    /// The answer, once the lookup's event came; `None` before.
    pub(crate) fn answer(&self) -> Option<Result<Vec<AddrInfo>>> {
        let answer = self.0.answer()?;
        Some(answer.map_err(error_from_wit).and_then(|infos| {
            infos
                .into_iter()
                .map(|info| {
                    Ok(AddrInfo {
                        family: family_from_wit(info.family),
                        socktype: type_from_wit(info.socktype),
                        protocol: info.protocol,
                        canonname: info.canonname,
                        address: address_from_wit(info.address)?,
                    })
                })
                .collect::<Result<Vec<_>, Error>>()
        }))
    }
}

impl NameLookup {
    /// `(host, service)`, once the lookup's event came; `None` before.
    pub(crate) fn answer(&self) -> Option<Result<(String, String)>> {
        Some(self.0.answer()?.map_err(error_from_wit))
    }
}
