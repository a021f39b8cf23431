//! WASI's own sockets under the policy: the guest program `wasi_sockets` uses `std::net`
//! (wasi-libc over `wasi:sockets`, no `sandloop:host` import) and runs under the `sandloop`
//! CLI. Each grant lets it do what `sandloop:host/net` would let it do; without one it gets
//! `PermissionDenied` and the host logs the same audit line as for `sandloop:host/net`.
//! The program `wstd_echo` is a server written with wstd, a library of the ecosystem's,
//! under the same rules.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, UdpSocket};
use std::process::{Command, Stdio};

use common::{Cli, PATIENCE, Probe};
use test_programs_artifacts::program;

/// Runs `sandloop run FLAGS wasi_sockets -- ARGS` to its end (bounded), with the host's
/// warnings (the audit lines) on stderr.
fn probe(flags: &[&str], args: &[&str]) -> Probe {
    probe_program("wasi_sockets", flags, args)
}

/// The same for another guest program.
fn probe_program(name: &str, flags: &[&str], args: &[&str]) -> Probe {
    common::probe(flags, name, args, &[])
}

impl Probe {
    #[track_caller]
    fn assert_ok(&self, expected: &str) {
        assert_eq!(
            (self.code, self.stdout.as_str()),
            (Some(0), expected),
            "stderr: {}",
            self.stderr
        );
    }

    /// Succeeded, printing `ok: DETAIL` with DETAIL starting with `prefix`.
    #[track_caller]
    fn assert_ok_starting(&self, prefix: &str) {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.starts_with(&format!("ok: {prefix}")),
            "{}",
            self.stdout
        );
    }

    /// Refused: the guest saw `PermissionDenied` (WASI's `access-denied`) and exited 1,
    /// and the host logged the audit line `words`.
    #[track_caller]
    fn assert_denied(&self, words: &str) {
        assert_eq!(
            self.code,
            Some(1),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stdout.starts_with("error: PermissionDenied"),
            "{}",
            self.stdout
        );
        assert!(
            self.stderr.contains("sandloop::audit") && self.stderr.contains(words),
            "no audit line for {words:?}:\n{}",
            self.stderr
        );
    }
}

/// Starts `sandloop run FLAGS wasi_sockets -- ARGS` for a server case and returns it with
/// the port it said it listens on.
fn start_server(flags: &[&str], args: &[&str]) -> (Cli, common::Lines, u16) {
    let mut cli = Cli::spawn(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .args(flags)
            .arg(program("wasi_sockets"))
            .arg("--")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .stdin(Stdio::null()),
    );
    let lines = cli.stdout_lines();
    let line = lines.next_line();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.rsplit(':').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("the server said {line:?}"));
    (cli, lines, port)
}

#[test]
fn a_granted_listen_serves_a_native_client_byte_exact() {
    let (mut cli, lines, port) = start_server(
        &["--allow-listen", "127.0.0.1:*"],
        &["serve", "127.0.0.1:0"],
    );
    let sent: Vec<u8> = (0..256 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let echoed = echo_through(port, sent.clone());
    assert!(
        echoed == sent,
        "the echo differs ({} bytes back)",
        echoed.len()
    );
    assert_eq!(lines.next_line().trim(), "ok: echoed 262144 bytes");
    assert!(cli.wait_within().success());
}

#[test]
fn a_listen_without_a_grant_is_refused_with_an_audit_line() {
    probe(&[], &["listen", "127.0.0.1:0"]).assert_denied("policy denies bind to 127.0.0.1:0");
    // A grant of another port is no grant of this one.
    probe(
        &["--allow-listen", "127.0.0.1:1"],
        &["listen", "127.0.0.1:0"],
    )
    .assert_denied("policy denies bind to 127.0.0.1:0");
}

#[test]
fn listening_on_the_port_the_kernel_picks_is_checked_as_listen() {
    // A bind to the unspecified address, port 0, is the kernel's own pick (wasmtime-wasi
    // asks about it before every connect): allowed, but the listen on the port it picked
    // is not granted.
    let denied = probe(&["--allow-listen", "127.0.0.1:*"], &["listen", "0.0.0.0:0"]);
    denied.assert_denied("policy denies listen on 0.0.0.0:");
    probe(&["--allow-listen", "0.0.0.0:*"], &["listen", "0.0.0.0:0"])
        .assert_ok_starting("0.0.0.0:");
}

#[test]
fn connect_is_judged_by_the_connect_grants() {
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().expect("accept the guest");
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).expect("read the guest");
        conn.write_all(b"pong:").unwrap();
        conn.write_all(&got).unwrap();
    });
    let target = format!("127.0.0.1:{port}");
    probe(&[], &["connect", &target, "ping"])
        .assert_denied(&format!("policy denies connect to {target}"));
    probe(&["--allow-connect", &target], &["connect", &target, "ping"]).assert_ok("ok: pong:ping");
    serving.join().unwrap();
}

