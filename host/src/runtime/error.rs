//! Why a runtime could not be set up, or a component not loaded: the errors of
//! [`Runtime`](crate::Runtime)'s constructors, `load`, `load_precompiled` and `precompile`.
//!
//! Each error says what was attempted on what (`failed to load app.wasm`) and keeps what
//! went wrong underneath as its [`source`](std::error::Error::source), so a caller that
//! prints the chain (anyhow's `{:#}`, as the `sandloop` CLI does) reads
//! `failed to load app.wasm: not a WebAssembly component nor a .cwasm file`.

use std::io;
use std::path::PathBuf;

use super::precompiled::{PRECOMPILED_EXTENSION, PrecompiledError};

/// An error of wasmtime's (which implements no `std::error::Error` itself), boxed with its
/// chain of causes.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`Runtime`](crate::Runtime) could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// wasmtime refused the engine's configuration (with the pooling allocator: its pool
    /// did not fit in the address space).
    #[error("failed to create the wasmtime engine{}", if *pooling { " with the pooling allocator" } else { "" })]
    Engine {
        /// Whether the pooling allocator was asked for.
        pooling: bool,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// The thread that advances the engine's epoch could not start.
    #[error("failed to start the epoch ticker")]
    Ticker(#[source] io::Error),
    /// The shared threads ([`RuntimeOptions::shared_threads`](crate::RuntimeOptions))
    /// could not start.
    #[error("failed to start the shared threads")]
    Threads(#[source] io::Error),
    /// An interface could not be added to the linker (a bug of sandloop's).
    #[error("failed to link {interface}")]
    Link {
        /// The interface, as `sandloop:host/net` or `WASI`.
        interface: &'static str,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
}

/// Why a component was not loaded ([`Runtime::load`](crate::Runtime::load),
/// [`Runtime::load_precompiled`](crate::Runtime::load_precompiled)) or not precompiled
/// ([`Runtime::precompile`](crate::Runtime::precompile)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be opened (it does not exist, or is not readable).
    #[error("failed to open {}", path.display())]
    Open {
        /// The path as the caller gave it.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The path as the caller gave it.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The file is not a component this host can run, or not one it may load.
    #[error("failed to load {}", path.display())]
    Load {
        /// The path as the caller gave it.
        path: PathBuf,
        /// What is wrong with the file.
        #[source]
        source: ComponentError,
    },
    /// wasmtime could not compile the component.
    #[error("failed to compile {}", path.display())]
    Compile {
        /// The component's path.
        path: PathBuf,
        /// wasmtime's error.
        #[source]
        source: BoxError,
    },
    /// The precompiled code could not be written.
    #[error("failed to write {}", path.display())]
    Write {
        /// Where it was to go.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// What is wrong with a file that was to be loaded as a workload.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// The first bytes, which tell what the file is, could not be read.
    #[error("failed to read the file's header")]
    Header(#[source] io::Error),
    /// Neither a WebAssembly component nor native code.
    #[error("not a WebAssembly component nor a .{PRECOMPILED_EXTENSION} file")]
    NotWasm,
    /// A core module, which a host of components cannot run.
    #[error("this is a core WebAssembly module, not a component (build it for wasm32-wasip2)")]
    CoreModule,
    /// Precompiled code refused (see [`PrecompiledError`]).
    #[error(transparent)]
    Precompiled(#[from] PrecompiledError),
    /// The file could not be opened for the integrity check of precompiled code.
    #[error("failed to open the file")]
    Open(#[source] io::Error),
    /// The file could not be read for the integrity check of precompiled code.
    #[error(transparent)]
    Io(io::Error),
    /// wasmtime refused the code: it does not validate, or precompiled code does not match
    /// this engine.
    #[error(transparent)]
    Wasmtime(BoxError),
    /// The component imports something this host does not provide.
    #[error("the component's imports cannot be satisfied by this host")]
    Imports(#[source] BoxError),
    /// The component is no command: it exports no `wasi:cli/run`.
    #[error("the component does not export wasi:cli/run")]
    NoRun(#[source] BoxError),
}
