//! The engine and everything shared between workloads: configuration, linker, caches.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Enabled, Engine, InstanceAllocationStrategy, OptLevel,
    PoolingAllocationConfig, Precompiled, WasmBacktraceDetails,
};
use wasmtime_wasi::p2::bindings::sync::CommandPre;

use crate::bindings::{dns, executor, inbox, types};
use crate::executor::WorkerPre;
use crate::inbox::Inbox;
use crate::shared::SharedThreads;
use crate::state::{
    HasDns, HasExecutor, HasFs, HasHostFunctions, HasNet, HasProcess, HasSignal, HasWasiSockets,
    State,
};
use crate::workload::{Shared, Workload};

mod error;
mod precompiled;

pub use error::{BoxError, ComponentError, LoadError, RuntimeError};
pub use precompiled::{PRECOMPILED_EXTENSION, PrecompiledError};

/// How a [`Runtime`] is set up; the default is what [`Runtime::new`] does.
///
/// ```
/// use sandloop_host::{PoolingOptions, Runtime, RuntimeOptions};
///
/// // Dense multi-tenant use: instances come from a preallocated pool.
/// let runtime = Runtime::with_options(RuntimeOptions {
///     pooling: Some(PoolingOptions { max_instances: 16, ..Default::default() }),
///     ..Default::default()
/// })?;
/// # Ok::<(), sandloop_host::RuntimeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Use wasmtime's on-disk compile cache (see [`Runtime`]); default `true`.
    pub disk_cache: bool,
    /// Allocate instances from wasmtime's pooling allocator instead of mapping memory for
    /// each instance on demand; default `None` (on demand).
    pub pooling: Option<PoolingOptions>,
    /// Compile guests with wasmtime's epoch checks, which a callback time limit
    /// ([`Limits::callback_cpu`](crate::Limits)) and stopping a guest that spins
    /// ([`StopHandle`](crate::StopHandle)) need; default `true`. The checks cost the loop
    /// core about a fifth of its speed (bench_loop: `call_soon` 123 against 98 ns,
    /// `create_task` 402 against 343 ns), so a host that sets no callback limit and stops
    /// only guests that wait can turn them off; a run asking for a callback limit is then
    /// refused. Precompiled code must come from a runtime with the same setting.
    pub interruptible: bool,
    /// `None` (the default): each instance runs on an OS thread of its own, blocking in a
    /// reactor of its own. `Some(n)`: the runtime's instances share `n` host threads (`0`:
    /// one per core) and one reactor; an instance waiting for I/O holds no thread, and a
    /// busy one yields after a budget of work (see [`shared`](crate::shared)). Dense
    /// multi-tenant hosts want this; a single hot loop may be faster on a thread of its own.
    /// ([`Workload::run`], which holds the calling thread until the guest ends, runs the
    /// instance's task on that thread, seated at the shared reactor.)
    pub shared_threads: Option<usize>,
}

impl Default for RuntimeOptions {
    fn default() -> RuntimeOptions {
        RuntimeOptions {
            disk_cache: true,
            pooling: None,
            interruptible: true,
            shared_threads: None,
        }
    }
}

