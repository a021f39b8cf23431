//! The network section of the loop (guest program `net`): sockets, `sock_*`, readers and
//! writers, lookups, `create_connection`, `create_server`, transports and protocols.
//!
//! Every quiet case runs twice: on the default loop (stream transports in the host's
//! completion mode) and on a `SelectorEventLoop` (readiness mode). The checked cases run
//! under policies of their own: deny-all, fixed names, listening anywhere.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};

use sandloop_host::Policy;

test_programs_artifacts::for_each_quiet_case!("net", guest_cases);

mod selector_loop {
    use super::common;
    use crate::guest_cases_on_selector_loop;

    test_programs_artifacts::for_each_quiet_case!("net", guest_cases_on_selector_loop);
}

#[test]
fn listen_is_denied() {
    let out = common::run_case_with_policy("net", "listen_is_denied", Policy::default());
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies bind to 127.0.0.1:8080",
        "permission denied: policy denies bind to [::1]:0",
    ]);
}

#[test]
fn connect_is_denied() {
    let out = common::run_case_with_policy("net", "connect_is_denied", Policy::default());
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies connect to 127.0.0.1:9",
        "permission denied: policy denies connect to 10.1.2.3:80",
    ]);
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to it
/// hangs (until its retransmissions give up), which is what Happy Eyeballs must step past.
fn silent_listener(ip: &str) -> (socket2::Socket, Vec<TcpStream>, u16) {
    use socket2::{Domain, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let addr: SocketAddr = format!("{ip}:0").parse().unwrap();
    sock.bind(&addr.into()).unwrap();
    sock.listen(0).unwrap();
    let local = sock.local_addr().unwrap().as_socket().unwrap();
    // Fill the accept queue (backlog 0 holds one) and then some.
    let mut fillers = Vec::new();
    for _ in 0..2 {
        if let Ok(s) = TcpStream::connect_timeout(&local, std::time::Duration::from_millis(200)) {
            fillers.push(s);
        }
    }
    (sock, fillers, local.port())
}

#[test]
fn happy_eyeballs_staggers_to_the_next_address() {
    // The silent address first, a listening one second, same port.
    let (_silent, _fillers, port) = silent_listener("127.0.0.2");
    let good = TcpListener::bind(("127.0.0.1", port)).expect("the same port on 127.0.0.1");
    let policy = common::policy_with_resolve(&[("multi.test", &["127.0.0.2", "127.0.0.1"])])
        .allow_connect("127.0.0.0/8:*")
        .unwrap();
    let out = common::run_case_with_options(
        "net",
        "happy_eyeballs_staggers_to_the_next_address",
        sandloop_host::RunOptions {
            args: vec![port.to_string()],
            policy,
            ..Default::default()
        },
    );
    out.assert_ok()
        .assert_lines(&[&format!("connected to 127.0.0.1:{port}"), "staggered true"]);
    drop(good);
}

#[test]
fn all_errors_over_several_addresses() {
    // Nothing listens on this port on either address.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let policy = common::policy_with_resolve(&[("dead.test", &["127.0.0.1", "127.0.0.2"])])
        .allow_connect("127.0.0.0/8:*")
        .unwrap();
    let out = common::run_case_with_options(
        "net",
        "all_errors_over_several_addresses",
        sandloop_host::RunOptions {
            args: vec![port.to_string()],
            policy,
            ..Default::default()
        },
    );
    // Two refusals in the group; without all_errors, different messages become one
    // "Multiple exceptions" error, as asyncio reports them.
    out.assert_ok()
        .assert_lines(&["ConnectionRefused", "ConnectionRefused", "Other"]);
}

#[test]
fn server_on_all_interfaces() {
    let policy = Policy::new().allow_listen("*:*").unwrap();
    let out = common::run_case_with_policy("net", "server_on_all_interfaces", policy);
    out.assert_ok().assert_lines(&["0.0.0.0 ::"]);
}
