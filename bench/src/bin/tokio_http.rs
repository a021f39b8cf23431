//! An HTTP/1.1 keep-alive "Hello, World!" server on tokio's single-threaded runtime
//! (`current_thread`): a peer of the sandloop example `http_hello` in the benchmark
//! (bench/run.sh), answering with the same bytes after the same parsing
//! ([`sandloop_bench::http_hello`]).
//!
//! ```text
//! tokio_http 127.0.0.1:8080
//! ```
//! Prints `Serving on http://ADDR/` once listening.

use std::io;
use std::process::ExitCode;

use sandloop_bench::http_hello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_BUFFER_SIZE: usize = 64 * 1024;

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    let mut buffer = vec![0; READ_BUFFER_SIZE];
    let mut input = Vec::new();
    let mut output = Vec::new();
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buffer[..n]);
        let close = http_hello::respond(&mut input, &mut output);
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if close {
            return stream.shutdown().await;
        }
    }
}

fn main() -> ExitCode {
    sandloop_bench::tokio_server::main(
        "tokio_http",
        "127.0.0.1:8080",
        "Serving on http://{addr}/",
        serve,
    )
}
