//! Host bindings generated from `wit/` for the sandloop interfaces.
//!
//! Only the world `sandloop:host/imports` is generated here: standard WASI comes from
//! `wasmtime_wasi::p2`, whose own generated bindings already cover `wasi:*`, and the jobs a
//! workload exports to the executor's workers (`sandloop:jobs/worker`) have their bindings
//! in `executor::worker_bindings`, next to their only caller. This module
//! and the per-interface modules (`reactor`, `net`, `dns`, ...) are the only places that
//! touch generated code, so a change in the WIT shows up in one place per interface.
//!
//! Every import is `trappable`: host functions return `wasmtime::Result<..>`, so a guest
//! that passes a stale or foreign resource handle gets a trap from the `ResourceTable`
//! lookup instead of a host panic; the WIT-level errors (`error-code`, `types.error`) stay
//! in the inner `Result` the guest sees.

wasmtime::component::bindgen!({
    path: "wit",
    world: "sandloop:host/imports",
    imports: { default: trappable },
    // The world-level `add_to_linker` links the WASI interfaces `net` uses, whose
    // wasmtime-wasi linkers need `Send` store data (ours is).
    require_store_data_send: true,
    with: {
        "sandloop:host/reactor.source": crate::reactor::Source,
        "sandloop:host/net.socket": crate::net::Socket,
        "sandloop:host/net.stream": crate::net::Stream,
        "sandloop:host/dns.address-lookup": crate::dns::AddressLookup,
        "sandloop:host/dns.name-lookup": crate::dns::NameLookup,
        "sandloop:host/executor.pool": crate::executor::Pool,
        "sandloop:host/executor.job": crate::executor::Job,
        "sandloop:host/host-functions.host-call": crate::host_functions::HostCall,
        "sandloop:host/fs.pipe": crate::fs::Pipe,
        "sandloop:host/process.child": crate::process::Child,
        "sandloop:host/signal.subscription": crate::signal::Subscription,
        "sandloop:host/tls.context": crate::tls::Context,
        // `net` borrows WASI's file descriptors for sendfile: the WASI types are
        // wasmtime-wasi's own, so the guest's files are the ones its table holds.
        "wasi": wasmtime_wasi::p2::bindings,
    },
});

pub use sandloop::host::{
    dns, executor, fs, host_functions, inbox, net, process, reactor, signal, tls, types,
};

// The types every interface shares (`types`: errors, addresses, address families),
// converted where the glue hands them over.

impl From<crate::error::Error> for types::Error {
    fn from(err: crate::error::Error) -> types::Error {
        types::Error {
            kind: err.kind.into(),
            message: err.message,
        }
    }
}

impl From<crate::error::ErrorKind> for types::ErrorKind {
    fn from(kind: crate::error::ErrorKind) -> types::ErrorKind {
        use crate::error::ErrorKind as Kind;
        match kind {
            Kind::WouldBlock => types::ErrorKind::WouldBlock,
            Kind::InProgress => types::ErrorKind::InProgress,
            Kind::Denied => types::ErrorKind::Denied,
            Kind::PermissionDenied => types::ErrorKind::PermissionDenied,
            Kind::NotFound => types::ErrorKind::NotFound,
            Kind::ConnectionRefused => types::ErrorKind::ConnectionRefused,
            Kind::ConnectionReset => types::ErrorKind::ConnectionReset,
            Kind::ConnectionAborted => types::ErrorKind::ConnectionAborted,
            Kind::NotConnected => types::ErrorKind::NotConnected,
            Kind::AddressInUse => types::ErrorKind::AddressInUse,
            Kind::AddressNotAvailable => types::ErrorKind::AddressNotAvailable,
            Kind::BrokenPipe => types::ErrorKind::BrokenPipe,
            Kind::TimedOut => types::ErrorKind::TimedOut,
            Kind::HostUnreachable => types::ErrorKind::HostUnreachable,
            Kind::NetworkUnreachable => types::ErrorKind::NetworkUnreachable,
            Kind::InvalidInput => types::ErrorKind::InvalidInput,
            Kind::Unsupported => types::ErrorKind::Unsupported,
            Kind::LimitReached => types::ErrorKind::LimitReached,
            Kind::Tls => types::ErrorKind::Tls,
            Kind::Other => types::ErrorKind::Other,
        }
    }
}

impl From<types::Address> for crate::net::Address {
    fn from(addr: types::Address) -> crate::net::Address {
        match addr {
            types::Address::Inet(text) => crate::net::Address::Inet(text),
            types::Address::Unix(path) => crate::net::Address::Unix(path),
        }
    }
}

impl From<crate::net::Address> for types::Address {
    fn from(addr: crate::net::Address) -> types::Address {
        match addr {
            crate::net::Address::Inet(text) => types::Address::Inet(text),
            crate::net::Address::Unix(path) => types::Address::Unix(path),
        }
    }
}

impl From<types::AddressFamily> for crate::net::AddressFamily {
    fn from(family: types::AddressFamily) -> crate::net::AddressFamily {
        match family {
            types::AddressFamily::Ipv4 => crate::net::AddressFamily::Ipv4,
            types::AddressFamily::Ipv6 => crate::net::AddressFamily::Ipv6,
            types::AddressFamily::Unix => crate::net::AddressFamily::Unix,
        }
    }
}

impl From<crate::net::AddressFamily> for types::AddressFamily {
    fn from(family: crate::net::AddressFamily) -> types::AddressFamily {
        match family {
            crate::net::AddressFamily::Ipv4 => types::AddressFamily::Ipv4,
            crate::net::AddressFamily::Ipv6 => types::AddressFamily::Ipv6,
            crate::net::AddressFamily::Unix => types::AddressFamily::Unix,
        }
    }
}
