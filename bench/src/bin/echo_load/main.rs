//! Load for a TCP echo server, in one of two modes.
//!
//! - `--mode pingpong` (the default): each of `--connections` connections keeps one message
//!   of `--size` bytes in flight and sends the next as soon as the whole echo is back.
//! - `--mode connect`: each of `--connections` slots opens a connection, sends one message
//!   of `--size` bytes, reads the echo, closes (with a reset unless `--close fin`: see
//!   connect.rs), and starts over: the connection rate.
//!
//! ```text
//! echo_load --addr 127.0.0.1:8888 --connections 64 --size 1024 --seconds 5 --warmup 1 \
//!     --server-pid 1234 --cpu 1
//! echo_load --mode connect --addr 127.0.0.1:8888 --connections 16 --size 64
//! ```
//! What completes during the warm-up is not counted. Prints one line of `key=value` pairs on
//! stdout (for scripts; `na` where a value is not available) and a line for people on
//! stderr: messages (or connections) per second, payload MiB per second (one direction),
//! latency percentiles (a round trip; in connect mode the whole cycle from the connect call
//! to the echo), the share of a core this process used, and with `--server-pid` the
//! server's CPU time per message (or connection), user and system, and its share of a core,
//! from /proc/PID/stat over the measured window (all of the process's threads). Every echo
//! is checked against what was sent.

mod connect;
mod cpu;
mod pingpong;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use clap::{Parser, ValueEnum};

use crate::cpu::{CpuSample, CpuTimes, CpuUse};

/// Load for a TCP echo server: ping-pong over N connections, or a connection rate.
#[derive(Parser)]
#[command(name = "echo_load")]
struct Args {
    /// The echo server.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// What to measure.
    #[arg(long, value_enum, default_value_t = Mode::Pingpong)]
    mode: Mode,
    /// Connections, each with one message in flight (connect mode: connection cycles in
    /// progress at once).
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Bytes per message.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of load before the measured window.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Client threads, each with its own poll and a share of the connections.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The server's process id: report its CPU time per message.
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// Connect mode: how the client closes a connection once the echo is back.
    #[arg(long, value_enum, default_value_t = Close::Reset)]
    close: Close,
    /// Pin the client to this core (skipped with a warning if that fails).
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Messages back and forth over connections kept open.
    Pingpong,
    /// Connect, one message back and forth, close; again.
    Connect,
}

impl Mode {
    /// What one completion is, as in the output's keys (`msgs_per_s`, `..._us_per_msg`).
    fn unit(self) -> &'static str {
        match self {
            Mode::Pingpong => "msg",
            Mode::Connect => "conn",
        }
    }
}

/// How connect mode closes its connections.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Close {
    /// A reset (SO_LINGER 0): no TIME_WAIT on the client's side.
    Reset,
    /// A FIN, as a client normally closes.
    Fin,
}

/// Read size; larger messages arrive in several reads.
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// Latency samples reserved per thread up front, so that the measured loop rarely grows
/// the vector (about a million messages: a few seconds at full speed).
const LATENCY_RESERVE: usize = 1 << 20;

/// How long after the measured window the connections may take to finish the message in
/// flight before they close.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// Messages of failed connections kept for the report; the rest are only counted.
const FAILURES_KEPT: usize = 5;

