//! Every host call that makes a resource and can return an error, at the handle limit:
//! it works with room, answers `limit-reached` naming the operation without leaving
//! anything behind once the room is gone, and works again after a handle is closed.
//!
//! The table is filled with placeholder entries rather than real resources: the limit
//! counts entries of every kind, and placeholders keep each test cheap.

use wasmtime::component::Resource;

use crate::bindings::dns::{Hints, Host as _};
use crate::bindings::executor::HostPool;
use crate::bindings::fs::{Host as _, HostPipe as _};
use crate::bindings::net::{Host as _, HostSocket as _, SocketType};
use crate::bindings::process::{Host as _, HostChild as _, SpawnOptions, Stdio};
use crate::bindings::signal::Host as _;
use crate::bindings::tls::{ClientAuth, HostContext as _, Identity, ServerOptions};
use crate::bindings::types::{Address, AddressFamily, Error, ErrorKind};
use crate::fs::StdioAccess;
use crate::policy::Policy;
use crate::testing::{Fixture, borrow, loopback_policy};

/// Small, but above what any test holds before it fills the table.
const LIMIT: u32 = 8;

/// A placeholder entry: counts as a handle, holds nothing.
struct Filler;

fn limited(mut policy: Policy) -> Fixture {
    policy.limits.handles = Some(LIMIT);
    Fixture::new(policy)
}

fn held(fx: &mut Fixture) -> usize {
    super::held(&mut fx.table)
}

/// Fills the table with placeholders until exactly `room` handles are left.
fn leave_room(fx: &mut Fixture, room: usize) -> Vec<Resource<Filler>> {
    let fill = (LIMIT as usize)
        .checked_sub(room + held(fx))
        .expect("the test holds less than the limit");
    (0..fill).map(|_| fx.table.push(Filler).unwrap()).collect()
}

/// Checks `make`, a call that makes `count` handles, against the limit (see the module
/// comment), and returns what its two successful calls made.
fn refused_at_the_limit<T>(
    fx: &mut Fixture,
    what: &str,
    count: usize,
    mut make: impl FnMut(&mut Fixture) -> wasmtime::Result<Result<T, Error>>,
) -> Vec<T> {
    let mut fillers = leave_room(fx, count);
    assert!(fillers.len() >= count, "room to free below");
    let first = make(fx)
        .expect("no trap")
        .unwrap_or_else(|err| panic!("{what} with room for it: {err:?}"));
    // One handle short of what the call needs.
    for _ in 1..count {
        fx.table.delete(fillers.pop().unwrap()).unwrap();
    }
    let before = held(fx);
    assert_refused(make(fx), what);
    assert_eq!(
        held(fx),
        before,
        "a refused {what} leaves nothing in the table"
    );
    fx.table.delete(fillers.pop().unwrap()).unwrap();
    let again = make(fx)
        .expect("no trap")
        .unwrap_or_else(|err| panic!("{what} after a handle was closed: {err:?}"));
    for filler in fillers {
        fx.table.delete(filler).unwrap();
    }
    vec![first, again]
}

fn assert_refused<T>(result: wasmtime::Result<Result<T, Error>>, what: &str) {
    let err = match result.expect("a refusal is an error, not a trap") {
        Ok(_) => panic!("{what} at the handle limit should be refused"),
        Err(err) => err,
    };
    assert!(
        matches!(err.kind, ErrorKind::LimitReached),
        "{what}: {:?}",
        err.kind
    );
    let expected = format!("{what}: handle limit of {LIMIT} reached");
    assert!(
        err.message.starts_with(&expected),
        "{:?} should start with {expected:?}",
        err.message
    );
}

#[test]
fn socket_create_stops_at_the_limit() {
    let mut fx = limited(loopback_policy());
    refused_at_the_limit(&mut fx, "create socket", 1, |fx| {
        fx.net().create(AddressFamily::Ipv4, SocketType::Stream)
    });
}

#[test]
fn a_socketpair_needs_room_for_both_ends() {
    let mut fx = limited(loopback_policy());
    refused_at_the_limit(&mut fx, "socketpair", 2, |fx| fx.net().socketpair());
}

#[test]
fn a_pipe_needs_room_for_both_ends() {
    let mut fx = limited(Policy::new());
    refused_at_the_limit(&mut fx, "create-pipe", 2, |fx| {
        fx.fs(StdioAccess::default()).create_pipe()
    });
}

#[test]
fn sources_of_sockets_and_pipes_stop_at_the_limit() {
    let mut fx = limited(loopback_policy());
    let (a, _b) = fx.net().socketpair().unwrap().unwrap();
    refused_at_the_limit(&mut fx, "source", 1, |fx| fx.net().source(borrow(&a)));

    let mut fx = limited(Policy::new());
    let (read, _write) = fx
        .fs(StdioAccess::default())
        .create_pipe()
        .unwrap()
        .unwrap();
    refused_at_the_limit(&mut fx, "source", 1, |fx| {
        fx.fs(StdioAccess::default()).source(borrow(&read))
    });
}

#[test]
fn open_file_stops_at_the_limit() {
    let mut fx = limited(Policy::new());
    let dir = fx.table.push(wasmtime_wasi::filesystem::Descriptor::Dir(
        wasmtime_wasi::filesystem::Dir::new(
            std::fs::File::open("/").unwrap(),
            wasmtime_wasi::FsPerms::ReadOnly,
            wasmtime_wasi::OpenMode::READ,
            false,
        ),
    ));
    let dir = dir.unwrap();
    refused_at_the_limit(&mut fx, "open-file", 1, |fx| {
        fx.fs(StdioAccess::default())
            .open_file(borrow(&dir), "etc".into())
    });
}

