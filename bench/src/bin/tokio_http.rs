//! An HTTP/1.1 keep-alive "Hello, World!" server on tokio's single-threaded runtime
//! (`current_thread`): a peer of the sandloop example `http_hello` in the benchmark
//! (bench/run.sh), answering with the same bytes after the same parsing
//! ([`sandloop_bench::http_hello`]).
//!
//! ```text
//! tokio_http 127.0.0.1:8080
//! ```
//! Prints `Serving on http://ADDR/` once listening.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use sandloop_bench::http_hello;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const READ_BUFFER_SIZE: usize = 64 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokio_http: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let mut stdout = io::stdout();
    writeln!(stdout, "Serving on http://{}/", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of descriptors or a connection that died in the backlog: go on.
                eprintln!("tokio_http: accept: {err}");
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(err) = serve(stream).await
                && !is_disconnect(&err)
            {
                eprintln!("tokio_http: connection: {err}");
            }
        });
    }
}

async fn serve(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
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

/// Errors that only mean the peer went away, which a server does not report.
fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