fn main() -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("echo_load: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    ensure!(args.connections > 0, "--connections must be at least 1");
    ensure!(args.size > 0, "--size must be at least 1");
    ensure!(
        args.threads > 0 && args.threads <= args.connections,
        "--threads must be between 1 and --connections"
    );
    let window = Duration::try_from_secs_f64(args.seconds)
        .ok()
        .filter(|window| !window.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--seconds must be a positive number"))?;
    let warmup = Duration::try_from_secs_f64(args.warmup)
        .map_err(|_| anyhow::anyhow!("--warmup must be 0 or more seconds"))?;

    if let Some(cpu) = args.cpu {
        // Before any thread is spawned: the workers inherit the mask.
        if let Err(err) = cpu::pin_to_cpu(cpu) {
            eprintln!("echo_load: not pinned to core {cpu}: {err}");
        }
    }

    // Ping-pong connects before the clock starts; connect mode connects as its work.
    let mut shares: Vec<Vec<mio::net::TcpStream>> = (0..args.threads).map(|_| Vec::new()).collect();
    if args.mode == Mode::Pingpong {
        for i in 0..args.connections {
            shares[i % args.threads].push(pingpong::connect(args.addr)?);
        }
    }
    let message: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();

    let warm_end = Instant::now() + warmup;
    let end = warm_end + window;
    let server = args.server_pid.map(|pid| pid.to_string());
    let (results, cpu) = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .enumerate()
            .map(|(i, share)| {
                let message = &message;
                let (addr, mode, close) = (args.addr, args.mode, args.close);
                // Connect mode: the slots split as the connections would.
                let slots = args.connections / args.threads
                    + usize::from(i < args.connections % args.threads);
                scope.spawn(move || match mode {
                    Mode::Pingpong => pingpong::run_worker(share, message, warm_end, end),
                    Mode::Connect => {
                        connect::run_worker(addr, close, slots, message, warm_end, end)
                    }
                })
            })
            .collect();
        // The workers count completions inside [warm_end, end); this thread samples the
        // CPU times at the same two instants.
        sleep_until(warm_end);
        let before = CpuSample::take(server.as_deref());
        sleep_until(end);
        let after = CpuSample::take(server.as_deref());
        let results: Vec<_> = workers
            .into_iter()
            .map(|worker| worker.join().expect("a load thread panicked"))
            .collect();
        (results, CpuUse::between(&before, &after))
    });

    let mut report = Report::default();
    for result in results {
        let result = result?;
        report.completed += result.window.completed;
        report.latencies_us.extend(result.window.latencies_us);
        report.failures.merge(result.failures);
    }
    for failure in &report.failures.kept {
        eprintln!("echo_load: connection failed: {failure}");
    }
    report.latencies_us.sort_unstable();
    report.print(&args, window, &cpu);
    if report.completed == 0 {
        bail!("nothing completed in the measured window");
    }
    Ok(())
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// One message's round trip on a non-blocking connection: how much of it was written and
/// how much of its echo came back, checked byte for byte. Both modes drive their
/// connections with it.
#[derive(Default)]
struct RoundTrip {
    written: usize,
    received: usize,
}

impl RoundTrip {
    /// Writes what the kernel takes of `message`, then reads its echo: `Ok(true)` once the
    /// whole echo is back, `Ok(false)` when the socket would block. `eof` says what an early
    /// end of stream means.
    fn advance(
        &mut self,
        stream: &mut mio::net::TcpStream,
        message: &[u8],
        buffer: &mut [u8],
        eof: &'static str,
    ) -> std::io::Result<bool> {
        use std::io::{self, Read, Write};
        loop {
            while self.written < message.len() {
                match stream.write(&message[self.written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.written += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            let n = match stream.read(buffer) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, eof)),
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let expected = message.get(self.received..self.received + n);
            if self.received + n > self.written || expected != Some(&buffer[..n]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the echo differs from the message at bytes {}..{}",
                        self.received,
                        self.received + n
                    ),
                ));
            }
            self.received += n;
            if self.received == message.len() {
                return Ok(true);
            }
        }
    }
}

/// Where a connection stands after the work a readiness event allowed.
enum Progress {
    /// Waiting for the socket.
    Pending,
    /// Its last message is back (ping-pong after the window; connect mode every cycle).
    Finished,
}

/// What one load thread saw.
struct WorkerResult {
    window: Window,
    failures: Failures,
}

/// The measured window and what completed inside it.
struct Window {
    start: Instant,
    end: Instant,
    completed: u64,
    latencies_us: Vec<u32>,
}

impl Window {
    fn new(start: Instant, end: Instant) -> Window {
        Window {
            start,
            end,
            completed: 0,
            latencies_us: Vec::with_capacity(LATENCY_RESERVE),
        }
    }

