//! The data of one instance's `Store`: the WASI context, the resource table, the reactor,
//! the workload's policy and its resolver threads.
//!
//! Everything a running guest holds lives here, so dropping the `Store` releases it all:
//! every resource in the table (sockets, streams, sources, lookups) is closed, the
//! reactor's epoll and eventfd descriptors with it, and the resolver threads end. Nothing
//! outlives a run.

use anyhow::Context as _;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::dns::{DnsView, Resolver};
use crate::net::NetView;
use crate::policy::Policy;
use crate::reactor::{Reactor, ReactorView, ReactorWaker};
use crate::workload::RunOptions;

/// The most a captured stdout or stderr keeps; a guest writing more traps with
/// "write beyond capacity of MemoryOutputPipe" instead of growing host memory unbounded.
pub(crate) const CAPTURE_LIMIT: usize = 64 << 20;

/// The per-instance store data.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    reactor: Reactor,
    policy: Policy,
    resolver: Resolver,
}

impl State {
    /// Builds the context of one run: `argv0` then `opts.args`, exactly `opts.env` (deny by
    /// default: nothing from the host environment unless the caller put it there), stdio
    /// inherited or captured, no preopened directories and no WASI network access (the
    /// network comes through sandloop's own interfaces, under a policy).
    pub(crate) fn new(argv0: &str, opts: &RunOptions) -> anyhow::Result<(State, Capture)> {
        let mut builder = WasiCtxBuilder::new();
        builder
            .arg(argv0)
            .args(&opts.args)
            .envs(&opts.env)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if opts.inherit_stdin {
            builder.inherit_stdin();
        }
        let capture = if opts.capture_output {
            let stdout = MemoryOutputPipe::new(CAPTURE_LIMIT);
            let stderr = MemoryOutputPipe::new(CAPTURE_LIMIT);
            builder.stdout(stdout.clone()).stderr(stderr.clone());
            Capture {
                stdout: Some(stdout),
                stderr: Some(stderr),
            }
        } else {
            builder.inherit_stdout().inherit_stderr();
            Capture::default()
        };
        let reactor = Reactor::new().context("failed to create the instance's reactor")?;
        let resolver = Resolver::new(reactor.completer());
        let state = State {
            wasi: builder.build(),
            table: ResourceTable::new(),
            reactor,
            policy: opts.policy.clone(),
            resolver,
        };
        Ok((state, capture))
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
        }
    }

    /// The reactor, the table and the policy, for the `net` interface.
    pub(crate) fn net_view(&mut self) -> NetView<'_> {
        NetView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            policy: &self.policy,
        }
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

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The in-memory stdout and stderr of a run with `capture_output`, if any.
#[derive(Default)]
pub(crate) struct Capture {
    stdout: Option<MemoryOutputPipe>,
    stderr: Option<MemoryOutputPipe>,
}

impl Capture {
    /// The captured bytes. Call it after the `Store` is dropped: the guest's streams are
    /// then gone and every byte they accepted is in the pipes (they have no buffer of
    /// their own), so nothing is missing.
    pub(crate) fn into_bytes(self) -> (Vec<u8>, Vec<u8>) {
        fn bytes(pipe: Option<MemoryOutputPipe>) -> Vec<u8> {
            pipe.map(|p| p.contents().to_vec()).unwrap_or_default()
        }
        (bytes(self.stdout), bytes(self.stderr))
    }
}

/// `types` has no functions; its bindings only need a host to name.
impl crate::bindings::types::Host for State {}