#[test]
fn udp_is_judged_by_the_udp_grants() {
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    let target = peer.local_addr().unwrap().to_string();
    probe(&[], &["udp-bind", "127.0.0.1:0"]).assert_denied("policy denies udp bind to 127.0.0.1:0");
    // The listen grant is not a datagram grant.
    probe(
        &["--allow-listen", "127.0.0.1:*"],
        &["udp-bind", "127.0.0.1:0"],
    )
    .assert_denied("policy denies udp bind to 127.0.0.1:0");
    probe(
        &["--allow-udp-bind", "127.0.0.1:*"],
        &["udp-bind", "127.0.0.1:0"],
    )
    .assert_ok_starting("127.0.0.1:");
    probe(&[], &["udp-send", &target, "hello"])
        .assert_denied(&format!("policy denies udp send to {target}"));

    let answering = std::thread::spawn(move || {
        let mut buf = [0; 64];
        let (n, from) = peer.recv_from(&mut buf).expect("the guest's datagram");
        peer.send_to(&[b"re:", &buf[..n]].concat(), from).unwrap();
    });
    probe(
        &["--allow-udp-send", &target],
        &["udp-send", &target, "hello"],
    )
    .assert_ok("ok: re:hello");
    answering.join().unwrap();
}

#[test]
fn a_granted_udp_bind_receives_and_answers_a_native_peer() {
    let (mut cli, lines, port) = start_server(
        &[
            "--allow-udp-bind",
            "127.0.0.1:*",
            "--allow-udp-send",
            "127.0.0.1:*",
        ],
        &["udp-echo", "127.0.0.1:0"],
    );
    let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.send_to(b"datagram", ("127.0.0.1", port)).unwrap();
    let mut buf = [0; 64];
    let (n, _) = peer.recv_from(&mut buf).expect("the echo");
    assert_eq!(&buf[..n], b"datagram");
    assert_eq!(lines.next_line().trim(), "ok: echoed 8 bytes");
    assert!(cli.wait_within().success());
}

#[test]
fn lookups_answer_under_resolve_and_no_dns_as_for_the_dns_interface() {
    let system = probe(&[], &["lookup", "localhost"]);
    assert_eq!(system.code, Some(0), "{}\n{}", system.stdout, system.stderr);
    assert!(system.stdout.contains("127.0.0.1"), "{}", system.stdout);

    let denied = probe(&["--no-dns"], &["lookup", "localhost"]);
    assert_eq!(denied.code, Some(1), "{}\n{}", denied.stdout, denied.stderr);
    assert!(
        denied.stderr.contains("sandloop::audit")
            && denied
                .stderr
                .contains("policy denies DNS lookup of localhost"),
        "no audit line:\n{}",
        denied.stderr
    );

    let fixed = ["--no-dns", "--resolve", "db.internal=127.0.0.7,::1"];
    probe(&fixed, &["lookup", "db.internal"]).assert_ok("ok: 127.0.0.7 ::1");
    // A fixed name never reaches the system resolver, even for a name it knows.
    probe(
        &["--resolve", "localhost=127.0.0.9"],
        &["lookup", "localhost"],
    )
    .assert_ok("ok: 127.0.0.9");
}

#[test]
fn the_handle_limit_counts_wasi_sockets() {
    let out = probe(
        &["--allow-listen", "127.0.0.1:*", "--max-handles", "20"],
        &["listeners", "100"],
    );
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let held: usize = out
        .stdout
        .split("after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", out.stdout));
    // Each listener is one handle, next to the few WASI's stdio streams take.
    assert!((15..=20).contains(&held), "{}", out.stdout);
    assert!(
        out.stderr.contains("handle limit of 20 reached"),
        "no audit line:\n{}",
        out.stderr
    );
}

/// Echoes `payload` through the server on 127.0.0.1:`port`: sends it all, then EOF, while
/// reading the echo; returns the echo.
fn echo_through(port: u16, payload: Vec<u8>) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the guest");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut writer = conn.try_clone().unwrap();
    let writing = std::thread::spawn(move || {
        writer.write_all(&payload).expect("send to the guest");
        writer.shutdown(Shutdown::Write).expect("shut down writing");
    });
    let mut echoed = Vec::new();
    conn.read_to_end(&mut echoed).expect("read the echo");
    writing.join().unwrap();
    echoed
}

#[test]
fn a_wstd_server_serves_native_clients_byte_exact_under_a_grant() {
    let (_cli, line) = common::start_cli(
        &["--allow-listen", "127.0.0.1:*"],
        "wstd_echo",
        &["127.0.0.1:0"],
    );
    let port: u16 = line
        .trim()
        .strip_prefix("listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("wstd_echo said {line:?}"))
        .parse()
        .expect("a port");
    // Three clients at once, each more than the socket buffers hold.
    let clients: Vec<_> = (0..3u32)
        .map(|seed| {
            std::thread::spawn(move || {
                let sent: Vec<u8> = (0..512 * 1024u32)
                    .map(|i| (i.wrapping_mul(7) ^ seed) as u8)
                    .collect();
                (sent.clone(), echo_through(port, sent))
            })
        })
        .collect();
    for client in clients {
        let (sent, echoed) = client.join().expect("a client");
        assert_eq!(echoed.len(), sent.len(), "echoed bytes");
        assert!(echoed == sent, "the echo differs from what was sent");
    }
}

#[test]
fn a_wstd_server_without_a_grant_is_refused_with_an_audit_line() {
    probe_program("wstd_echo", &[], &["127.0.0.1:0"])
        .assert_denied("policy denies bind to 127.0.0.1:0");
    probe_program(
        "wstd_echo",
        &["--allow-listen", "127.0.0.1:1"],
        &["127.0.0.1:0"],
    )
    .assert_denied("policy denies bind to 127.0.0.1:0");
}
