//! The data of one instance's `Store`: the WASI context, the resource table, the reactor,
//! the workload's policy, its resolver threads, its executor, its inbox and its host
//! functions.
//!
//! Everything a running guest holds lives here, so dropping the `Store` releases it all:
//! every resource in the table (sockets, streams, sources, lookups, executor pools, host
//! function calls) is closed, the reactor's epoll and eventfd descriptors with it, the
//! resolver threads end, the pools' workers and the blocking host functions' threads stop
//! after their current job, and the inbox closes. Nothing but a job or a blocking host
//! function already running outlives a run.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::{HasData, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::dns::Resolver;
use crate::executor::{Executor, RunnerFactory};
use crate::fs::StdioAccess;
use crate::host_functions::{Calls, HostFunctions};
use crate::inbox::{Inbox, Poster};
use crate::limits::MemoryLimiter;
use crate::policy::{Limits, Policy};
use crate::reactor::{Hub, Reactor, ReactorWaker, Watch};
use crate::stats::Counters;

/// The most a captured stdout or stderr keeps (the run's executor workers write into the
/// same pipes and count against it too); a guest writing more traps with
/// "write beyond capacity of MemoryOutputPipe" instead of growing host memory unbounded.
pub(crate) const CAPTURE_LIMIT: usize = 64 << 20;

/// Why an instance's store could not be set up (a run's, or an executor worker's):
/// `RunError::Instance` of a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstanceError {
    /// The instance's reactor (an epoll descriptor) could not be created.
    #[error("failed to create the instance's reactor")]
    Reactor(#[source] io::Error),
    /// A directory of the policy's preopens could not be opened.
    #[error(
        "failed to preopen the directory {} (for the guest's {guest}): {reason}",
        host.display()
    )]
    Preopen {
        /// The host's directory.
        host: PathBuf,
        /// Where the guest sees it.
        guest: String,
        /// Why it could not be opened.
        reason: String,
    },
}

/// The per-instance store data.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    reactor: Reactor,
    policy: Policy,
    resolver: Resolver,
    executor: Executor,
    inbox: Inbox,
    /// The embedding application's functions for this instance, and their calls.
    host_functions: Calls,
    /// Which of the workload's stdio `fs` hands out as pipes (none for executor workers).
    stdio: StdioAccess,
    /// Caps the instance's linear memory at the policy's limit.
    pub(crate) limiter: MemoryLimiter,
    /// What the instance used so far, shared with its `RunningWorkload` (and with its
    /// reactor's watch, whose watchdog charges running callbacks).
    stats: Arc<Counters>,
}

impl State {
    /// The store data of an instance whose WASI context `builder` holds: its own reactor,
    /// resolver, inbox and table, `policy` with its limits applied, an executor whose
    /// pools make their workers with `runners`, the application's `host_functions`, and
    /// the workload's `stdio` handed out as pipes; `hub`: the instance runs on shared
    /// threads, seated at their reactor, and parks its task when it waits; else it blocks a
    /// thread of its own. Runs
    /// build it in `workload.rs`, executor workers in `executor/instance.rs`.
    pub(crate) fn new(
        mut builder: WasiCtxBuilder,
        policy: Policy,
        runners: RunnerFactory,
        host_functions: HostFunctions,
        stdio: StdioAccess,
        hub: Option<&Arc<Hub>>,
    ) -> Result<State, InstanceError> {
        let reactor = match hub {
            Some(hub) => Reactor::parked(hub),
            None => Reactor::new(),
        };
        let mut reactor = reactor.map_err(InstanceError::Reactor)?;
        reactor.limit_buffers(policy.limits.buffered_bytes);
        let resolver = Resolver::new(reactor.completer());
        let inbox = Inbox::new(reactor.completer());
        for dir in &policy.preopens {
            let perms = if dir.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            if let Err(err) = builder.preopened_dir(&dir.host, &dir.guest, perms) {
                return Err(InstanceError::Preopen {
                    host: dir.host.clone(),
                    guest: dir.guest.clone(),
                    reason: format!("{err:#}"),
                });
            }
        }
        crate::wasi_sockets::grant(&mut builder, &policy);
        let executor = Executor::new(reactor.completer(), runners);
        let host_functions = Calls::new(host_functions, reactor.completer());
        let limiter = MemoryLimiter::new(&policy.limits);
        let mut table = ResourceTable::new();
        crate::limits::limit_table(&mut table, &policy.limits);
        Ok(State {
            stats: Arc::clone(reactor.watch.stats()),
            wasi: builder.build(),
            table,
            reactor,
            policy,
            resolver,
            executor,
            inbox,
            host_functions,
            stdio,
            limiter,
        })
    }

