//! A TCP echo server on tokio's single-threaded runtime (`current_thread`): a peer of the
//! sandloop echo example in the benchmark (bench/run.sh).
//!
//! ```text
//! tokio_echo 127.0.0.1:8888
//! ```
//! Prints `Serving on ADDR` once listening. One task per connection reads up to 64 KiB and
//! writes it all back before reading again (see [`sandloop_bench::tokio_server`]).

use std::io;
use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_BUFFER_SIZE: usize = 64 * 1024;

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    let mut buffer = vec![0; READ_BUFFER_SIZE];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..n]).await?;
    }
}

fn main() -> ExitCode {
    sandloop_bench::tokio_server::main("tokio_echo", "127.0.0.1:8888", "Serving on {addr}", echo)
}
