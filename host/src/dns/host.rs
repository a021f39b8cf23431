//! The WIT interface `sandloop:host/dns` over a [`DnsView`].

use wasmtime::component::Resource;

use super::{AddressLookup, NameLookup};
use crate::bindings::dns::{self as wit, Addrinfo, Hints};
use crate::bindings::types::Error;
use crate::state::DnsView;

impl From<Hints> for super::Hints {
    fn from(hints: Hints) -> super::Hints {
        super::Hints {
            family: hints.family.map(Into::into),
            socktype: hints.socktype.map(Into::into),
            protocol: hints.protocol,
            flags: hints.flags,
        }
    }
}

impl From<super::Addrinfo> for Addrinfo {
    fn from(info: super::Addrinfo) -> Addrinfo {
        Addrinfo {
            family: info.family.into(),
            socktype: info.socktype.into(),
            protocol: info.protocol,
            canonname: info.canonname,
            address: info.address.into(),
        }
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
        let (host, port) = (host.as_deref(), port.as_deref());
        match super::getaddrinfo(
            self.table,
            self.policy,
            self.resolver,
            host,
            port,
            hints.into(),
            token,
        ) {
            Ok(lookup) => Ok(Ok(self.table.push(lookup)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn getnameinfo(
        &mut self,
        addr: String,
        flags: i32,
        token: u64,
    ) -> wasmtime::Result<Result<Resource<NameLookup>, Error>> {
        match super::getnameinfo(self.table, self.policy, self.resolver, &addr, flags, token) {
            Ok(lookup) => Ok(Ok(self.table.push(lookup)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl wit::HostAddressLookup for DnsView<'_> {
    fn answer(
        &mut self,
        self_: Resource<AddressLookup>,
    ) -> wasmtime::Result<Option<Result<Vec<Addrinfo>, Error>>> {
        let answer = self.table.get(&self_)?.answer();
        Ok(answer.map(|answer| {
            answer
                .map(|infos| infos.into_iter().map(Into::into).collect())
                .map_err(Into::into)
        }))
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
        let answer = self.table.get(&self_)?.answer();
        Ok(answer.map(|answer| answer.map_err(Into::into)))
    }

    fn drop(&mut self, rep: Resource<NameLookup>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