#[test]
fn stdio_pipes_stop_at_the_limit() {
    // Refused before the host's stdio is even looked at (the test's own stdio may be
    // anything, so only the refusal is checked here).
    let mut fx = limited(Policy::new());
    let _full = leave_room(&mut fx, 0);
    let all = StdioAccess {
        stdin: true,
        output: true,
    };
    assert_refused(fx.fs(all).stdin(), "stdin");
    assert_refused(fx.fs(all).stdout(), "stdout");
    assert_refused(fx.fs(all).stderr(), "stderr");
}

#[test]
fn accept_at_the_limit_leaves_the_connection_queued() {
    let mut fx = limited(loopback_policy());
    let listener = fx
        .net()
        .create(AddressFamily::Ipv4, SocketType::Stream)
        .unwrap()
        .unwrap();
    let inet = |text: &str| Address::Inet(text.to_owned());
    fx.net()
        .bind(borrow(&listener), inet("127.0.0.1:0"))
        .unwrap()
        .unwrap();
    fx.net().listen(borrow(&listener), 8).unwrap().unwrap();
    let Address::Inet(addr) = fx.net().local_address(borrow(&listener)).unwrap().unwrap() else {
        panic!("an IPv4 socket has an inet address");
    };
    // Two connections wait in the backlog: the first accept takes one; the one the
    // refused accept left is taken after a handle is closed.
    let _clients: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    refused_at_the_limit(&mut fx, "accept", 1, |fx| {
        fx.net().accept(borrow(&listener))
    });
}

#[test]
fn lookups_stop_at_the_limit() {
    let mut fx = limited(Policy::new());
    let hints = Hints {
        family: None,
        socktype: Some(SocketType::Stream),
        protocol: 0,
        flags: libc::AI_NUMERICHOST,
    };
    refused_at_the_limit(&mut fx, "getaddrinfo", 1, |fx| {
        fx.dns()
            .getaddrinfo(Some("127.0.0.1".into()), Some("80".into()), hints, 1)
    });
    let numeric = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;
    refused_at_the_limit(&mut fx, "getnameinfo", 1, |fx| {
        fx.dns().getnameinfo("127.0.0.1:80".into(), numeric, 2)
    });
}

#[test]
fn signal_subscriptions_stop_at_the_limit() {
    // A real-time signal no other test uses; it is never sent.
    let signum = libc::SIGRTMIN() + 5;
    let mut fx = limited(Policy::new().allow_signal(signum).expect("grantable"));
    let what = format!("subscribe to signal {signum}");
    refused_at_the_limit(&mut fx, &what, 1, |fx| {
        crate::state::SignalView {
            table: &mut fx.table,
            reactor: &fx.reactor,
            policy: &fx.policy,
        }
        .subscribe(signum as u32, 1)
    });
}

#[test]
fn tls_contexts_stop_at_the_limit() {
    let mut fx = limited(Policy::new());
    let client = crate::testing::unchecked_client_options;
    refused_at_the_limit(&mut fx, "tls client context", 1, |fx| {
        fx.net().client(client())
    });
    // Refused before the options are looked at: no certificate needed to show it.
    let _full = leave_room(&mut fx, 0);
    let server = ServerOptions {
        identity: Identity {
            cert_chain_pem: Vec::new(),
            key_pem: Vec::new(),
        },
        alpn: Vec::new(),
        client_auth: ClientAuth::None,
        client_ca_pem: Vec::new(),
    };
    assert_refused(fx.net().server(server), "tls server context");
}

#[test]
fn executor_jobs_stop_at_the_limit() {
    let mut fx = limited(Policy::new());
    let pool = HostPool::new(&mut fx.executor(), 1).expect("no trap");
    refused_at_the_limit(&mut fx, "submit", 1, |fx| {
        HostPool::submit(
            &mut fx.executor(),
            borrow(&pool),
            "job".into(),
            Vec::new(),
            1,
        )
    });
}

#[test]
fn spawn_and_exit_sources_stop_at_the_limit() {
    let mut fx = limited(Policy::new().allow_exec("/usr/bin/").expect("rule"));
    let quiet = || SpawnOptions {
        env: Vec::new(),
        cwd: None,
        stdin: Stdio::Null,
        stdout: Stdio::Null,
        stderr: Stdio::Null,
    };
    let children = refused_at_the_limit(&mut fx, "spawn", 1, |fx| {
        fx.process()
            .spawn("/usr/bin/true".into(), Vec::new(), quiet())
    });
    refused_at_the_limit(&mut fx, "exit-source", 1, |fx| {
        fx.process().exit_source(borrow(&children[0]))
    });
}

#[test]
fn a_childs_pipes_count_from_the_spawn_on() {
    let mut fx = limited(Policy::new().allow_exec("/usr/bin/").expect("rule"));
    let piped = || SpawnOptions {
        env: Vec::new(),
        cwd: None,
        stdin: Stdio::Pipe,
        stdout: Stdio::Pipe,
        stderr: Stdio::Null,
    };
    // The child and its two pipe ends.
    let children = refused_at_the_limit(&mut fx, "spawn", 3, |fx| {
        fx.process()
            .spawn("/usr/bin/true".into(), Vec::new(), piped())
    });
    let held = held(&mut fx);
    assert_eq!(held, 6, "two children, each with two untaken pipe ends");
    // Taking them makes no new handle: the limit held them already, and still does.
    let stdin = fx.process().take_stdin(borrow(&children[0])).unwrap();
    assert!(stdin.is_some());
    assert_eq!(self::held(&mut fx), held);
    let _full = leave_room(&mut fx, 0);
    assert_refused(fx.fs(StdioAccess::default()).create_pipe(), "create-pipe");
}
