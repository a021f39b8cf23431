//! A TCP echo server on tokio's single-threaded runtime (`current_thread`): a peer of the
//! sandloop echo example in the benchmark (bench/run.sh).
//!
//! ```text
//! tokio_echo 127.0.0.1:8888
//! ```
//! Prints `Serving on ADDR` once listening. One task per connection reads up to 64 KiB and
//! writes it all back before reading again, with TCP_NODELAY like every peer.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const READ_BUFFER_SIZE: usize = 64 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokio_echo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let mut stdout = io::stdout();
    writeln!(stdout, "Serving on {}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of descriptors or a connection that died in the backlog: go on.
                eprintln!("tokio_echo: accept: {err}");
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(err) = echo(stream).await
                && !is_disconnect(&err)
            {
                eprintln!("tokio_echo: connection: {err}");
            }
        });
    }
}

async fn echo(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buffer = vec![0; READ_BUFFER_SIZE];
    loop {
        let n = stream.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buffer[..n]).await?;
    }
}

/// Errors that only mean the peer went away, which an echo server does not report.
fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
