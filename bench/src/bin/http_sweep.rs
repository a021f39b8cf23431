//! GETs `/` once from each of `--count` HTTP servers on consecutive ports, at most
//! `--concurrency` at a time, and counts the `200`s: the density benchmark's check that all
//! N instances of `http_hello` answer (`bench/density.sh` runs them with
//! `HTTP_HELLO_BASE_PORT`, one port per instance; a shared `reuse_port` listener could not
//! address each one).
//!
//! ```text
//! http_sweep --base-port 20000 --count 1000 [--ip 127.0.0.1] [--concurrency 256] [--timeout 10]
//! ```
//! Prints one `key=value` line: `answered`, `failed`, `elapsed_ms`, and the first few
//! failures as `first_failures=PORT:REASON,...`. Exits 0 whatever the count: the caller
//! compares `answered` with what it expected.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

#[derive(Parser)]
#[command(name = "http_sweep")]
struct Args {
    /// The servers' IP address.
    #[arg(long, default_value = "127.0.0.1")]
    ip: IpAddr,
    /// The first server's port; server i listens on BASE + i.
    #[arg(long)]
    base_port: u16,
    /// How many servers.
    #[arg(long)]
    count: u16,
    /// Requests in flight at once (each holds one client socket).
    #[arg(long, default_value_t = 256)]
    concurrency: usize,
    /// Seconds one request may take, connect to end of response.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
}

/// Failures named in the output; the rest are only counted.
const FAILURES_SHOWN: usize = 5;

/// The request: the connection closes after the answer, so the answer ends at EOF.
const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: sweep\r\nConnection: close\r\n\r\n";

/// Bytes read at most per answer (`Hello, World!` and its headers are far less).
const MAX_ANSWER: u64 = 64 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("http_sweep: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if u32::from(args.base_port) + u32::from(args.count) > 65536 {
        bail!(
            "--base-port {} + --count {} runs past port 65535",
            args.base_port,
            args.count
        );
    }
    let timeout = Duration::try_from_secs_f64(args.timeout).context("--timeout")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    runtime.block_on(sweep(&args, timeout))
}

async fn sweep(args: &Args, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut ports = (0..args.count).map(|i| args.base_port + i);
    let mut in_flight = JoinSet::new();
    let mut answered = 0u32;
    let mut failures = Vec::new();
    let mut failed = 0u32;
    loop {
        while in_flight.len() < args.concurrency {
            let Some(port) = ports.next() else { break };
            let addr = SocketAddr::new(args.ip, port);
            in_flight.spawn(async move {
                let outcome = match tokio::time::timeout(timeout, get(addr)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(anyhow::anyhow!("no answer within {timeout:?}")),
                };
                (port, outcome)
            });
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        let (port, outcome) = done.context("a request task panicked")?;
        match outcome {
            Ok(()) => answered += 1,
            Err(err) => {
                failed += 1;
                if failures.len() < FAILURES_SHOWN {
                    failures.push(format!("{port}:{err:#}").replace([' ', ','], "_"));
                }
            }
        }
    }
    println!(
        "answered={answered} failed={failed} elapsed_ms={:.0} first_failures={}",
        start.elapsed().as_secs_f64() * 1e3,
        if failures.is_empty() {
            "none".to_owned()
        } else {
            failures.join(",")
        }
    );
    Ok(())
}

/// One GET to `addr`: Ok when the answer's status is 200.
async fn get(addr: SocketAddr) -> Result<()> {
    let mut stream = TcpStream::connect(addr).await.context("connect")?;
    stream.write_all(REQUEST).await.context("send")?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .await
        .context("read")?;
    let status_line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    if status_line.starts_with(b"HTTP/1.1 200 ") {
        Ok(())
    } else {
        bail!("answer {:?}", String::from_utf8_lossy(status_line))
    }
}
