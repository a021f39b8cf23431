//! The limit on host-buffered bytes under the real host: guest program
//! tests/programs/src/bin/buffer_limit.rs, a guest writing to a peer that never reads; and
//! the example servers, whose flow control keeps such a peer from filling the guest's
//! memory (what the limit does not bound).

mod common;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use common::{loopback_policy, run_case_with_policy};
use sandloop_host::Policy;

/// The limit the cases run under: far below the 32 MiB they write, and below what a
/// loopback connection's kernel buffers take, so the host is full for a while.
const LIMIT: u64 = 1 << 20;

fn limited() -> Policy {
    let mut policy = loopback_policy();
    policy.limits.buffered_bytes = Some(LIMIT);
    policy
}

/// Each quiet case of the program, run under the limit: the guest asserts that the full
/// host paused its protocol and that every byte arrived, in order.
macro_rules! limited_cases {
    ($program:literal: $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let out = run_case_with_policy($program, stringify!($case), limited());
                out.assert_ok();
                assert!(out.stderr.is_empty(), "unexpected log:\n{}", out.stderr);
            }
        )+
    };
}

test_programs_artifacts::for_each_quiet_case!("buffer_limit", limited_cases);

/// The same flood with and without the limit: under it the protocol is paused (the host
/// holds at most the limit, the guest keeps the rest); without it nothing pauses, as the
/// host takes everything the high-water mark lets through.
#[test]
fn a_peer_that_never_reads_turns_the_limit_into_pause_writing() {
    let received = "received 33554432 bytes in order";
    run_case_with_policy("buffer_limit", "count_pauses", limited())
        .assert_ok()
        .assert_lines(&["paused 1", received]);
    run_case_with_policy("buffer_limit", "count_pauses", loopback_policy())
        .assert_ok()
        .assert_lines(&["paused 0", received]);
}

/// Without the limit too, a write larger than one host call may copy goes over in parts.
#[test]
fn one_write_larger_than_a_host_call_carries_without_the_limit() {
    run_case_with_policy(
        "buffer_limit",
        "one_write_larger_than_a_host_call_carries",
        loopback_policy(),
    )
    .assert_ok();
}

/// The CLI's flag sets the same limit: `sandloop run --max-buffered 1M`.
#[test]
fn the_max_buffered_flag_sets_the_limit() {
    use std::process::{Command, Stdio};
    let output = common::output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .args(["run", "--allow-listen", "127.0.0.1:*", "--allow-connect"])
            .args(["127.0.0.1:*", "--max-buffered", "1M"])
            .arg(test_programs_artifacts::program("buffer_limit"))
            .args(["--", "count_pauses"])
            .stdin(Stdio::null()),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["paused 1", "received 33554432 bytes in order"]
    );
}

// ---- The example servers under --max-memory and --max-buffered ---------------------------

/// What the example servers run under: a modest memory limit, and a host buffer far
/// smaller than it.
const SERVER_LIMITS: &[&str] = &["--max-memory", "32M", "--max-buffered", "1M"];

/// What a client that never reads offers: eight times the server's memory limit.
const FLOOD: usize = 256 << 20;

/// How long one write of the flood may wait before the client takes it that the server
/// stopped reading. It only ends the flood: no speed is asserted.
const STALL: Duration = Duration::from_secs(2);

/// The byte at `offset` of a flood (a cycle of 251, so a misplaced chunk shows).
fn flood_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// Connects to `port` and sends `FLOOD` bytes without reading: `chunk` over and over, or
/// (without one) the [`flood_byte`] pattern; stops early when a write has waited
/// [`STALL`]. Returns the connection, still open, and how many bytes it took. A failed
/// write (the server is gone) fails the test.
fn flood(port: u16, chunk: Option<&[u8]>) -> (TcpStream, usize) {
    let pattern: Vec<u8> = (0..251 << 12).map(flood_byte).collect();
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_write_timeout(Some(STALL)).expect("write timeout");
    let mut sent = 0;
    while sent < FLOOD {
        let data = match chunk {
            Some(chunk) => chunk,
            // Start where the last write stopped, so the stream stays one pattern.
            None => &pattern[sent % 251..],
        };
        match conn.write(data) {
            Ok(n) => sent += n,
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break;
            }
            Err(err) => panic!("the server failed while flooded, after {sent} bytes: {err}"),
        }
    }
    (conn, sent)
}

