//! The vocabulary of `wasi:sockets/network` the sockets share: the instance's network,
//! and socket addresses in WASI's form and Rust's.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::bindings::instance_network;
use super::bindings::network::{
    ErrorCode, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress, Network,
};
use super::errors::{error_from_code, unsupported};
use crate::addresses::Address;
use crate::error::Result;

/// Why a unix socket or path is refused.
pub(super) const NO_UNIX: &str = "WASI 0.2 has no unix sockets";

thread_local! {
    /// The instance's network (`wasi:sockets/instance-network`), asked for once.
    static NETWORK: Network = instance_network::instance_network();
}

/// Runs `f` with the instance's network.
pub(crate) fn with_network<T>(f: impl FnOnce(&Network) -> T) -> T {
    NETWORK.with(f)
}

pub(crate) fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => IpSocketAddress::Ipv4(Ipv4SocketAddress {
            port: a.port(),
            address: a.ip().octets().into(),
        }),
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

pub(crate) fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (x, y, z, w) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(x, y, z, w), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7),
                a.port,
                a.flow_info,
                a.scope_id,
            ))
        }
    }
}

pub(super) fn inet(op: &str, addr: &Address) -> Result<SocketAddr> {
    match addr {
        Address::Inet(sa) => Ok(*sa),
        Address::Unix(_) => Err(unsupported(op, NO_UNIX)),
    }
}

/// A socket's own address or its peer's (`getsockname`, `getpeername`: `op`), as the crate's
/// address; the same for TCP and UDP sockets.
pub(super) fn socket_address(
    answer: std::result::Result<IpSocketAddress, ErrorCode>,
    op: &str,
) -> Result<Address> {
    answer
        .map(|a| Address::Inet(from_wasi(a)))
        .map_err(|code| error_from_code(op, code))
}
