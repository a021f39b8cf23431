//! Glue: `wasi:sockets/tcp-create-socket` and `udp-create-socket` counted against the
//! handle limit, and `wasi:sockets/ip-name-lookup` for the instance's [`DnsView`], in
//! place of wasmtime-wasi's own (which asks the system resolver for every name: it knows
//! neither `--resolve` nor `--no-dns`). The guest's `resolve-address-stream` handles are
//! wasmtime-wasi's type by the generated signatures; the table holds an [`IpLookup`]
//! under them, and only these functions, which all take it back as an `IpLookup`, ever
//! see those handles.

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::{
    Host, HostResolveAddressStream, ResolveAddressStream,
};
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, HostNetwork, IpAddress, IpAddressFamily, Network,
};
use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket;
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket;
use wasmtime_wasi::p2::{DynPollable, Pollable, SocketError, TcpSocket, UdpSocket, subscribe};

use super::lookup::{IpLookup, LookupError, resolve_addresses};
use crate::state::{DnsView, WasiSocketsView};

impl From<LookupError> for ErrorCode {
    fn from(err: LookupError) -> ErrorCode {
        match err {
            LookupError::Denied => ErrorCode::AccessDenied,
            LookupError::InvalidName => ErrorCode::InvalidArgument,
            // The WIT's code for a resource limit.
            LookupError::LimitReached => ErrorCode::NewSocketLimit,
            LookupError::Unresolvable => ErrorCode::NameUnresolvable,
            LookupError::Temporary => ErrorCode::TemporaryResolverFailure,
            LookupError::Permanent => ErrorCode::PermanentResolverFailure,
        }
    }
}

/// The lookup under a handle the guest holds as a `resolve-address-stream`.
fn ours(handle: &Resource<ResolveAddressStream>) -> Resource<IpLookup> {
    if handle.owned() {
        Resource::new_own(handle.rep())
    } else {
        Resource::new_borrow(handle.rep())
    }
}

// `ip-name-lookup` names `network`'s types, so its bindings want `network`'s `Host` of
// the same view: the same as wasmtime-wasi's (whose `network` stays linked; these are
// never called through the linker).
impl network::Host for DnsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<std::io::Error>().map(ErrorCode::from))
    }
}

impl HostNetwork for DnsView<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(network)?;
        Ok(())
    }
}

impl Host for DnsView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<Network>,
        name: String,
    ) -> Result<Resource<ResolveAddressStream>, SocketError> {
        // The network handle is the capability to ask; it must at least be one.
        self.table.get(&network)?;
        if crate::limits::check_room(self.table, &self.policy.limits, "resolve-addresses", 1)
            .is_err()
        {
            return Err(ErrorCode::from(LookupError::LimitReached).into());
        }
        let lookup =
            resolve_addresses(self.policy, self.resolver, &name).map_err(ErrorCode::from)?;
        let handle = self.table.push(lookup)?;
        Ok(Resource::new_own(handle.rep()))
    }
}

impl HostResolveAddressStream for DnsView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> Result<Option<IpAddress>, SocketError> {
        match self.table.get_mut(&ours(&stream))?.next_address() {
            None => Err(ErrorCode::WouldBlock.into()),
            Some(Ok(ip)) => Ok(ip.map(IpAddress::from)),
            Some(Err(err)) => Err(ErrorCode::from(err).into()),
        }
    }

    fn subscribe(
        &mut self,
        stream: Resource<ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table, ours(&stream))
    }

    fn drop(&mut self, stream: Resource<ResolveAddressStream>) -> wasmtime::Result<()> {
        self.table.delete(ours(&stream))?;
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for IpLookup {
    async fn ready(&mut self) {
        self.answered_wait().await;
    }
}

// Creating a socket: counted against the handle limit first, as `sandloop:host/net`'s
// `create socket` is (wasmtime-wasi's own would push past it until the table's hard
// capacity traps the instance); at the limit the guest gets `new-socket-limit`. The
// rest is wasmtime-wasi's.

/// `new-socket-limit` (and an audit line) unless the instance has room for a socket.
fn check_room(view: &mut WasiSocketsView<'_>, what: &str) -> Result<(), SocketError> {
    crate::limits::check_room(view.sockets.table, view.limits, what, 1)
        .map_err(|_| ErrorCode::NewSocketLimit.into())
}

impl network::Host for WasiSocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        network::Host::convert_error_code(&mut self.sockets, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        network::Host::network_error_code(&mut self.sockets, err)
    }
}

impl HostNetwork for WasiSocketsView<'_> {
    fn drop(&mut self, network: Resource<Network>) -> wasmtime::Result<()> {
        HostNetwork::drop(&mut self.sockets, network)
    }
}

impl tcp_create_socket::Host for WasiSocketsView<'_> {
    fn create_tcp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> Result<Resource<TcpSocket>, SocketError> {
        check_room(self, "create-tcp-socket")?;
        tcp_create_socket::Host::create_tcp_socket(&mut self.sockets, family)
    }
}

impl udp_create_socket::Host for WasiSocketsView<'_> {
    fn create_udp_socket(
        &mut self,
        family: IpAddressFamily,
    ) -> Result<Resource<UdpSocket>, SocketError> {
        check_room(self, "create-udp-socket")?;
        udp_create_socket::Host::create_udp_socket(&mut self.sockets, family)
    }
}
