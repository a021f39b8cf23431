//! The skeleton the native tokio peers share (`tokio_echo`, `tokio_http`): a
//! `current_thread` runtime that listens, accepts, and runs one task per connection with
//! TCP_NODELAY, like every peer. What a connection does is the peer's async function.

use std::future::Future;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use tokio::net::{TcpListener, TcpStream};

use crate::mio_server::is_disconnect;

/// Runs the server named `name` (for error messages) on the address of the first argument
/// (default `default_addr`); prints `banner` with `{addr}` replaced once listening; serves
/// each connection with `serve`.
pub fn main<F, Fut>(name: &'static str, default_addr: &str, banner: &str, serve: F) -> ExitCode
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let outcome = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("start the tokio runtime")
        .and_then(|rt| rt.block_on(run(name, default_addr, banner, serve)));
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run<F, Fut>(name: &'static str, default_addr: &str, banner: &str, serve: F) -> Result<()>
where
    F: Fn(TcpStream) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default_addr.into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listen on {addr}"))?;
    let mut stdout = io::stdout();
    let local = listener.local_addr()?.to_string();
    writeln!(stdout, "{}", banner.replace("{addr}", &local))?;
    stdout.flush()?;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(err) => {
                // Out of descriptors or a connection that died in the backlog: go on.
                eprintln!("{name}: accept: {err}");
                continue;
            }
        };
        tokio::spawn(async move {
            let served = match stream.set_nodelay(true) {
                Ok(()) => serve(stream).await,
                Err(err) => Err(err),
            };
            if let Err(err) = served
                && !is_disconnect(&err)
            {
                eprintln!("{name}: connection: {err}");
            }
        });
    }
}
