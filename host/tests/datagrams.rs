//! Datagrams (guest program `datagrams`): endpoints, `DatagramTransport`, the `sock_*`
//! datagram calls and the udp policy rules; and the UDP echo examples talking to CPython.
//!
//! Every quiet case runs twice, on the default loop and on a `SelectorEventLoop`, under
//! the loopback policy plus datagrams on loopback. The checked cases run under policies
//! that lack a udp rule, and assert the denial the guest saw.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use sandloop_host::{Policy, RunOptions};

/// What quiet cases get: streams and datagrams on loopback, both families, any port, and
/// abstract unix names `@sl-dgram-*` (unix datagrams fill a queue; UDP on loopback does not).
fn udp_loopback_policy() -> Policy {
    common::loopback_policy()
        .allow_udp_bind("127.0.0.1:*")
        .and_then(|p| p.allow_udp_bind("[::1]:*"))
        .and_then(|p| p.allow_udp_send("127.0.0.1:*"))
        .and_then(|p| p.allow_udp_send("[::1]:*"))
        .and_then(|p| p.allow_unix("@sl-dgram-*"))
        .expect("valid udp and unix rules")
}

fn run_datagram_case(case: &str, env: &[(&str, &str)]) -> common::Outcome {
    common::run_case_with_options(
        "datagrams",
        case,
        RunOptions {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            policy: udp_loopback_policy(),
            ..Default::default()
        },
    )
}

/// One `#[test]` per quiet case on the default loop: exits 0, logs nothing.
macro_rules! datagram_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = run_datagram_case(stringify!($case), &[]);
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

/// The same cases on a `SelectorEventLoop`.
macro_rules! datagram_cases_on_selector_loop {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = super::run_datagram_case(
                    stringify!($case),
                    &[("TEST_LOOP", "selector")],
                );
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

test_programs_artifacts::for_each_quiet_case!("datagrams", datagram_cases);

mod selector_loop {
    test_programs_artifacts::for_each_quiet_case!("datagrams", datagram_cases_on_selector_loop);
}

#[test]
fn udp_bind_is_denied() {
    // Stream rules for everything grant no datagram bind.
    let policy = Policy::new()
        .allow_listen("*:*")
        .and_then(|p| p.allow_connect("*:*"))
        .unwrap();
    let out = common::run_case_with_policy("datagrams", "udp_bind_is_denied", policy);
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies udp bind to 127.0.0.1:9",
        "permission denied: policy denies udp bind to [::1]:0",
    ]);
}

#[test]
fn udp_connect_is_denied() {
    let policy = Policy::new().allow_connect("*:*").unwrap();
    let out = common::run_case_with_policy("datagrams", "udp_connect_is_denied", policy);
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies udp send to 10.0.0.1:53",
        "permission denied: policy denies udp send to 127.0.0.1:9",
    ]);
}

#[test]
fn udp_send_to_is_denied() {
    let policy = Policy::new().allow_udp_bind("127.0.0.1:*").unwrap();
    let out = common::run_case_with_policy("datagrams", "udp_send_to_is_denied", policy);
    out.assert_ok().assert_lines(&[
        "permission denied: policy denies udp send to 127.0.0.1:9",
        "permission denied: policy denies udp send to 10.0.0.1:53",
    ]);
}

// ---- The UDP echo examples and CPython ---------------------------------------------------

/// A free UDP port of 127.0.0.1 (free when this returns; the tests bind it right away).
fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// An example started by the `sandloop` CLI, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPython's `socket` module as the client no one here wrote: sends each message as a
/// datagram to the server (again, until the server is up and answers, at most 5 s) and
/// prints each echo as `ECHO <repr> FROM <port>`.
const PYTHON_UDP_CLIENT: &str = r#"
import socket, sys
port = int(sys.argv[1])
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(0.2)
    for message in sys.argv[2:]:
        data = message.encode()
        for attempt in range(25):
            s.sendto(data, ("127.0.0.1", port))
            try:
                echo, addr = s.recvfrom(65535)
                break
            except (socket.timeout, ConnectionRefusedError):
                continue
        else:
            sys.exit("no echo from the server")
        print("ECHO", repr(echo), "FROM", addr[1])
    print("CLIENT", s.getsockname()[1])
"#;

