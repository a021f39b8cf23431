//! The HTTP/1.1 side of the hello servers (`http_hello`, and `https_hello` over TLS):
//! answers `Hello, World!` to every request of a keep-alive connection, pipelined ones too.

use sandloop::{Protocol, Transport};

const BODY: &str = "Hello, World!";

/// Parses requests out of the byte stream (pipelined ones too) and answers each.
#[derive(Default)]
pub struct HttpProtocol {
    transport: Option<Transport>,
    buffer: Vec<u8>,
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

impl Protocol for HttpProtocol {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }

    fn data_received(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
        let Some(transport) = self.transport.clone() else {
            return;
        };
        let mut out = Vec::new();
        let mut close = false;
        while let Some(end) = head_end(&self.buffer) {
            let total = end + content_length(&self.buffer[..end]);
            if self.buffer.len() < total {
                break;
            }
            close = wants_close(&self.buffer[..end]);
            out.extend_from_slice(
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{BODY}",
                    BODY.len(),
                    if close { "Connection: close\r\n" } else { "" },
                )
                .as_bytes(),
            );
            self.buffer.drain(..total);
            if close {
                break;
            }
        }
        if !out.is_empty() {
            transport.write(&out);
        }
        if close {
            transport.close();
        }
    }
}