/// The size of the pool of wasmtime's pooling allocator.
///
/// The pool reserves address space (not memory) for all its slots when the runtime is
/// created, and instantiating takes a warm slot (its memory mapping reused, reset
/// copy-on-write) instead of setting one up: cheaper starts, a fixed ceiling. Once
/// `max_instances` instances are alive, one more fails to instantiate.
#[derive(Debug, Clone)]
pub struct PoolingOptions {
    /// The most instances alive at once, runs and executor workers together; default 100.
    pub max_instances: u32,
    /// The most bytes one linear memory may grow to; default 4 GiB (no limit for wasm32).
    pub max_memory_size: usize,
    /// Bytes at the start of each linear memory and table that a slot keeps resident when
    /// its instance ends, reset in place for the next one. The default is
    /// [`DEFAULT_KEEP_RESIDENT`] (1 MiB) where the kernel tells which pages an instance
    /// dirtied (`PAGEMAP_SCAN`, Linux 6.7 and later), 0 elsewhere (wasmtime's default: all
    /// of it is returned to the kernel with `madvise`).
    ///
    /// Returning memory to the kernel costs a `madvise` per memory and table, a TLB
    /// shoot-down on every core running a thread of the process (instances started on
    /// several threads at once slow each other down) and a page fault for each page the
    /// next instance touches: about two thirds of a small guest's start, from a precompiled
    /// component to its first callback (bench/src/bin/startup.rs: 33 us median with 0, 12 us
    /// with 1 MiB). Kept resident, only the pages the instance dirtied are reset (copied back
    /// from the memory's image), found with `PAGEMAP_SCAN`; a guest that dirtied more than
    /// this much has the rest returned to the kernel as before. Without `PAGEMAP_SCAN` all
    /// `keep_resident` bytes are reset with `memset` at every reuse, which costs more than
    /// it saves for small guests: hence 0 there.
    ///
    /// The price is memory: each warm slot keeps what its last instance dirtied, up to this
    /// much per memory and table, while unused: about 50 KiB for tests/programs' `limits`
    /// (the startup bench's `--rss-slots 90`), at most `max_instances` slots times this much.
    /// Set 0 to return every ended instance's memory to the kernel.
    pub keep_resident: usize,
}

/// [`PoolingOptions::keep_resident`] by default where Linux's `PAGEMAP_SCAN` is available:
/// more than a small guest dirties (its stack, data and first heap pages), little against a
/// slot's address space.
pub const DEFAULT_KEEP_RESIDENT: usize = 1 << 20;

impl Default for PoolingOptions {
    fn default() -> PoolingOptions {
        PoolingOptions {
            max_instances: 100,
            max_memory_size: 4 << 30,
            keep_resident: default_keep_resident(),
        }
    }
}

/// [`DEFAULT_KEEP_RESIDENT`] where the kernel can tell which pages an instance dirtied,
/// else 0 (see [`PoolingOptions::keep_resident`]); asked once per process.
fn default_keep_resident() -> usize {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    let available = *AVAILABLE.get_or_init(|| {
        let available = PoolingAllocationConfig::is_pagemap_scan_available();
        if !available {
            tracing::debug!(
                "pooling: PAGEMAP_SCAN is not available, ended instances' memory is \
                 returned to the kernel"
            );
        }
        available
    });
    if available { DEFAULT_KEEP_RESIDENT } else { 0 }
}

/// Core instances, memories and tables one guest component may hold in the pool: a Rust
/// wasm32-wasip2 component is its main module plus a few small shim modules, with one
/// memory and a few tables.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const POOL_MEMORIES_PER_COMPONENT: u32 = 2;
const POOL_TABLES_PER_COMPONENT: u32 = 4;

/// One wasmtime `Engine` configured for sandloop, the linker of the host interfaces, and
/// an in-memory cache of loaded workloads.
///
/// Create one per process and load every workload through it: workloads of one runtime
/// share compiled code and configuration.
///
/// The engine:
/// - runs components, without the component-model async machinery (it triples the cost
///   of every host call, and sandloop's concurrency is the guest's own loop);
/// - keeps wasm backtraces with debug info, so a trap names functions, files and lines;
/// - compiles with Cranelift at `speed`;
/// - with [`Runtime::new`], uses wasmtime's on-disk compile cache (the user's cache
///   directory, `~/.cache/wasmtime` on Linux), keyed by the wasm bytes and the engine's
///   version and settings, so a `.wasm` compiles once across processes too.
pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    loaded: Mutex<HashMap<PathBuf, (FileStamp, Workload)>>,
    /// Whether guests are compiled with epoch checks ([`RuntimeOptions::interruptible`]).
    interruptible: bool,
    /// With [`RuntimeOptions::shared_threads`]: the linker whose `wait` parks (and whose
    /// WASI is async), and the threads.
    shared: Option<(Linker<State>, Arc<SharedThreads>)>,
}

// One runtime serves every thread of an embedding, and workloads move to their threads.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Runtime>();
    shareable::<Workload>();
};

