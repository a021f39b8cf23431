//! The HTTP/1.1 keep-alive "Hello, World!" server's request handling: the examples
//! `http_hello` and `https_hello` use it (through `hello_http.rs`), and so do their native
//! peers in the bench (`mio_http`, `tokio_http`, as `sandloop_bench::http_hello`), so that
//! every server does the same work per request (the same parsing, the same allocations)
//! and answers with the same bytes. Where a request ends, and which are refused, is
//! `http_framing.rs`.

#[path = "http_framing.rs"]
pub mod framing;

use framing::{Framing, frame};

/// The response body.
pub const BODY: &str = "Hello, World!";

/// Answers every complete request at the front of `input`, pipelined ones too: removes them
/// from `input` and appends their responses to `output`. Returns whether the connection is
/// to be closed after the responses: the last request answered asked for it, or a request
/// was refused (its error response is the last one, and `input` is emptied); no request
/// after it is answered.
///
/// ```
/// let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET".to_vec();
/// let mut output = Vec::new();
/// assert!(!sandloop_bench::http_hello::respond(&mut input, &mut output));
/// assert!(output.ends_with(b"\r\n\r\nHello, World!"));
/// assert_eq!(input, b"GET");
/// ```
pub fn respond(input: &mut Vec<u8>, output: &mut Vec<u8>) -> bool {
    loop {
        let (head, total) = match frame(input) {
            Framing::Incomplete => return false,
            Framing::Request { head, total } => (head, total),
            Framing::Refused(refusal) => {
                output.extend_from_slice(&refusal.response());
                input.clear();
                return true;
            }
        };
        let close = wants_close(&input[..head]);
        output.extend_from_slice(
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{BODY}",
                BODY.len(),
                if close { "Connection: close\r\n" } else { "" },
            )
            .as_bytes(),
        );
        input.drain(..total);
        if close {
            return true;
        }
    }
}

/// Whether the request asks to close the connection after the response: a `Connection:
/// close`, or HTTP/1.0 without `Connection: keep-alive`. (The head was framed already, so
/// its field lines are well-formed.)
fn wants_close(head: &[u8]) -> bool {
    let mut keep_alive = false;
    for (name, value) in framing::fields(head).flatten() {
        if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if option.eq_ignore_ascii_case(b"close") {
                    return true;
                }
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let request_line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    request_line.ends_with(b"HTTP/1.0") && !keep_alive
}
