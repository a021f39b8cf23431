//! `wasi:http` handlers (`sandloop::http`, the `wasi-http` feature): the portable
//! `wasi_http_hello` example served by `wasmtime serve` (the wasmtime CLI, installed on
//! first use by `tests/artifacts/install-wasmtime.sh`; a test fails with that command when
//! it cannot be), talked to over loopback by a plain HTTP/1.1 client, with native peers for
//! the handler's own TCP connection and outgoing request. Each server is killed when its
//! test ends, whatever happens.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{Cli, Lines, PATIENCE};
use test_programs_artifacts::{portable_program, wasmtime_cli};

/// `wasmtime serve` running `wasi_http_hello` on a free port of 127.0.0.1; killed when
/// dropped.
struct Serve {
    _cli: Cli,
    addr: String,
    /// The server's stderr after its "Serving HTTP on ..." line: the handlers' stderr.
    stderr: Lines,
}

impl Serve {
    /// Starts the server with `flags` added and returns once it listens.
    fn start(flags: &[&str]) -> Serve {
        let mut cli = Cli::spawn(
            Command::new(wasmtime_cli())
                .arg("serve")
                .args(["-S", "cli=y", "-S", "inherit-network=y"])
                .args(["--addr", "127.0.0.1:0"])
                .args(flags)
                .arg(portable_program("wasi_http_hello"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let stderr = Lines::new(cli.take_stderr());
        let line = stderr.next_line();
        let addr = line
            .trim()
            .strip_prefix("Serving HTTP on http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("wasmtime serve said {line:?}, not where it listens"))
            .to_string();
        Serve {
            _cli: cli,
            addr,
            stderr,
        }
    }

    /// `GET path` on a connection of its own.
    fn get(&self, path: &str) -> Reply {
        request(&self.addr, "GET", path, b"")
    }
}

/// What the server answered.
#[derive(Debug)]
struct Reply {
    status: u16,
    /// Lower-cased header lines (`name: value`).
    headers: Vec<String>,
    body: String,
}

impl Reply {
    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|h| h.starts_with(&format!("{name}:")))
    }
}

/// Sends one HTTP/1.1 request (`connection: close`) and reads the whole answer; a server
/// that does not answer within [`PATIENCE`] fails the test.
fn request(addr: &str, method: &str, path: &str, body: &[u8]) -> Reply {
    let mut conn = TcpStream::connect(addr).expect("connect to wasmtime serve");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).unwrap();
    conn.write_all(body).unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).expect("the status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let chunked = headers.iter().any(|h| h == "transfer-encoding: chunked");
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).expect("a chunk size");
            let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).expect("a chunk");
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body).expect("the body");
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).expect("a UTF-8 body"),
    }
}

/// A native TCP peer on 127.0.0.1 that answers each of `connections` connections'
/// first line with `echo: <line>`.
fn native_line_echo(connections: usize) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let peer = thread::spawn(move || {
        for _ in 0..connections {
            let (conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(PATIENCE)).unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            (&conn)
                .write_all(format!("echo: {line}").as_bytes())
                .unwrap();
        }
    });
    (port, peer)
}

/// A native HTTP/1.1 server on 127.0.0.1 that answers one request with `upstream body`
/// and returns the request's head line.
fn native_http_upstream() -> (u16, thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut first = String::new();
        reader.read_line(&mut first).unwrap();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
        }
        (&conn)
            .write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-length: 13\r\n\
                  connection: close\r\n\r\nupstream body",
            )
            .unwrap();
        first.trim_end().to_string()
    });
    (port, upstream)
}

#[test]
fn the_root_answers_hello_with_a_content_length() {
    let server = Serve::start(&[]);
    let reply = server.get("/");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "Hello, World!\n");
    assert!(
        reply.headers.contains(&"content-length: 14".to_string()),
        "{reply:?}"
    );
}

#[test]
fn a_head_request_gets_the_head_only_and_no_error() {
    let server = Serve::start(&[]);
    let reply = request(&server.addr, "HEAD", "/", b"");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "");
    // The next stderr line is the /fail handler's: the HEAD logged nothing.
    assert_eq!(server.get("/fail").status, 500);
    let line = server.stderr.next_line();
    assert!(line.contains("handler failed on GET"), "{line}");
}

#[test]
fn a_handler_awaits_a_loop_timer() {
    let server = Serve::start(&[]);
    let started = Instant::now();
    let reply = server.get("/sleep/300");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "slept 300 ms\n");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[test]