/// What identifies one version of a file on disk, for the in-memory cache.
#[derive(Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Runtime {
    /// A runtime with wasmtime's on-disk compile cache. If the cache cannot be set up (no
    /// home directory, read-only file system), the runtime works without it and says so
    /// in the debug log.
    pub fn new() -> Result<Runtime, RuntimeError> {
        Runtime::with_disk_cache(true)
    }

    /// A runtime that never reads or writes wasmtime's on-disk compile cache.
    pub fn without_disk_cache() -> Result<Runtime, RuntimeError> {
        Runtime::with_disk_cache(false)
    }

    fn with_disk_cache(disk_cache: bool) -> Result<Runtime, RuntimeError> {
        Runtime::with_options(RuntimeOptions {
            disk_cache,
            ..RuntimeOptions::default()
        })
    }

    /// A runtime set up as `options` say.
    pub fn with_options(options: RuntimeOptions) -> Result<Runtime, RuntimeError> {
        // Instances on shared threads yield at the epoch's ticks (see `shared`).
        let interruptible = options.interruptible || options.shared_threads.is_some();
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .concurrency_support(false)
            // The watchdog of callback time limits and stops (see `limits`).
            .epoch_interruption(interruptible)
            // Thousands of instances on shared threads: a memory initialised by copying is
            // one mapping fewer than a copy-on-write image between two anonymous ones, and
            // a process has at most 65,530 mappings by default (`vm.max_map_count`).
            .memory_init_cow(options.shared_threads.is_none())
            // File and line in a trap's backtrace: wasmtime reads the guest's DWARF again
            // for each frame of each trap (tens of ms for a Rust guest), which thousands of
            // tenants on shared threads cannot afford (stopping 10,000 would take minutes of
            // CPU): there, traps name the functions only.
            .wasm_backtrace_details(match options.shared_threads {
                None => WasmBacktraceDetails::Enable,
                Some(_) => WasmBacktraceDetails::Disable,
            })
            .cranelift_opt_level(OptLevel::Speed);
        if let Some(pooling) = &options.pooling {
            let n = pooling.max_instances;
            let mut pool = PoolingAllocationConfig::new();
            pool.total_component_instances(n)
                .total_core_instances(n.saturating_mul(POOL_CORE_INSTANCES_PER_COMPONENT))
                .total_memories(n.saturating_mul(POOL_MEMORIES_PER_COMPONENT))
                .total_tables(n.saturating_mul(POOL_TABLES_PER_COMPONENT))
                // On shared threads each instance runs on a fiber with a stack of the pool
                // (wasmtime's default allows 1,000 at once, fewer than `n` may be).
                .total_stacks(n)
                .max_memory_size(pooling.max_memory_size);
            if pooling.keep_resident > 0 {
                // Resetting in place beats unmapping only when the reset touches just the
                // dirty pages, which PAGEMAP_SCAN (Linux 6.7+) finds; without it wasmtime
                // memsets all `keep_resident` bytes.
                pool.linear_memory_keep_resident(pooling.keep_resident)
                    .table_keep_resident(pooling.keep_resident)
                    .pagemap_scan(Enabled::Auto);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        // `perf record` can name the guest's compiled functions when wasmtime writes them to
        // /tmp/perf-PID.map; a developer's switch, off by default.
        if std::env::var_os("SANDLOOP_PERFMAP").is_some_and(|v| !v.is_empty()) {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if options.disk_cache {
            match Cache::new(CacheConfig::new()) {
                Ok(cache) => {
                    config.cache(Some(cache));
                }
                Err(err) => {
                    tracing::debug!("compile cache disabled: {err:#}");
                }
            }
        }
        let engine = Engine::new(&config).map_err(|err| RuntimeError::Engine {
            pooling: options.pooling.is_some(),
            source: err.into(),
        })?;
        if interruptible {
            crate::limits::start_ticker(&engine).map_err(RuntimeError::Ticker)?;
        }
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link("WASI"))?;
        linker.allow_shadowing(true);
        link_wasi_sockets(&mut linker)?;
        linker.allow_shadowing(false);
        types::add_to_linker::<State, HasSelf<State>>(&mut linker, |state| state)
            .map_err(link("sandloop:host/types"))?;
        crate::reactor::add_to_linker(&mut linker).map_err(link("sandloop:host/reactor"))?;
        crate::net::add_to_linker(&mut linker).map_err(link("sandloop:host/net"))?;
        dns::add_to_linker::<State, HasDns>(&mut linker, State::dns_view)
            .map_err(link("sandloop:host/dns"))?;
        executor::add_to_linker::<State, HasExecutor>(&mut linker, State::executor_view)
            .map_err(link("sandloop:host/executor"))?;
        crate::bindings::host_functions::add_to_linker::<State, HasHostFunctions>(
            &mut linker,
            State::host_functions_view,
        )
        .map_err(link("sandloop:host/host-functions"))?;
        inbox::add_to_linker::<State, HasSelf<Inbox>>(&mut linker, State::inbox)
            .map_err(link("sandloop:host/inbox"))?;
        crate::bindings::fs::add_to_linker::<State, HasFs>(&mut linker, State::fs_view)
            .map_err(link("sandloop:host/fs"))?;
        crate::bindings::process::add_to_linker::<State, HasProcess>(
            &mut linker,
            State::process_view,
        )
        .map_err(link("sandloop:host/process"))?;
        crate::bindings::signal::add_to_linker::<State, HasSignal>(&mut linker, State::signal_view)
            .map_err(link("sandloop:host/signal"))?;
        crate::bindings::tls::add_to_linker::<State, HasNet>(&mut linker, State::net_view)
            .map_err(link("sandloop:host/tls"))?;
        let shared = match options.shared_threads {
            Some(threads) => {
                let threads = SharedThreads::new(threads).map_err(RuntimeError::Threads)?;
                Some((shared_linker(&linker)?, Arc::new(threads)))
            }
            None => None,
        };
        Ok(Runtime {
            engine,
            linker,
            loaded: Mutex::new(HashMap::new()),
            interruptible,
            shared,
        })
    }

    /// Loads a workload from a `.wasm` component (compiled here, or taken from the compile
    /// cache).
    ///
    /// Loading the same unchanged file again returns the workload compiled the first time
    /// (keyed by canonical path, modification time and length).
    ///
    /// Precompiled native code (a `.cwasm`) is refused with
    /// [`PrecompiledError::NotAllowed`]: it runs without WebAssembly's checks, so only
    /// [`Runtime::load_precompiled`] loads it, for a caller that trusts it.
    pub fn load(&self, path: &Path) -> Result<Workload, LoadError> {
        self.load_as(path, NativeCode::Refused)
    }

    /// Loads a workload as [`Runtime::load`] does, or from a `.cwasm` written by
    /// [`Runtime::precompile`] (`sandloop compile`), which starts without compiling.
    ///
    /// A `.cwasm` is accepted only under that extension and only if its integrity trailer
    /// matches (the SHA-256 `precompile` appended: a damaged file is refused with
    /// [`PrecompiledError::Corrupted`] instead of crashing the host); wasmtime then
    /// refuses code from another wasmtime version or engine configuration.
    ///
    /// # Safety
    ///
    /// A `.cwasm` is native machine code that wasmtime maps and runs as is, with none of
    /// WebAssembly's validation: the caller vouches for its origin as it would for a
    /// native binary it runs. The trailer catches damage, not a forger, who can write it
    /// too (this is `wasmtime::component::Component::deserialize`'s contract).
    pub unsafe fn load_precompiled(&self, path: &Path) -> Result<Workload, LoadError> {
        self.load_as(path, NativeCode::Trusted)
    }

    fn load_as(&self, path: &Path, native: NativeCode) -> Result<Workload, LoadError> {
        let canonical = path.canonicalize().map_err(|source| LoadError::Open {
            path: path.to_owned(),
            source,
        })?;
        let metadata = fs::metadata(&canonical).map_err(|source| LoadError::Read {
            path: path.to_owned(),
            source,
        })?;
        let stamp = FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        };
        // Before the cache: a `.cwasm` loaded once by a trusting caller is still refused
        // to one that is not.
        let not_loaded = |source| LoadError::Load {
            path: path.to_owned(),
            source,
        };
        let kind = FileKind::of(&canonical)
            .and_then(|kind| kind.loadable(&canonical, native))
            .map_err(not_loaded)?;
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((cached, workload)) = loaded.get(&canonical)
            && *cached == stamp
        {
            tracing::debug!(path = %canonical.display(), "workload cache hit");
            return Ok(workload.clone());
        }
        // Compiling under the lock makes concurrent loads of one file compile it once.
        let workload = self.compile(&canonical, kind).map_err(not_loaded)?;
        loaded.insert(canonical, (stamp, workload.clone()));
        Ok(workload)
    }

    /// How many workloads the in-memory cache holds (one per distinct loaded file).
    pub fn cached_len(&self) -> usize {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Compiles the component at `wasm` for this host and writes the native artifact,
    /// followed by its integrity trailer, to `out` (which [`Runtime::load_precompiled`]
    /// accepts when it ends in `.cwasm`).
    pub fn precompile(&self, wasm: &Path, out: &Path) -> Result<(), LoadError> {
        let bytes = fs::read(wasm).map_err(|source| LoadError::Read {
            path: wasm.to_owned(),
            source,
        })?;
        let compiled =
            self.engine
                .precompile_component(&bytes)
                .map_err(|err| LoadError::Compile {
                    path: wasm.to_owned(),
                    source: err.into(),
                })?;
        fs::write(out, precompiled::seal(compiled)).map_err(|source| LoadError::Write {
            path: out.to_owned(),
            source,
        })
    }

    /// Compiles (or deserializes) the component at `path`, a file of `kind`, and pre-links
    /// it as a command.
    fn compile(&self, path: &Path, kind: FileKind) -> Result<Workload, ComponentError> {
        let wasmtime = |err: wasmtime::Error| ComponentError::Wasmtime(err.into());
        let component = match kind {
            FileKind::Component => Component::from_file(&self.engine, path).map_err(wasmtime)?,
            FileKind::CoreModule => return Err(ComponentError::CoreModule),
            FileKind::Elf => {
                let file = fs::File::open(path).map_err(ComponentError::Open)?;
                precompiled::verify(io::BufReader::with_capacity(256 << 10, file))
                    .map_err(ComponentError::Io)??;
                let detected = Engine::detect_precompiled_file(path).map_err(wasmtime)?;
                if !matches!(detected, Some(Precompiled::Component)) {
                    return Err(PrecompiledError::NotAComponent.into());
                }
                // SAFETY: only `load_precompiled` gets here (see `FileKind::loadable`),
                // whose caller vouches for the file; its trailer matched, so it is what `precompile` wrote, and
                // wasmtime checks that it matches this engine's version and configuration.
                // wasmtime maps the file and ignores the trailer after its sections.
                unsafe { Component::deserialize_file(&self.engine, path) }.map_err(wasmtime)?
            }
        };
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|err| ComponentError::Imports(err.into()))?;
        // Workers of the executor instantiate the same component and call its jobs export
        // instead of `run`; a component without it is still a workload, whose jobs all
        // answer `unknown-job`.
        let jobs = match WorkerPre::new(instance_pre.clone()) {
            Ok(jobs) => Some(jobs),
            Err(err) => {
                tracing::debug!(
                    path = %path.display(),
                    "no executor jobs (sandloop:jobs/jobs@0.1.0): {err:#}"
                );
                None
            }
        };
        let pre = CommandPre::new(instance_pre).map_err(|err| ComponentError::NoRun(err.into()))?;
        let shared = match &self.shared {
            Some((linker, threads)) => {
                let instance_pre = linker
                    .instantiate_pre(&component)
                    .map_err(|err| ComponentError::Imports(err.into()))?;
                let pre = wasmtime_wasi::p2::bindings::CommandPre::new(instance_pre)
                    .map_err(|err| ComponentError::NoRun(err.into()))?;
                Some(Shared {
                    pre,
                    threads: Arc::clone(threads),
                })
            }
            None => None,
        };
        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_else(|| "workload".to_owned());
        Ok(Workload::new(
            &name,
            self.engine.clone(),
            pre,
            jobs,
            self.interruptible,
            shared,
        ))
    }
}

