//! The HTTP/1.1 keep-alive "Hello, World!" server's request handling: the examples
//! `http_hello` and `https_hello` use it (through `hello_http.rs`), and so do their native
//! peers in the bench (`mio_http`, `tokio_http`, as `sandloop_bench::http_hello`), so that
//! every server does the same work per request (the same parsing, the same allocations)
//! and answers with the same bytes.

/// The response body.
pub const BODY: &str = "Hello, World!";

/// Answers every complete request at the front of `input`, pipelined ones too: removes them
/// from `input` and appends their responses to `output`. Returns whether the last request
/// answered asked to close the connection; no request after it is answered.
///
/// ```
/// let mut input = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET".to_vec();
/// let mut output = Vec::new();
/// assert!(!sandloop_bench::http_hello::respond(&mut input, &mut output));
/// assert!(output.ends_with(b"\r\n\r\nHello, World!"));
/// assert_eq!(input, b"GET");
/// ```
pub fn respond(input: &mut Vec<u8>, output: &mut Vec<u8>) -> bool {
    let mut close = false;
    while let Some(end) = head_end(input) {
        let total = end + content_length(&input[..end]);
        if input.len() < total {
            break;
        }
        close = wants_close(&input[..end]);
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
            break;
        }
    }
    close
}

/// The end of the head of a request (`\r\n\r\n`), if it has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// Whether the request asks to close the connection after the response.
fn wants_close(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.starts_with("get / http/1.0") && !text.contains("connection: keep-alive")
        || text.contains("connection: close")
}

/// The declared body length of a request, to skip its body.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}
