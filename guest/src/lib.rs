//! # sandloop: the asyncio event loop, in Rust, inside a WebAssembly sandbox
//!
//! A workload is an ordinary `fn main()` program compiled for `wasm32-wasip2` and run by the
//! `sandloop` host. Its event loop (callbacks, timers, futures, tasks) runs inside the
//! sandbox; the host supplies a native reactor that hands the loop every ready event in one
//! call. The API mirrors asyncio's, method by method:
//!
//! ```no_run
//! let lp = sandloop::new_event_loop();
//! let stopper = lp.clone();
//! lp.call_soon(move || {
//!     println!("Hello World");
//!     stopper.stop();
//! });
//! lp.run_forever().unwrap();
//! lp.close().unwrap();
//! ```
//!
//! Coroutines are Rust futures returning a `Result` or a plain value (see [`IntoResult`]):
//!
//! ```no_run
//! use std::time::Duration;
//! sandloop::run(async {
//!     let lp = sandloop::get_running_loop()?;
//!     let task = lp.create_task(async {
//!         sandloop::sleep(Duration::from_millis(50)).await?;
//!         Ok::<_, sandloop::Error>("done")
//!     });
//!     println!("{}", task.await?);
//!     Ok::<_, sandloop::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! The model, as in asyncio: single-threaded; [`EventLoop`] is a cheap `Clone` handle;
//! callbacks run in FIFO order in batches; timers run in order of their due time; an `Err`
//! returned by a callback reaches the loop's exception handler. Module names follow
//! asyncio's files (`base_events`, `events`, `futures`, `tasks`, `locks`, `queues`, ...).
//!
//! A workload can also be a plugin: `EventLoop::export_function` registers a function
//! the embedding application calls (`sandloop_host::Caller`) while the loop serves its
//! other work; each call runs as a task.

//!
//! ## The portable build
//!
//! Built without the default `host-reactor` feature, the crate imports nothing beyond
//! standard WASI 0.2 and runs on any WASI 0.2 host (the wasmtime CLI with
//! `-S inherit-network`, jco, sandloop's host): TCP servers, connections, transports,
//! streams, datagram endpoints, `sock_*` and `add_reader`/`add_writer` go through
//! `wasi:sockets`, polled with
//! `wasi:io/poll` by [`WasiPollSelector`], and names resolve with
//! `wasi:sockets/ip-name-lookup`. Stream transports run in readiness mode (asyncio's
//! selector transports). What WASI 0.2 has no interface for is handled two ways:
//! - whole subsystems with no portable form are compiled out, so a workload that needs
//!   them fails to build rather than at run time: subprocesses (`subprocess`,
//!   `subprocess_exec`), signals (`signal`, `add_signal_handler`), the executor of sibling
//!   instances (`executor`, `run_in_executor`), posts and calls from the embedding
//!   application (`call_soon_threadsafe`'s host side, `export_function`), the embedding
//!   application's host functions (`host_functions`), and `ProactorEventLoop` / `HostSelector` (the
//!   host's completion mode);
//! - options of otherwise portable calls compile and are refused where they start, with an
//!   `Error::Os` of kind `Unsupported` naming the operation and why: unix sockets, pipes
//!   (`os::pipe`, stdio as pipes), TLS (`ssl` on connections and servers, `start_tls`),
//!   `SO_BROADCAST` and `SO_REUSEPORT`, and native `sendfile` (`fs::File`; the
//!   read-and-write fallback works with any reader).

#![warn(missing_docs)]

mod addresses;
mod as_completed;
mod asyncgens;
mod base_events;
mod base_tasks;
#[cfg(feature = "host-reactor")]
mod calls;
mod connections;
pub mod context;
mod datagrams;
mod dns;
mod error;
mod events;
mod exception_handler;
#[cfg(feature = "host-reactor")]
pub mod executor;
mod flow_control;
pub mod fs;
mod futures;
mod gather;
#[cfg(feature = "host-reactor")]
pub mod host_functions;
#[cfg(all(feature = "wasi-http", not(feature = "host-reactor")))]
pub mod http;
#[cfg(feature = "hyper")]
pub mod hyper;
#[cfg(all(feature = "wasi-http", feature = "host-reactor"))]
compile_error!(
    "the `wasi-http` feature needs the portable backend: depend on sandloop with \
     `default-features = false`"
);
mod io_registry;
#[cfg(feature = "host-reactor")]
mod json;
mod locks;
mod log;
pub mod net;
pub mod os;
mod pipe_transports;
mod proactor_events;
mod protocols;
mod queues;
mod readiness;
mod runners;
mod selector_events;
mod sendfile;
mod servers;
#[cfg(feature = "host-reactor")]
pub mod signal;
#[cfg(feature = "host-reactor")]
mod signal_handlers;
mod sslproto;
mod staggered;
mod stream_io;
pub mod streams;
#[cfg(feature = "host-reactor")]
pub mod subprocess;
mod sys;
mod tasks;
#[cfg(feature = "host-reactor")]
mod threadsafe;
mod timeouts;
pub mod tls;
mod transports;
mod unix_events;
mod waiters;
mod wakeup;

pub use as_completed::{AsCompleted, as_completed};
pub use asyncgens::AsyncGen;
pub use base_tasks::{Coroutine, TaskFactory, TaskOptions, TaskRef, current_task};
pub use connections::{AcceptedSocketOptions, ConnectOptions};
pub use datagrams::{
    DatagramExtraInfo, DatagramOptions, DatagramTransport, SharedDatagramProtocol,
};
pub use dns::AddrInfoHints;
pub use error::{Error, IntoResult, Result};
pub use events::{
    DefaultEventLoopPolicy, EventLoop, EventLoopPolicy, Handle, TimerHandle, get_event_loop,
    get_event_loop_policy, get_running_loop, new_event_loop, set_event_loop, set_event_loop_policy,
};
pub use exception_handler::{ExceptionContext, ExceptionHandler};
#[cfg(feature = "host-reactor")]
pub use executor::Executor;
pub use futures::{CallbackId, Future};
pub use gather::{ReturnWhen, gather, gather_settled, shield, wait};
pub use locks::{Event, Lock, Semaphore};
pub use pipe_transports::{ReadPipeTransport, WritePipeTransport};
#[cfg(feature = "host-reactor")]
pub use proactor_events::ProactorEventLoop;
pub use protocols::{BufferedProtocol, DatagramProtocol, Protocol};
pub use queues::{Queue, QueueStream};
pub use runners::run;
pub use selector_events::SelectorEventLoop;
pub use sendfile::SendfileSource;
pub use servers::{Hosts, Server, ServerOptions};
pub use sslproto::{SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT, TlsOptions};
#[cfg(feature = "host-reactor")]
pub use subprocess::{SubprocessProtocol, SubprocessTransport};
#[cfg(feature = "host-reactor")]
pub use sys::HostSelector;
pub use sys::{Event as SelectorEvent, Readiness, Selector, WasiPollSelector, exit};
pub use tasks::{Task, all_tasks, create_task, sleep, spawn};
pub use timeouts::{timeout, timeout_at, wait_for};
pub use transports::{ExtraInfo, SharedProtocol, Transport, TransportSocket};
pub use unix_events::{UnixConnectOptions, UnixPath, UnixServerOptions};

/// What the crate's macros use; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
    pub use wit_bindgen;
}