fn python(script: &str, args: &[String]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    cmd
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts `udp_echo_server` on `port` with the flags a user gives it.
fn start_udp_echo_server(
    port: u16,
    extra: &[&str],
) -> (Running, BufReader<std::process::ChildStdout>) {
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-udp-bind", &addr])
        .args(["--allow-udp-send", "127.0.0.1:*"])
        .arg(test_programs_artifacts::program("udp_echo_server"))
        .args(["--", &addr])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the sandloop CLI");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("the server's first line");
    assert_eq!(first, "Starting UDP server\n");
    (Running(child), stdout)
}

fn cpython_client_talks_to_the_udp_echo_server(extra: &[&str]) {
    let port = free_udp_port();
    let (server, mut stdout) = start_udp_echo_server(port, extra);

    let out = python(
        PYTHON_UDP_CLIENT,
        &[port.to_string(), "Hello World!".into(), "it's me".into()],
    )
    .output()
    .expect("run python3");

    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let client_port = lines
        .last()
        .and_then(|l| l.strip_prefix("CLIENT "))
        .expect("the client's port");
    assert_eq!(
        lines[..2],
        [
            format!("ECHO b'Hello World!' FROM {port}"),
            format!("ECHO b\"it's me\" FROM {port}"),
        ]
    );
    // The server printed each datagram as asyncio's example does (the first datagram may
    // have come twice if the client sent it before the server was up).
    let from = format!("('127.0.0.1', {client_port})");
    let mut printed = Vec::new();
    while printed.len() < 4 {
        let mut line = String::new();
        stdout.read_line(&mut line).expect("a line of the server");
        assert!(!line.is_empty(), "the server stopped early");
        if !printed.contains(&line) {
            printed.push(line);
        }
    }
    assert_eq!(
        printed,
        [
            format!("Received 'Hello World!' from {from}\n"),
            format!("Send 'Hello World!' to {from}\n"),
            format!("Received \"it's me\" from {from}\n"),
            format!("Send \"it's me\" to {from}\n"),
        ]
    );
    drop(server);
}

#[test]
fn cpython_client_exchanges_datagrams_with_the_udp_echo_server() {
    cpython_client_talks_to_the_udp_echo_server(&[]);
}

#[test]
fn cpython_client_exchanges_datagrams_with_the_udp_echo_server_on_a_selector_loop() {
    cpython_client_talks_to_the_udp_echo_server(&["--selector"]);
}

/// CPython's `socket` module as a UDP echo server: binds a free port, prints it, echoes
/// one datagram and prints what it got.
const PYTHON_UDP_ECHO_SERVER: &str = r#"
import socket, sys
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.bind(("127.0.0.1", 0))
    s.settimeout(30)
    print(s.getsockname()[1], flush=True)
    data, addr = s.recvfrom(65535)
    s.sendto(data, addr)
    print("GOT", repr(data), flush=True)
"#;

#[test]
fn udp_echo_client_talks_to_a_cpython_echo_server() {
    let mut server = python(PYTHON_UDP_ECHO_SERVER, &[])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut server_out = BufReader::new(server.stdout.take().expect("stdout"));
    let mut port = String::new();
    server_out.read_line(&mut port).expect("the server's port");
    let port: u16 = port.trim().parse().expect("a port number");
    let addr = format!("127.0.0.1:{port}");

    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-udp-send", &addr])
        .arg(test_programs_artifacts::program("udp_echo_client"))
        .args(["--", &addr])
        .output()
        .expect("run the sandloop CLI");

    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Send: Hello World!\nReceived: Hello World!\nClose the socket\nConnection closed\n"
    );
    let mut got = String::new();
    server_out.read_line(&mut got).expect("the server's report");
    assert_eq!(got, "GOT b'Hello World!'\n");
    assert!(server.wait().expect("python3 exits").success());
}

#[test]
fn udp_echo_client_without_a_grant_is_denied() {
    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .arg("run")
        .arg(test_programs_artifacts::program("udp_echo_client"))
        .args(["--", "127.0.0.1:9"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|child| wait_with_deadline(child, Duration::from_secs(30)))
        .expect("run the sandloop CLI");

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The guest's error, and the host's audit line.
    assert!(
        stderr.contains("Error: permission denied: policy denies udp send to 127.0.0.1:9\n"),
        "{stderr}"
    );
    let audit = stderr
        .lines()
        .find(|l| l.contains("sandloop::audit"))
        .unwrap_or_else(|| panic!("no audit line in:\n{stderr}"));
    assert!(
        audit.contains("policy denies udp send to 127.0.0.1:9"),
        "{audit}"
    );
}

/// `wait_with_output`, killing the child if it runs past `deadline`.
fn wait_with_deadline(mut child: Child, deadline: Duration) -> std::io::Result<Output> {
    let start = std::time::Instant::now();
    while child.try_wait()?.is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output()
}

#[test]
fn malformed_udp_flags_exit_2_saying_what_is_wrong() {
    let hello = test_programs_artifacts::program("hello_world");
    for (flag, rule, expected) in [
        ("--allow-udp-bind", "::1:53", "write it in brackets"),
        ("--allow-udp-send", "127.0.0.1:70000", "is not a port"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", flag, rule])
            .arg(hello)
            .output()
            .expect("run the sandloop CLI");
        let stderr = String::from_utf8_lossy(&out.stderr);

        assert_eq!(out.status.code(), Some(2), "{flag} {rule}: {stderr}");
        assert!(stderr.contains(expected), "{flag} {rule}: {stderr}");
    }
}