    /// The instance's counters, for a reader on another thread.
    pub(crate) fn stats(&self) -> Arc<Counters> {
        Arc::clone(&self.stats)
    }

    /// A handle that posts into this instance's inbox.
    pub(crate) fn poster(&self) -> Poster {
        self.inbox.poster()
    }

    /// The stop flag and callback clock the watchdog reads.
    pub(crate) fn watch(&self) -> &Watch {
        &self.reactor.watch
    }

    /// The workload's limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.policy.limits
    }

    /// The seat bits its task sets while it runs on shared threads (see
    /// `reactor::Seated`).
    pub(crate) fn seat_bits(&self) -> usize {
        self.reactor.seat_bits()
    }

    /// The waker of this instance's reactor.
    pub(crate) fn waker(&self) -> ReactorWaker {
        self.reactor.waker()
    }

    /// The reactor and the table, borrowed together for the `reactor` interface.
    pub(crate) fn reactor_view(&mut self) -> ReactorView<'_> {
        ReactorView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            stats: &self.stats,
        }
    }

    /// The reactor, the table and the policy, for the `net` interface.
    pub(crate) fn net_view(&mut self) -> NetView<'_> {
        NetView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            policy: &self.policy,
            stats: &self.stats,
        }
    }

    /// The reactor, the table and the stdio the run hands out, for the `fs` interface.
    pub(crate) fn fs_view(&mut self) -> FsView<'_> {
        FsView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            stdio: self.stdio,
            limits: &self.policy.limits,
        }
    }

    /// The table and the policy, for the `process` interface.
    pub(crate) fn process_view(&mut self) -> ProcessView<'_> {
        ProcessView {
            table: &mut self.table,
            policy: &self.policy,
        }
    }

    /// The table and the executor, for the `executor` interface.
    pub(crate) fn executor_view(&mut self) -> ExecutorView<'_> {
        ExecutorView {
            table: &mut self.table,
            executor: &self.executor,
            limits: &self.policy.limits,
        }
    }

    /// The table, the policy and the application's functions, for the `host-functions`
    /// interface.
    pub(crate) fn host_functions_view(&mut self) -> HostFunctionsView<'_> {
        HostFunctionsView {
            table: &mut self.table,
            policy: &self.policy,
            limits: &self.policy.limits,
            calls: &self.host_functions,
        }
    }

    /// The table, the reactor and the policy, for the `signal` interface.
    pub(crate) fn signal_view(&mut self) -> SignalView<'_> {
        SignalView {
            table: &mut self.table,
            reactor: &self.reactor,
            policy: &self.policy,
        }
    }

    /// The inbox, for the `inbox` interface.
    pub(crate) fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }

    /// The table, the policy and the resolver threads, for the `dns` interface.
    pub(crate) fn dns_view(&mut self) -> DnsView<'_> {
        DnsView {
            table: &mut self.table,
            policy: &self.policy,
            resolver: &self.resolver,
        }
    }
}

impl State {
    /// WASI's sockets context and the table, with the handle limit, for the socket
    /// constructors of `wasi:sockets` (`wasi_sockets.rs`).
    pub(crate) fn wasi_sockets_view(&mut self) -> WasiSocketsView<'_> {
        WasiSocketsView {
            sockets: WasiSocketsCtxView {
                ctx: self.wasi.sockets(),
                table: &mut self.table,
            },
            limits: &self.policy.limits,
        }
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Starts the WASI context every instance of a run shares: `argv0`, exactly `env`, stdout
/// and stderr inherited or into the capture pipes. WASI's own sockets are granted under
/// the policy when the store is made ([`State::new`], through `wasi_sockets.rs`), and
/// their name lookups are the host's own, under the policy too.
pub(crate) fn wasi_builder(
    argv0: &str,
    env: &[(String, String)],
    capture: &Capture,
) -> WasiCtxBuilder {
    let mut builder = WasiCtxBuilder::new();
    builder.arg(argv0).envs(env);
    match (&capture.stdout, &capture.stderr) {
        (Some(stdout), Some(stderr)) => {
            builder.stdout(stdout.clone()).stderr(stderr.clone());
        }
        _ => {
            builder.inherit_stdout().inherit_stderr();
        }
    }
    builder
}

/// The in-memory stdout and stderr of a run with `capture_output`, if any. Clones share
/// the pipes: the run's executor workers write into the same ones.
#[derive(Default, Clone)]
pub(crate) struct Capture {
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
}

impl Capture {
    /// Pipes that capture a run's stdout and stderr (up to [`CAPTURE_LIMIT`] each) when
    /// `capture_output` is set; none otherwise.
    pub(crate) fn new(capture_output: bool) -> Capture {
        if !capture_output {
            return Capture::default();
        }
        Capture {
            stdout: Some(MemoryOutputPipe::new(CAPTURE_LIMIT)),
            stderr: Some(MemoryOutputPipe::new(CAPTURE_LIMIT)),
        }
    }