/// The link errors of `interface`, as a [`RuntimeError`].
fn link(interface: &'static str) -> impl Fn(wasmtime::Error) -> RuntimeError {
    move |err: wasmtime::Error| RuntimeError::Link {
        interface,
        source: err.into(),
    }
}

/// WASI's sockets under the policy (`wasi_sockets.rs`): name lookups answer as
/// `sandloop:host/dns` does (`--resolve`, `--no-dns`), and creating a socket counts against
/// the handle limit; ours replace wasmtime-wasi's (the linker must allow shadowing).
fn link_wasi_sockets(linker: &mut Linker<State>) -> Result<(), RuntimeError> {
    use wasmtime_wasi::p2::bindings::sockets::{ip_name_lookup, tcp_create_socket};
    use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket;
    ip_name_lookup::add_to_linker::<State, HasDns>(linker, State::dns_view)
        .map_err(link("wasi:sockets/ip-name-lookup"))?;
    tcp_create_socket::add_to_linker::<State, HasWasiSockets>(linker, State::wasi_sockets_view)
        .map_err(link("wasi:sockets/tcp-create-socket"))?;
    udp_create_socket::add_to_linker::<State, HasWasiSockets>(linker, State::wasi_sockets_view)
        .map_err(link("wasi:sockets/udp-create-socket"))?;
    Ok(())
}

