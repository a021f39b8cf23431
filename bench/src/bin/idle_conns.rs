//! Scale of an echo server with idle connections: one active connection's round trips while
//! more and more connections sit idle, and the server's memory per idle connection.
//!
//! ```text
//! idle_conns --addr 127.0.0.1:8888 --server-pid 1234 --idle 0,1000,10000 --pings 20000
//! ```
//! For each idle count (cumulative: connections are added, never closed, until the end) the
//! client opens the idle connections, each of which echoes one byte once (so the server has
//! accepted it and set up whatever a connection costs it) and then stays silent; then the
//! active connection sends `--pings` messages of `--size` bytes one at a time, each after the
//! previous echo is back. Prints one `key=value` line per step on stdout:
//!
//! - `idle`: idle connections open;
//! - `p50_us`, `p99_us`: the active connection's round-trip latency percentiles;
//! - `server_cpu_us_per_msg`: the server's CPU time (all threads, user and system, from
//!   /proc/PID/task/*/schedstat) per round trip: with one message in flight, that is the
//!   cost of one loop iteration that serves one event, kernel work included;
//! - `rss_kib`: the server's VmRSS after the idle connections were opened;
//! - `kib_per_idle`: (rss - rss at the first step) / (idle - idle at the first step).
//!
//! Every echo is checked against what was sent.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;

/// One active connection's latency among idle ones, and the server's memory per idle one.
#[derive(Parser)]
#[command(name = "idle_conns")]
struct Args {
    /// The echo server.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// The server's process id, for its CPU time and memory.
    #[arg(long, value_name = "PID")]
    server_pid: u32,
    /// Idle connection counts to measure at, ascending, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1000,10000")]
    idle: Vec<usize>,
    /// Round trips of the active connection measured at each step.
    #[arg(long, default_value_t = 20_000)]
    pings: usize,
    /// Round trips before each measured step (not counted).
    #[arg(long, default_value_t = 2_000)]
    warmup: usize,
    /// Bytes per message of the active connection.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Idle connections opened at once before their one-byte echoes are awaited (keep it
    /// under the server's listen backlog: a full accept queue drops connection attempts,
    /// which the kernel retries a second later).
    #[arg(long, default_value_t = 64)]
    batch: usize,
}

/// How long any one read or write may block before the run fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("idle_conns: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    ensure!(args.pings > 0, "--pings must be at least 1");
    ensure!(args.size > 0, "--size must be at least 1");
    ensure!(args.batch > 0, "--batch must be at least 1");
    ensure!(
        args.idle.windows(2).all(|w| w[0] <= w[1]),
        "--idle counts must ascend"
    );
    let pid = args.server_pid;

    let mut active = connect(args.addr)?;
    let message: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();
    let mut echo = vec![0; args.size];
    let mut idle: Vec<TcpStream> = Vec::new();
    let mut first: Option<(usize, u64)> = None;
    for &target in &args.idle {
        open_idle(&mut idle, target, args.addr, args.batch)?;
        for _ in 0..args.warmup {
            ping(&mut active, &message, &mut echo)?;
        }
        let rss = rss_kib(pid)?;
        let cpu_before = cpu_ns(pid)?;
        let mut samples = Vec::with_capacity(args.pings);
        for _ in 0..args.pings {
            let sent = Instant::now();
            ping(&mut active, &message, &mut echo)?;
            samples.push(sent.elapsed());
        }
        let cpu = cpu_ns(pid)?.saturating_sub(cpu_before);
        samples.sort_unstable();
        let per_idle = match first {
            None => {
                first = Some((idle.len(), rss));
                "na".to_owned()
            }
            Some((n0, rss0)) if idle.len() > n0 => format!(
                "{:.2}",
                (rss as f64 - rss0 as f64) / (idle.len() - n0) as f64
            ),
            Some(_) => "na".to_owned(),
        };
        println!(
            "idle={} p50_us={:.1} p99_us={:.1} server_cpu_us_per_msg={:.2} rss_kib={rss} kib_per_idle={per_idle}",
            idle.len(),
            percentile_us(&samples, 0.50),
            percentile_us(&samples, 0.99),
            cpu as f64 / 1e3 / args.pings as f64,
        );
    }
    // The idle connections close here, all at once, with the process.
    Ok(())
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// One round trip of `message` on `stream`, checked.
fn ping(stream: &mut TcpStream, message: &[u8], echo: &mut [u8]) -> Result<()> {
    stream
        .write_all(message)
        .context("send on the active connection")?;
    stream
        .read_exact(echo)
        .context("receive the echo on the active connection")?;
    ensure!(echo == message, "the echo differs from what was sent");
    Ok(())
}

/// Opens idle connections until there are `target`, `batch` at a time; each echoes one
/// byte before the next batch starts.
fn open_idle(
    idle: &mut Vec<TcpStream>,
    target: usize,
    addr: SocketAddr,
    batch: usize,
) -> Result<()> {
    while idle.len() < target {
        let start = idle.len();
        let n = batch.min(target - start);
        for _ in 0..n {
            idle.push(connect(addr).with_context(|| {
                format!(
                    "open idle connection {} (is `ulimit -n` high enough?)",
                    idle.len() + 1
                )
            })?);
        }
        for stream in &mut idle[start..] {
            stream.write_all(b"i")?;
        }
        for stream in &mut idle[start..] {
            let mut byte = [0];
            stream
                .read_exact(&mut byte)
                .context("receive the one-byte echo of an idle connection")?;
            if byte != *b"i" {
                bail!("an idle connection's echo differs from what was sent");
            }
        }
    }
    Ok(())
}

fn percentile_us(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e6
}

/// The process's resident set, from /proc/PID/status.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status (has the server exited?)"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time of all the process's threads, in nanoseconds (the first field of each thread's
/// schedstat: time spent running, user and system together).
fn cpu_ns(pid: u32) -> Result<u64> {
    let mut total = 0;
    let tasks = fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("list /proc/{pid}/task (has the server exited?)"))?;
    for task in tasks {
        let path = task?.path().join("schedstat");
        match fs::read_to_string(&path) {
            Ok(text) => {
                total += text
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .with_context(|| format!("unexpected {}", path.display()))?;
            }
            // A thread that ended between listing and reading.
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err).with_context(|| format!("read {}", path.display())),
        }
    }
    Ok(total)
}
