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
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! # The model
//!
//! - A [`Runtime`] owns the wasmtime engine and the linker of everything a workload may
//!   import (standard WASI 0.2 and the `sandloop:host` interfaces). One per process.
//! - [`Runtime::load`] turns a component file into a [`Workload`]: compiled once (or
//!   deserialized from a `.cwasm` written by `sandloop compile`), linked once, cached.
//! - [`Workload::run`] instantiates it into a fresh store and calls its `wasi:cli/run` on
//!   the current thread until the guest returns, exits or traps; [`Workload::start`] does
//!   the same on a new thread and hands back the instance's [`ReactorWaker`] at once.
//!
//! One instance is one event loop is one OS thread: the guest loop blocks in the native
//! [`reactor`] (epoll through mio) when it has nothing to do, and host threads interrupt it
//! with the waker. Everything an instance holds (its WASI context, its resource table with
//! every socket or source, its reactor) lives in its store and is released when the run
//! returns, whatever way the guest ended.
//!
//! A workload gets nothing by default: no host environment variables, no files, no
//! network; the caller lists what it passes in [`RunOptions`].

#![warn(missing_docs)]

mod bindings;
pub mod reactor;
mod runtime;
mod state;
mod workload;

pub use reactor::ReactorWaker;
pub use runtime::{PRECOMPILED_EXTENSION, Runtime};
pub use workload::{ExitStatus, RunOptions, RunOutput, RunningWorkload, Workload};
