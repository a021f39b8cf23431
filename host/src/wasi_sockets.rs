//! WASI's own sockets (`wasi:sockets/tcp`, `udp`, implemented by wasmtime-wasi) under the
//! workload's [`Policy`]: the same grants, the same audit lines as `sandloop:host/net`.
//!
//! wasmtime-wasi asks one check for every address a socket uses
//! ([`WasiCtxBuilder::socket_addr_check`]), naming the use. Each use is judged by the
//! policy's own check for what `sandloop:host/net` does in its place:
//!
//! | wasmtime-wasi's use | the policy's check |
//! |---|---|
//! | `TcpBind` (explicit `bind`) | [`Policy::check_bind`] (the listen rules) |
//! | `TcpListen` (the bound address, port picked) | [`Policy::check_listen`] |
//! | `TcpConnect` (the peer) | [`Policy::check_connect`] |
//! | `TcpAccept` (the peer of an accepted connection) | none: the listen grant covers it |
//! | `UdpBind` (explicit `bind`) | [`Policy::check_udp_bind`] |
//! | `UdpSend` (every datagram's target, and `connect`'s peer) | [`Policy::check_udp_send`] |
//! | `UdpReceive` (a datagram's source) | none, as for `sandloop:host/net` |
//!
//! wasmtime-wasi also asks `TcpBind`/`UdpBind` for the bind the kernel does by itself
//! before a `connect`, `listen` or first `send` of an unbound socket, passing the
//! unspecified address with port 0; `sandloop:host/net` checks no bind there. Such a bind
//! is allowed: it is indistinguishable from an explicit `bind` to `0.0.0.0:0` (or `[::]:0`),
//! which is therefore allowed too, and grants nothing by itself: listening on the port the
//! kernel picks is checked as `TcpListen` on that address, connecting and sending as
//! `TcpConnect` and `UdpSend`. The one thing such a socket can do unchecked is receive
//! datagrams on its ephemeral port, as a datagram socket of `sandloop:host/net` can after
//! its first send.
//!
//! The check runs on the instance's own thread (wasmtime-wasi calls it when the guest's
//! call is made), so denials are counted per run as every other audit line.
//!
//! Name lookups (`wasi:sockets/ip-name-lookup`) are ours, not wasmtime-wasi's (see
//! `lookup.rs`): they answer as `sandloop:host/dns` does, `--resolve` and `--no-dns`
//! included.

use std::net::SocketAddr;

use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::sockets::SocketAddrUse;

use crate::policy::Policy;

mod host;
mod lookup;

/// Lets the instance `builder` makes use WASI's TCP and UDP sockets where `policy`
/// grants, judged as `sandloop:host/net` judges them (see the module docs).
pub(crate) fn grant(builder: &mut WasiCtxBuilder, policy: &Policy) {
    let policy = policy.clone();
    builder
        .allow_tcp(true)
        .allow_udp(true)
        .socket_addr_check(move |addr, usage| {
            let allowed = is_allowed(&policy, addr, usage);
            Box::pin(std::future::ready(allowed))
        });
}

/// Whether `policy` lets a WASI socket use `addr` for `usage`; a denial is logged for
/// audit by the policy's check.
pub(crate) fn is_allowed(policy: &Policy, addr: SocketAddr, usage: SocketAddrUse) -> bool {
    let allowed = match usage {
        SocketAddrUse::TcpBind if is_kernel_pick(&addr) => Ok(()),
        SocketAddrUse::TcpBind => policy.check_bind(&addr),
        SocketAddrUse::TcpListen => policy.check_listen(&addr),
        SocketAddrUse::TcpConnect => policy.check_connect(&addr),
        SocketAddrUse::TcpAccept => Ok(()),
        SocketAddrUse::UdpBind if is_kernel_pick(&addr) => Ok(()),
        SocketAddrUse::UdpBind => policy.check_udp_bind(&addr),
        SocketAddrUse::UdpSend => policy.check_udp_send(&addr),
        SocketAddrUse::UdpReceive => Ok(()),
    };
    allowed.is_ok()
}

/// The address of a bind that leaves both the address and the port to the kernel.
fn is_kernel_pick(addr: &SocketAddr) -> bool {
    addr.ip().is_unspecified() && addr.port() == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback_listen_only() -> Policy {
        Policy::new().allow_listen("127.0.0.1:8080").unwrap()
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn tcp_uses_are_judged_by_the_listen_and_connect_rules() {
        let policy = loopback_listen_only()
            .allow_connect("127.0.0.1:9000")
            .unwrap();
        let ok = |a: &str, u| is_allowed(&policy, addr(a), u);
        assert!(ok("127.0.0.1:8080", SocketAddrUse::TcpBind));
        assert!(ok("127.0.0.1:8080", SocketAddrUse::TcpListen));
        assert!(!ok("127.0.0.1:8081", SocketAddrUse::TcpBind));
        assert!(!ok("127.0.0.1:8081", SocketAddrUse::TcpListen));
        assert!(ok("127.0.0.1:9000", SocketAddrUse::TcpConnect));
        assert!(!ok("127.0.0.1:8080", SocketAddrUse::TcpConnect));
        assert!(ok("10.9.9.9:1234", SocketAddrUse::TcpAccept));
    }

    #[test]
    fn the_kernels_own_bind_is_allowed_but_listening_on_its_port_is_checked() {
        let policy = Policy::new();
        for any in ["0.0.0.0:0", "[::]:0"] {
            assert!(is_allowed(&policy, addr(any), SocketAddrUse::TcpBind));
            assert!(is_allowed(&policy, addr(any), SocketAddrUse::UdpBind));
            assert!(!is_allowed(&policy, addr(any), SocketAddrUse::TcpListen));
        }
        assert!(!is_allowed(
            &policy,
            addr("0.0.0.0:80"),
            SocketAddrUse::TcpBind
        ));
        assert!(!is_allowed(
            &policy,
            addr("127.0.0.1:0"),
            SocketAddrUse::UdpBind
        ));
        assert!(!is_allowed(
            &policy,
            addr("0.0.0.0:41234"),
            SocketAddrUse::TcpListen
        ));
    }

    #[test]
    fn udp_uses_are_judged_by_the_udp_rules() {
        let policy = Policy::new()
            .allow_udp_bind("127.0.0.1:*")
            .and_then(|p| p.allow_udp_send("127.0.0.1:53"))
            .unwrap();
        let ok = |a: &str, u| is_allowed(&policy, addr(a), u);
        assert!(ok("127.0.0.1:5000", SocketAddrUse::UdpBind));
        assert!(!ok("10.0.0.1:5000", SocketAddrUse::UdpBind));
        assert!(ok("127.0.0.1:53", SocketAddrUse::UdpSend));
        assert!(!ok("127.0.0.1:54", SocketAddrUse::UdpSend));
        assert!(ok("10.0.0.1:54", SocketAddrUse::UdpReceive));
        // The listen grant is not a udp grant.
        assert!(!is_allowed(
            &loopback_listen_only(),
            addr("127.0.0.1:8080"),
            SocketAddrUse::UdpBind
        ));
    }
}
