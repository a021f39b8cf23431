//! The portable backend: standard `wasi:sockets` and `wasi:io/poll`, for any WASI 0.2 host
//! (the wasmtime CLI, jco, sandloop's host).
//!
//! It offers the upper layers the same crate-internal surface as the sandloop host's
//! modules (`net`, `dns`, `errors`, ...), so `net.rs`, the transports and the servers
//! compile against either backend unchanged; `sys/mod.rs` picks one. Readiness comes from
//! `poll.rs`, the reactor that `WasiPollSelector` waits on. What WASI 0.2 cannot do (unix
//! sockets, pipes, TLS, native `sendfile`, the host's completion-mode streams) is refused
//! with an `Unsupported` error naming the operation: the types that would carry it
//! (`HostPipe`, `HostFile`, `HostStream`, `HostTlsContext`) can never be made here.

mod bindings;
pub(crate) mod completion;
pub(crate) mod dns;
pub(crate) mod errors;
pub(crate) mod files;
pub(crate) mod fs;
#[cfg(feature = "wasi-http")]
pub(crate) mod http;
// Public (hidden) for `sandloop::http_handler!`, whose export expands in the workload.
#[cfg(feature = "wasi-http")]
#[doc(hidden)]
pub mod http_bindings;
pub(crate) mod net;
mod network;
pub(crate) mod poll;
mod tcp;
pub(crate) mod tls;
mod udp;
