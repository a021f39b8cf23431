//! A test fixture for the host interfaces: one instance's reactor, resource table, policy,
//! resolver, executor and inbox, without wasmtime. Tests call the generated `Host` trait
//! methods directly, as the guest would, on real sockets.

use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};

use crate::bindings::reactor::{Batch, Host as _, Interest, StreamWrite};
use crate::bindings::types::Error;
use crate::dns::Resolver;
use crate::executor::{Executor, JobError, RunnerFactory};
use crate::fs::StdioAccess;
use crate::inbox::Inbox;
use crate::policy::Policy;
use crate::reactor::Reactor;
use crate::state::{DnsView, ExecutorView, FsView, NetView, ProcessView, ReactorView};
use crate::stats::Counters;

/// Long enough never to expire on a loaded machine; the events come much sooner.
pub(crate) const PATIENCE_NS: u64 = 5_000_000_000;

pub(crate) struct Fixture {
    pub(crate) reactor: Reactor,
    pub(crate) table: ResourceTable,
    pub(crate) policy: Policy,
    pub(crate) resolver: Resolver,
    pub(crate) executor: Executor,
    pub(crate) inbox: Inbox,
    pub(crate) stats: Arc<Counters>,
}

impl Fixture {
    /// A fixture whose executor has no jobs: every job answers `unknown-job`, as for a
    /// component without the jobs export.
    pub(crate) fn new(policy: Policy) -> Fixture {
        let no_jobs: RunnerFactory = Arc::new(|| Box::new(NoJobs));
        Fixture::with_runners(policy, no_jobs)
    }

    /// A fixture whose executor's workers run jobs with runners from `runners`.
    pub(crate) fn with_runners(policy: Policy, runners: RunnerFactory) -> Fixture {
        let mut reactor = Reactor::new().expect("create reactor");
        reactor.limit_buffers(policy.limits.buffered_bytes);
        let resolver = Resolver::new(reactor.completer());
        let executor = Executor::new(reactor.completer(), runners);
        let inbox = Inbox::new(reactor.completer());
        Fixture {
            reactor,
            table: ResourceTable::new(),
            policy,
            resolver,
            executor,
            inbox,
            stats: Arc::new(Counters::new()),
        }
    }

    /// A fixture whose policy allows loopback, as the integration tests' default.
    pub(crate) fn loopback() -> Fixture {
        Fixture::new(loopback_policy())
    }

    pub(crate) fn net(&mut self) -> NetView<'_> {
        NetView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            policy: &self.policy,
            stats: &self.stats,
        }
    }

    /// The `fs` interface, handing out the stdio `stdio` grants.
    pub(crate) fn fs(&mut self, stdio: StdioAccess) -> FsView<'_> {
        FsView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            stdio,
            limits: &self.policy.limits,
        }
    }

    pub(crate) fn process(&mut self) -> ProcessView<'_> {
        ProcessView {
            table: &mut self.table,
            policy: &self.policy,
        }
    }

    pub(crate) fn dns(&mut self) -> DnsView<'_> {
        DnsView {
            table: &mut self.table,
            policy: &self.policy,
            resolver: &self.resolver,
        }
    }

    pub(crate) fn executor(&mut self) -> ExecutorView<'_> {
        ExecutorView {
            table: &mut self.table,
            executor: &self.executor,
            limits: &self.policy.limits,
        }
    }

    pub(crate) fn reactor(&mut self) -> ReactorView<'_> {
        ReactorView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            stats: &self.stats,
        }
    }

    pub(crate) fn wait(&mut self, timeout_ns: Option<u64>) -> Vec<Event> {
        self.wait_after_writes(Vec::new(), Vec::new(), timeout_ns)
    }

    /// `wait` with writes for it to do, its batch split into events with their own data.
    pub(crate) fn wait_after_writes(
        &mut self,
        writes: Vec<StreamWrite>,
        write_data: Vec<u8>,
        timeout_ns: Option<u64>,
    ) -> Vec<Event> {
        let batch = self
            .reactor()
            .wait(writes, write_data, timeout_ns)
            .expect("no trap");
        Event::split(batch)
    }

    /// Waits until an event under `token` comes, and returns it (other events are
    /// dropped).
    pub(crate) fn next_event(&mut self, token: u64) -> Event {
        for _ in 0..1000 {
            if let Some(event) = self
                .wait(Some(PATIENCE_NS))
                .into_iter()
                .find(|e| e.token == token)
            {
                return event;
            }
        }
        panic!("no event under token {token}");
    }
}

