//! The sandloop host: runs asyncio-style event-loop workloads, compiled to WebAssembly
//! components, inside wasmtime.
//!
//! ```no_run
//! use sandloop_host::{Runtime, RunOptions};
//!
//! let runtime = Runtime::new()?;
//! let workload = runtime.load("hello_world.wasm".as_ref())?;
//! let output = workload.run(RunOptions::default())?; // prints "Hello World"
//! std::process::exit(output.status.code().unwrap_or(101));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The model
//!
//! - A [`Runtime`] owns the wasmtime engine and the linker of everything a workload may
//!   import (standard WASI 0.2 and the `sandloop:host` interfaces). One per process.
//! - [`Runtime::load`] turns a component file into a [`Workload`]: compiled once, linked
//!   once, cached; [`Runtime::load_precompiled`] (unsafe: native code is trusted) also
//!   takes a `.cwasm` written by `sandloop compile`, after checking its integrity.
//! - [`Workload::run`] instantiates it into a fresh store and calls its `wasi:cli/run` on
//!   the current thread until the guest returns, exits or traps; [`Workload::start`] does
//!   the same on a new thread and hands back the instance's [`ReactorWaker`] and a
//!   [`Poster`] into its loop at once.
//!
//! One instance is one event loop is one OS thread: the guest loop blocks in the native
//! [`reactor`] (epoll through mio) when it has nothing to do, and host threads interrupt it
//! with the waker. With [`RuntimeOptions::shared_threads`], instances are instead tasks on a
//! few shared threads with one shared reactor, parked while they wait (see [`shared`]).
//! Everything an instance holds (its WASI context, its resource table with
//! every socket or source, its reactor) lives in its store and is released when the run
//! returns, whatever way the guest ended.
//!
//! A workload gets nothing by default: no host environment variables, no files, no
//! network; the caller lists what it passes in [`RunOptions`].
//!
//! # The interfaces
//!
//! One module per WIT interface of `sandloop:host`:
//! - [`reactor`]: register readiness sources, `wait` for a batch of events;
//! - [`net`]: sockets (create, bind, listen, accept, connect, recv, send, options,
//!   `socketpair`) and completion-mode [`net::Stream`]s, whose reads arrive inside the
//!   reactor's events and whose writes the host buffers and flushes;
//! - [`dns`]: `getaddrinfo`/`getnameinfo` on host threads, answered through the reactor;
//! - [`executor`]: `run_in_executor`'s default executor, a pool of sibling instances of
//!   the workload on host threads (like a process pool), running the jobs the component
//!   exports; answers come through the reactor;
//! - [`host_functions`]: functions the embedding application provides, which a workload
//!   calls by name under its policy and awaits on its loop; answers come through the
//!   reactor, from any thread;
//! - [`inbox`]: messages posted into a running loop from outside it, the host side of
//!   `call_soon_threadsafe`, and [`calls`] of the functions a workload exports, which
//!   travel through it;
//! - [`fs`]: pipes and the workload's own stdio as pipe ends, in readiness mode or taken
//!   over by a completion-mode [`net::Stream`].
//!
//! OS failures reach the guest as a WIT `error` with a kind it can match
//! (`connection-refused`, `would-block`, ...) and a message naming the operation, the
//! target and the OS's words. A stale or foreign resource handle traps the guest; it never
//! panics the host.
//!
//! # Posting into a running loop
//!
//! An embedding application (or whatever relays between instances) schedules work in a
//! running loop with a [`Poster`]: each message names a callback the guest registered and
//! carries its argument as bytes. The post wakes the loop's reactor; a post to a loop that
//! has closed, or to an instance that has ended, fails with [`PostError::Closed`].
//!
//! ```no_run
//! use sandloop_host::{RunOptions, Runtime};
//!
//! let workload = Runtime::new()?.load("service.wasm".as_ref())?;
//! let running = workload.start(RunOptions::default())?;
//! let poster = running.poster(); // Clone + Send + Sync
//! poster.post("reload", "config.toml")?;
//! let output = running.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Calling a workload's functions
//!
//! A [`Caller`] calls the functions a running workload exported on its loop
//! (`EventLoop::export_function` in the guest) and gets their results, blocking or as a
//! [`Future`] (see [`calls`]).
//!
//! ```no_run
//! # fn demo(running: sandloop_host::RunningWorkload) -> Result<(), sandloop_host::CallError> {
//! let greeting: String = running.caller().call("greet", &"ada").wait()?;
//! # Ok(()) }
//! ```
//!
//! # Executor workers
//!
//! A pool's workers are instances of the same component with their own store and
//! memory, on threads named `sandloop-worker`, started as jobs need them. They get the
//! run's environment and [`Policy`] but no arguments and no stdin; their stdout and stderr
//! go where the run's go (into [`RunOutput`] when it captures). A worker that traps fails
//! its job and is replaced by a fresh instance. When the run ends, its pools close: queued
//! jobs are cancelled and each worker exits after the job it is running.
//!
//! # Capabilities
//!
//! A [`Policy`] says where a workload may listen and connect, and which names resolve to
//! fixed addresses; everything else is denied, with an audit line in the host log
//! (`tracing` target `sandloop::audit`; a denial repeated within 10 s is counted into
//! one line) and an error of kind `denied` in the guest that names the operation and the
//! address:
//!
//! ```no_run
//! use sandloop_host::{Policy, RunOptions, Runtime};
//!
//! let policy = Policy::new()
//!     .allow_listen("127.0.0.1:8080")?
//!     .allow_connect("10.0.0.0/8:5432")?
//!     .resolve_name("db.internal", ["10.1.2.3".parse()?]);
//! let workload = Runtime::new()?.load("server.wasm".as_ref())?;
//! workload.run(RunOptions { policy, ..Default::default() })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod bindings;
pub mod calls;
pub mod dns;
mod error;
pub mod executor;
pub mod fs;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod guest_bytes;
pub mod host_functions;
#[cfg(test)]
mod hostile_handles;
pub mod inbox;
mod limits;
pub mod net;
pub mod policy;
pub mod process;
pub mod reactor;
mod runtime;
pub mod shared;
pub mod signal;
mod slot;
mod state;
mod stats;
#[cfg(any(test, feature = "fuzzing"))]
// The fuzz driver uses only part of the fixture.
#[cfg_attr(not(test), allow(dead_code))]
mod testing;
pub mod tls;
mod wasi_sockets;
mod workload;

pub use calls::{Call, CallError, Caller};
pub use host_functions::{HostFunctions, Reply};
pub use inbox::{PostError, Poster};
pub use policy::{
    AddrRule, Denied, DnsDenied, ExecRule, HostFunctionDenied, LimitError, Limits, Policy,
    PolicyError, Preopen, ResolveOverride, RuleError, UnixRule,
};
pub use reactor::ReactorWaker;
pub use runtime::{
    BoxError, ComponentError, DEFAULT_KEEP_RESIDENT, LoadError, PRECOMPILED_EXTENSION,
    PoolingOptions, PrecompiledError, Runtime, RuntimeError, RuntimeOptions,
};
pub use state::InstanceError;
pub use stats::Stats;
pub use workload::{
    ExitStatus, RunError, RunOptions, RunOutput, RunningWorkload, StopHandle, Workload,
};