/// Asserts that the server is still running.
#[track_caller]
fn assert_running(server: &mut common::Cli) {
    let status = server.child().try_wait().expect("ask the server's status");
    assert!(status.is_none(), "the server ended: {status:?}");
}

/// `echo_server` with `args` under [`SERVER_LIMITS`], flooded by a client that does not
/// read: the server stops reading it (the host keeps at most 1 MiB for it, the guest its
/// transport's share), so the server outlives the flood, echoes another client, and then
/// echoes every byte the flood sent, in order, once the client reads.
fn echo_server_outlives_a_client_that_never_reads(args: &[&str]) {
    let (mut server, port) = common::serve_example("echo_server", SERVER_LIMITS, args);
    let (mut flooder, sent) = flood(port, None);

    let mut other = TcpStream::connect(("127.0.0.1", port)).expect("connect a second client");
    other
        .set_read_timeout(Some(common::PATIENCE))
        .expect("read timeout");
    other.write_all(b"hello").expect("send to the echo");
    let mut echo = [0; 5];
    other
        .read_exact(&mut echo)
        .expect("the second client's echo");
    assert_eq!(&echo, b"hello");
    assert_running(&mut server);

    flooder
        .set_read_timeout(Some(common::PATIENCE))
        .expect("read timeout");
    let mut back = vec![0; sent];
    flooder.read_exact(&mut back).expect("the flood's echo");
    let wrong = back
        .iter()
        .enumerate()
        .position(|(i, &b)| b != flood_byte(i));
    assert_eq!(
        wrong, None,
        "the echo of the flood differs (of {sent} bytes)"
    );
}

#[test]
fn echo_server_outlives_a_client_that_never_reads_on_the_default_loop() {
    echo_server_outlives_a_client_that_never_reads(&[]);
}

#[test]
fn echo_server_outlives_a_client_that_never_reads_on_a_selector_loop() {
    echo_server_outlives_a_client_that_never_reads(&["--selector"]);
}

#[test]
fn echo_server_with_streams_outlives_a_client_that_never_reads() {
    echo_server_outlives_a_client_that_never_reads(&["--streams"]);
}

#[test]
fn echo_server_with_streams_on_a_selector_loop_outlives_a_client_that_never_reads() {
    echo_server_outlives_a_client_that_never_reads(&["--streams", "--selector"]);
}

/// Pipelined requests whose responses are never read: `server` stops reading them while
/// its responses wait, and serves another client.
fn outlives_a_client_that_never_reads_its_responses(mut server: common::Cli, port: u16) {
    let requests = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1 << 14);
    let (_flooder, _) = flood(port, Some(&requests));

    let mut other = TcpStream::connect(("127.0.0.1", port)).expect("connect a second client");
    other
        .set_read_timeout(Some(common::PATIENCE))
        .expect("read timeout");
    other
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    let mut response = String::new();
    other
        .read_to_string(&mut response)
        .expect("the second client's response");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response:?}");
    assert_running(&mut server);
}

#[test]
fn http_hello_outlives_a_client_that_never_reads_its_responses() {
    let (server, port) = common::serve_example("http_hello", SERVER_LIMITS, &[]);
    outlives_a_client_that_never_reads_its_responses(server, port);
}

#[test]
fn static_files_outlives_a_client_that_never_reads_its_responses() {
    let www = common::TempDir::new("buffer-limit-static-files");
    std::fs::write(www.0.join("index.html"), b"<h1>sandloop</h1>\n").unwrap();
    let dir = format!("{}::/www", www.0.display());
    let flags: Vec<&str> = SERVER_LIMITS
        .iter()
        .copied()
        .chain(["--dir", &dir])
        .collect();
    let (server, port) = common::serve_example("static_files", &flags, &["/www"]);
    outlives_a_client_that_never_reads_its_responses(server, port);
}