    /// Counts a message or connection begun at `started` and completed at `now`, if `now` is
    /// inside the window.
    fn complete(&mut self, started: Instant, now: Instant) {
        if now >= self.start && now < self.end {
            self.completed += 1;
            let micros = (now - started).as_micros();
            self.latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

/// Connections that failed: how many, and the first few messages.
#[derive(Default)]
struct Failures {
    count: u64,
    kept: Vec<String>,
}

impl Failures {
    fn record(&mut self, err: &dyn std::fmt::Display) {
        self.count += 1;
        if self.kept.len() < FAILURES_KEPT {
            self.kept.push(err.to_string());
        }
    }

    fn merge(&mut self, other: Failures) {
        self.count += other.count;
        let room = FAILURES_KEPT.saturating_sub(self.kept.len());
        self.kept.extend(other.kept.into_iter().take(room));
    }
}

#[derive(Default)]
struct Report {
    completed: u64,
    failures: Failures,
    /// Sorted.
    latencies_us: Vec<u32>,
}

impl Report {
    /// Nearest-rank percentile of the latencies, in microseconds.
    fn percentile(&self, p: f64) -> Option<u32> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((p / 100.0) * n as f64).ceil() as usize;
        Some(self.latencies_us[rank.clamp(1, n) - 1])
    }

    fn print(&self, args: &Args, window: Duration, cpu: &CpuUse) {
        let seconds = window.as_secs_f64();
        let unit = args.mode.unit();
        let rate = self.completed as f64 / seconds;
        let mib_per_s = rate * args.size as f64 / (1024.0 * 1024.0);
        let [p50, p99, p999, max] = [50.0, 99.0, 99.9, 100.0].map(|p| self.percentile(p));
        // Microseconds of CPU per completion, and percent of one core over the window.
        let per_op = |secs: f64| (self.completed > 0).then(|| secs * 1e6 / self.completed as f64);
        let busy =
            |times: &CpuTimes| (times.user_seconds() + times.system_seconds()) * 100.0 / seconds;
        let server_user = cpu.server.and_then(|t| per_op(t.user_seconds()));
        let server_sys = cpu.server.and_then(|t| per_op(t.system_seconds()));
        let client_user = cpu.client.and_then(|t| per_op(t.user_seconds()));
        let client_sys = cpu.client.and_then(|t| per_op(t.system_seconds()));
        let server_busy = cpu.server.as_ref().map(busy);
        let client_busy = cpu.client.as_ref().map(busy);

        let us = |v: Option<u32>| v.map_or("na".to_string(), |v| v.to_string());
        let cpu_us = |v: Option<f64>| v.map_or("na".to_string(), |v| format!("{v:.3}"));
        let pct = |v: Option<f64>| v.map_or("na".to_string(), |v| format!("{v:.0}"));
        let mode = args
            .mode
            .to_possible_value()
            .map(|v| v.get_name().to_string());
        println!(
            "mode={} addr={} connections={} size={} threads={} seconds={seconds:.3} \
             {unit}s={} {unit}s_per_s={rate:.0} mib_per_s={mib_per_s:.2} p50_us={} p99_us={} \
             p999_us={} max_us={} errors={} server_user_us_per_{unit}={} \
             server_sys_us_per_{unit}={} client_user_us_per_{unit}={} \
             client_sys_us_per_{unit}={} server_cpu_pct={} client_cpu_pct={}",
            mode.unwrap_or_default(),
            args.addr,
            args.connections,
            args.size,
            args.threads,
            self.completed,
            us(p50),
            us(p99),
            us(p999),
            us(max),
            self.failures.count,
            cpu_us(server_user),
            cpu_us(server_sys),
            cpu_us(client_user),
            cpu_us(client_sys),
            pct(server_busy),
            pct(client_busy),
        );
        let mut human = match args.mode {
            Mode::Pingpong => format!(
                "echo_load: {} with {} connections x {} B for {seconds:.1} s: {rate:.0} msgs/s, \
                 {mib_per_s:.1} MiB/s; round trip",
                args.addr, args.connections, args.size,
            ),
            Mode::Connect => format!(
                "echo_load: {} with {} connections at a time, {} B each, for {seconds:.1} s: \
                 {rate:.0} connections/s; connect to echo",
                args.addr, args.connections, args.size,
            ),
        };
        human.push_str(&format!(
            " p50 {} us, p99 {} us, p99.9 {} us",
            us(p50),
            us(p99),
            us(p999)
        ));
        if let (Some(user), Some(sys), Some(busy)) = (server_user, server_sys, server_busy) {
            human.push_str(&format!(
                "; server CPU per {unit} {user:.2} us user + {sys:.2} us sys ({busy:.0}% of a core)"
            ));
        }
        if let (Some(user), Some(sys), Some(busy)) = (client_user, client_sys, client_busy) {
            human.push_str(&format!(
                "; client CPU per {unit} {user:.2} us user + {sys:.2} us sys ({busy:.0}% of a core)"
            ));
        }
        if self.failures.count > 0 {
            human.push_str(&format!("; {} connections failed", self.failures.count));
        }
        eprintln!("{human}");
    }
}
