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
//! Coroutines are Rust futures returning `()` or a `Result` (see [`IntoResult`]):
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

#![warn(missing_docs)]

#[cfg(feature = "host-reactor")]
mod addresses;
mod asyncgens;
mod base_events;
mod base_tasks;
#[cfg(feature = "host-reactor")]
mod connections;
pub mod context;
#[cfg(feature = "host-reactor")]
mod datagrams;
#[cfg(feature = "host-reactor")]
mod dns;
mod error;
mod events;
mod exception_handler;
#[cfg(feature = "host-reactor")]
pub mod executor;
#[cfg(feature = "host-reactor")]
mod flow_control;
#[cfg(feature = "host-reactor")]
pub mod fs;
mod futures;
mod gather;
#[cfg(feature = "host-reactor")]
mod io_registry;
mod locks;
mod log;
#[cfg(feature = "host-reactor")]
pub mod net;
#[cfg(feature = "host-reactor")]
pub mod os;
#[cfg(feature = "host-reactor")]
mod pipe_transports;
#[cfg(feature = "host-reactor")]
mod proactor_events;
#[cfg(feature = "host-reactor")]
mod protocols;
mod queues;
#[cfg(feature = "host-reactor")]
mod readiness;
mod runners;
mod selector_events;
#[cfg(feature = "host-reactor")]
mod sendfile;
#[cfg(feature = "host-reactor")]
mod servers;
#[cfg(feature = "host-reactor")]
pub mod signal;
#[cfg(feature = "host-reactor")]
mod signal_handlers;
#[cfg(feature = "host-reactor")]
mod sslproto;
#[cfg(feature = "host-reactor")]
mod staggered;
#[cfg(feature = "host-reactor")]
mod stream_io;
#[cfg(feature = "host-reactor")]
pub mod streams;
#[cfg(feature = "host-reactor")]
pub mod subprocess;
mod sys;
mod tasks;
#[cfg(feature = "host-reactor")]
mod threadsafe;
mod timeouts;
#[cfg(feature = "host-reactor")]
pub mod tls;
#[cfg(feature = "host-reactor")]
mod transports;
#[cfg(feature = "host-reactor")]
mod unix_events;
mod waiters;
#[cfg(feature = "host-reactor")]
mod wakeup;

pub use asyncgens::AsyncGen;
pub use base_tasks::{Coroutine, TaskFactory, TaskOptions, TaskRef, current_task};
#[cfg(feature = "host-reactor")]
pub use connections::{AcceptedSocketOptions, ConnectOptions};
#[cfg(feature = "host-reactor")]
pub use datagrams::{
    DatagramExtraInfo, DatagramOptions, DatagramTransport, SharedDatagramProtocol,
};
#[cfg(feature = "host-reactor")]
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
#[cfg(feature = "host-reactor")]
pub use pipe_transports::{ReadPipeTransport, WritePipeTransport};
#[cfg(feature = "host-reactor")]
pub use proactor_events::ProactorEventLoop;
#[cfg(feature = "host-reactor")]
pub use protocols::{BufferedProtocol, DatagramProtocol, Protocol};
pub use queues::Queue;
pub use runners::run;
pub use selector_events::SelectorEventLoop;
#[cfg(feature = "host-reactor")]
pub use sendfile::SendfileSource;
#[cfg(feature = "host-reactor")]
pub use servers::{Hosts, Server, ServerOptions};
#[cfg(feature = "host-reactor")]
pub use sslproto::{SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT, TlsOptions};
#[cfg(feature = "host-reactor")]
pub use subprocess::{SubprocessProtocol, SubprocessTransport};
#[cfg(feature = "host-reactor")]
pub use sys::HostSelector;
pub use sys::{Event as SelectorEvent, Readiness, Selector, WasiPollSelector, exit};
pub use tasks::{Task, all_tasks, create_task, sleep};
pub use timeouts::{timeout, timeout_at, wait_for};
#[cfg(feature = "host-reactor")]
pub use transports::{ExtraInfo, SharedProtocol, Transport, TransportSocket};
#[cfg(feature = "host-reactor")]
pub use unix_events::{UnixConnectOptions, UnixPath, UnixServerOptions};

/// What the crate's macros use; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use serde_json;
    pub use wit_bindgen;
}
