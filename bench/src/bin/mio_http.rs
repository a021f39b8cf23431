//! A native, single-threaded HTTP/1.1 keep-alive "Hello, World!" server on mio: the ceiling
//! the sandloop example `http_hello` is measured against (bench/run.sh). It answers with the
//! same bytes after the same parsing ([`sandloop_bench::http_hello`]).
//!
//! ```text
//! mio_http 127.0.0.1:8080
//! ```
//! Prints `Serving on http://ADDR/` once listening.

use std::io;
use std::process::ExitCode;

use sandloop_bench::http_hello;
use sandloop_bench::mio_server::{self, Handler, Outbox};

/// Answers the complete requests among what arrived.
#[derive(Default)]
struct Hello {
    /// Bytes of requests not yet answered in full.
    input: Vec<u8>,
    /// The responses of one read, reused.
    responses: Vec<u8>,
}

impl Handler for Hello {
    fn on_data(&mut self, data: &[u8], out: &mut Outbox<'_>) -> io::Result<bool> {
        self.input.extend_from_slice(data);
        self.responses.clear();
        let close = http_hello::respond(&mut self.input, &mut self.responses);
        out.send(&self.responses)?;
        Ok(close)
    }
}

fn main() -> ExitCode {
    mio_server::main::<Hello>("mio_http", "127.0.0.1:8080", "Serving on http://{addr}/")
}
