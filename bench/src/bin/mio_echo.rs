//! A native, single-threaded TCP echo server on mio: the ceiling the sandloop echo example
//! is measured against (bench/run.sh).
//!
//! ```text
//! mio_echo 127.0.0.1:8888
//! ```
//! Prints `Serving on ADDR` once listening. Every connection echoes what it reads, straight
//! from the read buffer when nothing waits before it (see [`sandloop_bench::mio_server`]).

use std::io;
use std::process::ExitCode;

use sandloop_bench::mio_server::{self, Handler, Outbox};

/// Writes back whatever arrives.
#[derive(Default)]
struct Echo;

impl Handler for Echo {
    fn on_data(&mut self, data: &[u8], out: &mut Outbox<'_>) -> io::Result<bool> {
        out.send(data)?;
        Ok(false)
    }
}

fn main() -> ExitCode {
    mio_server::main::<Echo>("mio_echo", "127.0.0.1:8888", "Serving on {addr}")
}
