//! The HTTP/1.1 side of the hello servers (`http_hello`, and `https_hello` over TLS):
//! answers `Hello, World!` to every request of a keep-alive connection, pipelined ones too.
//! A client that pipelines requests without reading the responses is not read from while
//! its responses wait (asyncio's flow control), so it cannot make the server buffer
//! responses without bound.

use sandloop::{Protocol, Transport};

#[path = "http_request.rs"]
mod http_request;

/// Parses requests out of the byte stream (pipelined ones too) and answers each.
#[derive(Default)]
pub struct HttpProtocol {
    transport: Option<Transport>,
    buffer: Vec<u8>,
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
        let close = http_request::respond(&mut self.buffer, &mut out);
        if !out.is_empty() {
            transport.write(&out);
        }
        if close {
            transport.close();
        }
    }

    /// The responses wait for the client to read them: take in no more requests.
    fn pause_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.pause_reading();
        }
    }

    fn resume_writing(&mut self) {
        if let Some(transport) = &self.transport {
            transport.resume_reading();
        }
    }
}
