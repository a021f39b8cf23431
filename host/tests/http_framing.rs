//! Where a request ends, in the HTTP examples (`examples/http_framing.rs`): hand-made
//! requests over raw TCP to `http_hello` and `static_files`, started by the CLI. A server
//! that misjudges a request's end answers the bytes of its body as another request
//! (smuggling); one that waits for any length a client declares holds its bytes without
//! bound. Each refusal is one error response, then the server closes.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;

/// A connection to `port` that has sent `request`.
fn send(port: u16, request: &[u8]) -> TcpStream {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    conn.set_read_timeout(Some(common::PATIENCE))
        .expect("read timeout");
    conn.write_all(request).expect("send the request");
    conn
}

/// The status line of the first response on `conn` (read byte by byte, so that nothing
/// after it is consumed).
fn status_line(conn: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0];
    while !line.ends_with(b"\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            other => panic!(
                "no whole status line ({other:?}) after {:?}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    String::from_utf8_lossy(&line).trim_end().to_owned()
}

/// Everything the server sends on `conn` until it closes it.
fn rest(conn: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    conn.read_to_end(&mut bytes)
        .expect("the server closes the connection");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `request` gets one response with `status`, and the connection is closed after it.
#[track_caller]
fn assert_refused(port: u16, request: &[u8], status: &str) {
    let mut conn = send(port, request);
    assert_eq!(status_line(&mut conn), format!("HTTP/1.1 {status}"));
    let rest = rest(&mut conn);
    assert!(
        !rest.contains("HTTP/1.1"),
        "a second response followed: {rest:?}"
    );
    assert!(rest.contains("Connection: close"), "{rest:?}");
}

/// A request declaring `length` bytes of body, followed by a second request that closes.
fn declaring(length: &str) -> Vec<u8> {
    format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n\
         GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn http_hello_refuses_a_content_length_that_wraps_around_32_bits() {
    let (_server, port) = common::serve_example("http_hello", &[], &[]);
    // On wasm32, `end + 4294967295` wrapped to just before the body: the second request
    // was answered as if it were one of its own (two responses).
    assert_refused(port, &declaring("4294967295"), "413 Content Too Large");
    // `end + 4294967290` wrapped below what had arrived: answered at once as complete.
    assert_refused(port, &declaring("4294967290"), "413 Content Too Large");
    assert_refused(
        port,
        &declaring("99999999999999999999999"),
        "413 Content Too Large",
    );
}

#[test]
fn http_hello_refuses_a_body_past_one_mebibyte_before_it_arrives() {
    let (_server, port) = common::serve_example("http_hello", &[], &[]);
    // Nothing of the body is sent: the server answers from the head alone.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        (1 << 20) + 1
    );
    assert_refused(port, head.as_bytes(), "413 Content Too Large");
}

#[test]
fn http_hello_refuses_a_malformed_or_conflicting_content_length() {
    let (_server, port) = common::serve_example("http_hello", &[], &[]);
    for length in ["-1", "+5", "5x", "0x10", "5, 5", ""] {
        assert_refused(port, &declaring(length), "400 Bad Request");
    }
    let conflicting =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\ncontent-length: 0\r\n\r\nhello";
    assert_refused(port, conflicting, "400 Bad Request");
    let spaced = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello";
    assert_refused(port, spaced, "400 Bad Request");
    let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_refused(port, chunked, "501 Not Implemented");
}

#[test]
fn http_hello_refuses_a_head_past_16_kib_without_its_end() {
    let (_server, port) = common::serve_example("http_hello", &[], &[]);
    // Exactly 16 KiB and no blank line: the head never ends. (No byte more: one the
    // server has not read when it closes would make its kernel reset the connection.)
    let mut request = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    request.resize(16 * 1024, b'x');
    assert_refused(port, &request, "431 Request Header Fields Too Large");
}

#[test]
fn http_hello_skips_declared_bodies_and_answers_the_next_request() {
    let (_server, port) = common::serve_example("http_hello", &[], &[]);
    let mut conn = send(
        port,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\n\
          GET /smuggled HTTP/1.1\r\n\r\n\
          POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\nContent-Length: 3\r\n\r\nabc\
          GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let all = rest(&mut conn);
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 3, "{all:?}");
}

/// `static_files` frames requests the same way: a declared body is skipped, never
/// answered as a request of its own, and a length past the limit is refused.
#[test]
fn static_files_skips_declared_bodies_and_refuses_huge_ones() {
    let www = common::TempDir::new("framing-static-files");
    std::fs::write(www.0.join("index.html"), b"hello\n").unwrap();
    let dir = format!("{}::/www", www.0.display());
    let (_server, port) = common::serve_example("static_files", &["--dir", &dir], &["/www"]);

    let mut conn = send(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 26\r\n\r\n\
          GET /smuggled HTTP/1.1\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let all = rest(&mut conn);
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all:?}");
    assert!(!all.contains("404"), "the body was answered: {all:?}");

    assert_refused(port, &declaring("4294967295"), "413 Content Too Large");
}