/// The runner of a component without jobs.
struct NoJobs;

impl crate::executor::JobRunner for NoJobs {
    fn run_job(&mut self, name: &str, _args: &[u8]) -> Result<Vec<u8>, JobError> {
        Err(JobError::UnknownJob(name.to_owned()))
    }
}

/// A TLS client context's options that trust nothing and check nothing: the cheapest
/// context to make, for tests about handles rather than sessions.
#[cfg(test)]
pub(crate) fn unchecked_client_options() -> crate::bindings::tls::ClientOptions {
    crate::bindings::tls::ClientOptions {
        ca_pem: Vec::new(),
        system_roots: false,
        verify: false,
        check_hostname: false,
        alpn: Vec::new(),
        identity: None,
    }
}

/// Listen and connect on loopback, IPv4 and IPv6.
pub(crate) fn loopback_policy() -> Policy {
    Policy::new()
        .allow_listen("127.0.0.1:*")
        .and_then(|p| p.allow_listen("[::1]:*"))
        .and_then(|p| p.allow_connect("127.0.0.1:*"))
        .and_then(|p| p.allow_connect("[::1]:*"))
        .expect("valid rules")
}

/// A borrow of `res`, as the guest passes `self` to a method.
pub(crate) fn borrow<T: 'static>(res: &Resource<T>) -> Resource<T> {
    Resource::new_borrow(res.rep())
}

/// Lets `socket` hold `size` bytes in flight: SO_SNDBUFFORCE past `net.core.wmem_max` when
/// the process may (root), a plain SO_SNDBUF otherwise. Tests that need the room assert
/// on what the kernel took.
pub(crate) fn grow_send_buffer(socket: &socket2::Socket, size: i32) {
    use std::os::fd::AsRawFd as _;
    // SAFETY: a valid socket and a pointer to an int of the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUFFORCE,
            (&size as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        socket
            .set_send_buffer_size(size as usize)
            .expect("set SO_SNDBUF");
    }
}

/// An event of a batch with the bytes it carries, as the guest sees it.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) token: u64,
    pub(crate) readiness: Interest,
    pub(crate) data: Vec<u8>,
    pub(crate) write_buffered: u64,
    pub(crate) write_refused: u64,
    pub(crate) error: Option<Error>,
}

impl Event {
    /// The events of `batch`, unpacked as the WIT's `batch` documents them (four words
    /// each), each with its `data-len` bytes of the batch's data and its failure.
    pub(crate) fn split(batch: Batch) -> Vec<Event> {
        let (packed, rest) = batch.events.as_chunks::<4>();
        assert!(
            rest.is_empty(),
            "a batch holds whole events: {:?}",
            batch.events
        );
        let mut errors = batch.errors.into_iter();
        let mut at = 0;
        let events: Vec<Event> = packed
            .iter()
            .map(|&[token, word, write_buffered, write_refused]| {
                assert_eq!(word & 0xffff_fe00, 0, "unused bits are 0: {word:#x}");
                let end = at + (word >> 32) as usize;
                let data = batch.data[at..end].to_vec();
                at = end;
                let mut readiness = Interest::empty();
                for (bit, flag) in [
                    (1, Interest::READABLE),
                    (2, Interest::WRITABLE),
                    (4, Interest::HANGUP),
                ] {
                    if word & bit != 0 {
                        readiness |= flag;
                    }
                }
                Event {
                    token,
                    readiness,
                    data,
                    write_buffered,
                    write_refused,
                    error: (word & 1 << 8 != 0)
                        .then(|| errors.next().expect("a failed event has its error")),
                }
            })
            .collect();
        assert_eq!(
            at,
            batch.data.len(),
            "every byte of the batch belongs to an event"
        );
        assert!(errors.next().is_none(), "every error belongs to an event");
        events
    }
}