    /// The captured bytes. Call it after the `Store` is dropped: the guest's streams are
    /// then gone and every byte they accepted is in the pipes (they have no buffer of
    /// their own), so nothing is missing. Executor workers still finishing a job after
    /// that may write more; those bytes are not in the result.
    pub(crate) fn into_bytes(self) -> (Vec<u8>, Vec<u8>) {
        fn bytes(pipe: Option<MemoryOutputPipe>) -> Vec<u8> {
            pipe.map(|p| p.contents().to_vec()).unwrap_or_default()
        }
        (bytes(self.stdout), bytes(self.stderr))
    }
}

// The views: what each interface's generated `Host` traits are implemented for (in its
// `host.rs`), the parts of the store it works with borrowed together, as wasmtime-wasi's
// `WasiCtxView`. `State`'s `*_view` methods above make them.

/// What the `reactor` interface works with: the reactor, the resource table and the
/// instance's counters (`wait` charges the guest's time and notes its handles).
pub(crate) struct ReactorView<'a> {
    pub(crate) reactor: &'a mut Reactor,
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) stats: &'a Counters,
}

/// Selects [`ReactorView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasReactor;

impl HasData for HasReactor {
    type Data<'a> = ReactorView<'a>;
}

/// What the `net` interface works with: the reactor (streams register with it), the
/// resource table, the workload's policy and the instance's counters (of network bytes;
/// a stream keeps its own reference).
pub(crate) struct NetView<'a> {
    pub(crate) reactor: &'a mut Reactor,
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) policy: &'a Policy,
    pub(crate) stats: &'a Arc<Counters>,
}

/// Selects [`NetView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasNet;

impl HasData for HasNet {
    type Data<'a> = NetView<'a>;
}

/// What the `fs` interface works with: the reactor (pipe streams register with it), the
/// resource table, and which of the workload's stdio the run hands out.
pub(crate) struct FsView<'a> {
    pub(crate) reactor: &'a mut Reactor,
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) stdio: StdioAccess,
    /// The handle limit of the workload.
    pub(crate) limits: &'a Limits,
}

/// Selects [`FsView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasFs;

impl HasData for HasFs {
    type Data<'a> = FsView<'a>;
}

/// What the `process` interface works with: the resource table and the policy.
pub(crate) struct ProcessView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) policy: &'a Policy,
}

/// Selects [`ProcessView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasProcess;

impl HasData for HasProcess {
    type Data<'a> = ProcessView<'a>;
}

/// What the `executor` interface works with: the resource table and the instance's
/// executor.
pub(crate) struct ExecutorView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) executor: &'a Executor,
    /// The handle limit of the workload.
    pub(crate) limits: &'a Limits,
}

/// Selects [`ExecutorView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasExecutor;

impl HasData for HasExecutor {
    type Data<'a> = ExecutorView<'a>;
}

/// What the `host-functions` interface works with: the table (pending calls are
/// handles), the policy (which names are granted) and the instance's functions.
pub(crate) struct HostFunctionsView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) policy: &'a Policy,
    /// The handle limit of the workload.
    pub(crate) limits: &'a Limits,
    pub(crate) calls: &'a Calls,
}

/// Selects [`HostFunctionsView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasHostFunctions;

impl HasData for HasHostFunctions {
    type Data<'a> = HostFunctionsView<'a>;
}

/// What the `signal` interface works with: the table, the reactor and the policy.
pub(crate) struct SignalView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) reactor: &'a Reactor,
    pub(crate) policy: &'a Policy,
}

/// Selects [`SignalView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasSignal;

impl HasData for HasSignal {
    type Data<'a> = SignalView<'a>;
}

/// What the `dns` interface works with: the resource table, the workload's policy (its
/// fixed names) and the instance's resolver threads.
pub(crate) struct DnsView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) policy: &'a Policy,
    pub(crate) resolver: &'a Resolver,
}

/// Selects [`DnsView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasDns;

impl HasData for HasDns {
    type Data<'a> = DnsView<'a>;
}

/// What the socket constructors of `wasi:sockets` work with: wasmtime-wasi's own view of
/// its sockets (the context and the table) and the workload's handle limit.
pub(crate) struct WasiSocketsView<'a> {
    pub(crate) sockets: WasiSocketsCtxView<'a>,
    pub(crate) limits: &'a Limits,
}

/// Selects [`WasiSocketsView`] as the host data of the generated `add_to_linker`.
pub(crate) struct HasWasiSockets;

impl HasData for HasWasiSockets {
    type Data<'a> = WasiSocketsView<'a>;
}