/// The linker of instances on shared threads: `linker`'s, with WASI's blocking functions
/// async (so that a portable guest waiting in `wasi:io/poll` parks too) and the reactor's
/// `wait` parking (see `reactor::host::link_parked_wait`).
fn shared_linker(linker: &Linker<State>) -> Result<Linker<State>, RuntimeError> {
    let mut shared = linker.clone();
    shared.allow_shadowing(true);
    wasmtime_wasi::p2::add_to_linker_async(&mut shared).map_err(link("WASI"))?;
    link_wasi_sockets(&mut shared)?;
    crate::reactor::link_parked_wait(&mut shared).map_err(link("sandloop:host/reactor"))?;
    shared.allow_shadowing(false);
    Ok(shared)
}

/// `types` has no functions; its bindings only need a host to name.
impl types::Host for State {}

/// Whether a load may take precompiled native code.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NativeCode {
    Refused,
    Trusted,
}

/// What a file looks like from its first 8 bytes.
#[derive(Clone, Copy)]
enum FileKind {
    Component,
    CoreModule,
    /// An ELF object: maybe a precompiled artifact (`.cwasm`).
    Elf,
}

impl FileKind {
    fn of(path: &Path) -> Result<FileKind, ComponentError> {
        let mut header = [0; 8];
        fs::File::open(path)
            .and_then(|mut file| file.read_exact(&mut header))
            .map_err(ComponentError::Header)?;
        // The wasm preamble: magic, then a 16-bit version and a 16-bit layer (0 for core
        // modules, 1 for components).
        match header {
            [0, b'a', b's', b'm', _, _, 1, 0] => Ok(FileKind::Component),
            [0, b'a', b's', b'm', _, _, 0, 0] => Ok(FileKind::CoreModule),
            [0x7f, b'E', b'L', b'F', ..] => Ok(FileKind::Elf),
            _ => Err(ComponentError::NotWasm),
        }
    }

    /// `self`, if a load that takes `native` code as it says may go on with the file at
    /// `path`: native code only under the `.cwasm` extension (so that a file presented as
    /// a component never smuggles it in), and only to a caller that trusts it.
    fn loadable(self, path: &Path, native: NativeCode) -> Result<FileKind, ComponentError> {
        if matches!(self, FileKind::Elf) {
            if path
                .extension()
                .is_none_or(|ext| ext != PRECOMPILED_EXTENSION)
            {
                return Err(PrecompiledError::NotNamedCwasm.into());
            }
            if native == NativeCode::Refused {
                return Err(PrecompiledError::NotAllowed.into());
            }
        }
        Ok(self)
    }
}