fn a_handler_talks_to_a_native_tcp_peer_through_wasi_sockets() {
    let server = Serve::start(&[]);
    let (port, peer) = native_line_echo(1);
    let reply = server.get(&format!("/echo?addr=127.0.0.1:{port}&msg=hello"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "echo: hello\n");
    peer.join().unwrap();
}

#[test]
fn a_handler_fetches_from_a_native_server_through_the_outgoing_handler() {
    let server = Serve::start(&[]);
    let (port, upstream) = native_http_upstream();
    let reply = server.get(&format!("/fetch?url=http://127.0.0.1:{port}/some/path?q=1"));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "upstream 202 Accepted: upstream body");
    assert_eq!(upstream.join().unwrap(), "GET /some/path?q=1 HTTP/1.1");
}

#[test]
fn a_fetch_to_a_closed_port_is_a_500_naming_the_refusal() {
    let server = Serve::start(&[]);
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let reply = server.get(&format!("/fetch?url=http://127.0.0.1:{port}/"));
    assert_eq!(reply.status, 500, "{reply:?}");
    let line = server.stderr.next_line();
    assert!(line.contains("ConnectionRefused"), "{line}");
}

#[test]
fn a_handler_reads_a_large_request_body_as_it_arrives() {
    let server = Serve::start(&[]);
    let body = vec![b'x'; 300_000];
    let reply = request(&server.addr, "POST", "/count", &body);
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, "300000 bytes\n");
}

#[test]
fn a_streamed_body_goes_out_chunked() {
    let server = Serve::start(&[]);
    let reply = server.get("/stream/4");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(!reply.has_header("content-length"), "{reply:?}");
    assert_eq!(reply.body, "line 1\nline 2\nline 3\nline 4\n");
}

#[test]
fn an_unknown_route_is_a_404() {
    let server = Serve::start(&[]);
    let reply = server.get("/no/such/route");
    assert_eq!(reply.status, 404, "{reply:?}");
    assert_eq!(reply.body, "not found\n");
}

#[test]
fn a_handler_error_is_a_500_and_a_line_on_stderr_and_the_server_goes_on() {
    let server = Serve::start(&[]);
    let reply = server.get("/fail");
    assert_eq!(reply.status, 500, "{reply:?}");
    assert_eq!(reply.body, "500 Internal Server Error\n");
    let line = server.stderr.next_line();
    assert!(
        line.contains("handler failed on GET") && line.contains("fails on purpose"),
        "{line}"
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn concurrent_requests_each_run_on_a_loop_of_their_own() {
    let server = Serve::start(&[]);
    let addr = server.addr.clone();
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let addr = addr.clone();
            thread::spawn(move || {
                let ms = 100 + 20 * i;
                (ms, request(&addr, "GET", &format!("/sleep/{ms}"), b""))
            })
        })
        .collect();
    for client in clients {
        let (ms, reply) = client.join().unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.body, format!("slept {ms} ms\n"));
    }
}

#[test]
fn an_instance_reused_for_several_requests_gets_a_fresh_loop_for_each() {
    let server = Serve::start(&["--max-instance-reuse-count", "16"]);
    let (port, peer) = native_line_echo(2);
    for round in 0..2 {
        assert_eq!(server.get("/").body, "Hello, World!\n", "round {round}");
        assert_eq!(server.get("/sleep/20").body, "slept 20 ms\n");
        assert_eq!(server.get("/fail").status, 500);
        let reply = server.get(&format!("/echo?addr=127.0.0.1:{port}&msg=r{round}"));
        assert_eq!(reply.body, format!("echo: r{round}\n"));
        assert_eq!(server.get("/stream/2").body, "line 1\nline 2\n");
    }
    peer.join().unwrap();
}

/// The names a component imports and exports.
fn interface_names(program: &str) -> (Vec<String>, Vec<String>) {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, portable_program(program))
        .unwrap_or_else(|e| panic!("compile {program}: {e:?}"));
    let ty = component.component_type();
    let imports = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
    let exports = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
    (imports, exports)
}

#[test]
fn only_the_handler_imports_or_exports_wasi_http() {
    // Built in the same portable build, so with the `wasi-http` feature on too.
    for program in ["http_hello", "echo_server"] {
        let (imports, exports) = interface_names(program);
        assert!(
            !imports
                .iter()
                .chain(&exports)
                .any(|n| n.starts_with("wasi:http/")),
            "{program} imports {imports:?} and exports {exports:?}"
        );
    }
    let (imports, exports) = interface_names("wasi_http_hello");
    // `wasi:cli/run` at the version Rust's std links (its `main`), beside the handler.
    for export in ["wasi:http/incoming-handler@0.2.12", "wasi:cli/run@"] {
        assert!(exports.iter().any(|n| n.starts_with(export)), "{exports:?}");
    }
    assert!(
        imports
            .iter()
            .any(|n| n == "wasi:http/outgoing-handler@0.2.12"),
        "{imports:?}"
    );
}
