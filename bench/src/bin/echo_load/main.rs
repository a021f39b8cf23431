//! Ping-pong load for a TCP echo server: each connection keeps one message of `--size` bytes
//! in flight and sends the next as soon as the whole echo is back.
//!
//! ```text
//! echo_load --addr 127.0.0.1:8888 --connections 64 --size 1024 --seconds 5 --warmup 1 \
//!     --server-pid 1234 --cpu 1
//! ```
//! Messages completed during the warm-up are not counted. Prints one line of `key=value`
//! pairs on stdout (for scripts; `na` where a value is not available) and a line for people
//! on stderr: messages per second, payload MiB per second (one direction), round-trip
//! latency percentiles, and with `--server-pid` the server's CPU time per message, user and
//! system, from /proc/PID/stat over the measured window (all the server's threads).
//! Every echo is checked against what was sent.

use std::fs;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// Ping-pong load for a TCP echo server.
#[derive(Parser)]
#[command(name = "echo_load")]
struct Args {
    /// The echo server.
    #[arg(long, default_value = "127.0.0.1:8888")]
    addr: SocketAddr,
    /// Connections, each with one message in flight.
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
    /// Pin the client to this core (skipped with a warning if that fails).
    #[arg(long, value_name = "N")]
    cpu: Option<usize>,
}

/// Read size; larger messages arrive in several reads.
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// Latency samples reserved per thread up front, so that the measured loop rarely grows
/// the vector (about a million messages: a few seconds at full speed).
const LATENCY_RESERVE: usize = 1 << 20;

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
        .context("--seconds must be a positive number")?;
    let warmup =
        Duration::try_from_secs_f64(args.warmup).context("--warmup must be 0 or more seconds")?;

    if let Some(cpu) = args.cpu {
        // Before any thread is spawned: the workers inherit the mask.
        if let Err(err) = pin_to_cpu(cpu) {
            eprintln!("echo_load: not pinned to core {cpu}: {err}");
        }
    }

    let mut streams = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        streams.push(connect(args.addr)?);
    }
    let message: Vec<u8> = (0..args.size).map(|i| (i % 251) as u8).collect();

    let warm_end = Instant::now() + warmup;
    let end = warm_end + window;
    let mut shares: Vec<Vec<TcpStream>> = (0..args.threads).map(|_| Vec::new()).collect();
    for (i, stream) in streams.into_iter().enumerate() {
        shares[i % args.threads].push(stream);
    }

    let server = args.server_pid.map(|pid| pid.to_string());
    let (results, cpu) = std::thread::scope(|scope| {
        let workers: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let message = &message;
                scope.spawn(move || run_worker(share, message, warm_end, end))
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
        report.messages += result.messages;
        report.errors += result.errors.len();
        for err in &result.errors {
            eprintln!("echo_load: connection failed: {err}");
        }
        report.latencies_us.extend(result.latencies_us);
    }
    report.latencies_us.sort_unstable();
    report.print(&args, window, &cpu);
    if report.messages == 0 {
        bail!("no message completed in the measured window");
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true).context("set TCP_NODELAY")?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}

fn sleep_until(deadline: Instant) {
    let now = Instant::now();
    if deadline > now {
        std::thread::sleep(deadline - now);
    }
}

/// What one load thread saw.
struct WorkerResult {
    messages: u64,
    latencies_us: Vec<u32>,
    /// One per connection that failed (and was dropped).
    errors: Vec<String>,
}

fn run_worker(
    streams: Vec<TcpStream>,
    message: &[u8],
    warm_end: Instant,
    end: Instant,
) -> Result<WorkerResult> {
    let mut poll = Poll::new().context("create the mio poll")?;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; READ_BUFFER_SIZE.min(message.len())];
    let mut window = Window {
        start: warm_end,
        end,
        messages: 0,
        latencies_us: Vec::with_capacity(LATENCY_RESERVE),
    };
    let mut errors = Vec::new();

    let mut clients = Vec::with_capacity(streams.len());
    let now = Instant::now();
    for (i, mut stream) in streams.into_iter().enumerate() {
        // Both interests once, edge-triggered: no epoll_ctl per message.
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .context("register a connection")?;
        clients.push(Some(Client::new(stream, now)));
    }
    let mut open = clients.len();

    loop {
        let now = Instant::now();
        if now >= end || open == 0 {
            break;
        }
        if let Err(err) = poll.poll(&mut events, Some(end - now)) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("poll");
        }
        for event in &events {
            let slot = &mut clients[event.token().0];
            let Some(client) = slot else { continue };
            if let Err(err) = client.drive(message, &mut buffer, &mut window) {
                errors.push(err.to_string());
                // Dropping the stream closes it, which also removes it from epoll.
                *slot = None;
                open -= 1;
            }
        }
    }
    Ok(WorkerResult {
        messages: window.messages,
        latencies_us: window.latencies_us,
        errors,
    })
}

/// The measured window and what completed inside it.
struct Window {
    start: Instant,
    end: Instant,
    messages: u64,
    latencies_us: Vec<u32>,
}

impl Window {
    fn complete(&mut self, sent_at: Instant, now: Instant) {
        if now >= self.start && now < self.end {
            self.messages += 1;
            let micros = (now - sent_at).as_micros();
            self.latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

/// One connection with its message in flight.
struct Client {
    stream: TcpStream,
    written: usize,
    received: usize,
    sent_at: Instant,
}

impl Client {
    fn new(stream: TcpStream, now: Instant) -> Client {
        Client {
            stream,
            written: 0,
            received: 0,
            sent_at: now,
        }
    }

    /// Writes what the kernel takes of the message, reads the echo, and starts the next
    /// message each time an echo is complete, until the socket would block.
    fn drive(&mut self, message: &[u8], buffer: &mut [u8], window: &mut Window) -> io::Result<()> {
        loop {
            while self.written < message.len() {
                match self.stream.write(&message[self.written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => self.written += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
            let n = match self.stream.read(buffer) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
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
                let now = Instant::now();
                window.complete(self.sent_at, now);
                self.written = 0;
                self.received = 0;
                self.sent_at = now;
            }
        }
    }
}

#[derive(Default)]
struct Report {
    messages: u64,
    errors: usize,
    /// Sorted.
    latencies_us: Vec<u32>,
}

impl Report {
    /// Nearest-rank percentile of the round-trip latencies, in microseconds.
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
        let msgs_per_s = self.messages as f64 / seconds;
        let mib_per_s = msgs_per_s * args.size as f64 / (1024.0 * 1024.0);
        let [p50, p99, p999, max] = [50.0, 99.0, 99.9, 100.0].map(|p| self.percentile(p));
        let per_msg = |ticks: Option<u64>| -> Option<f64> {
            let ticks = ticks?;
            (self.messages > 0)
                .then(|| ticks as f64 * 1e6 / clock_ticks_per_second() / self.messages as f64)
        };
        let server_user = per_msg(cpu.server.map(|times| times.user_ticks));
        let server_sys = per_msg(cpu.server.map(|times| times.system_ticks));
        let client_user = per_msg(cpu.client.map(|times| times.user_ticks));
        let client_sys = per_msg(cpu.client.map(|times| times.system_ticks));

        let us = |v: Option<u32>| v.map_or("na".to_string(), |v| v.to_string());
        let cpu_us = |v: Option<f64>| v.map_or("na".to_string(), |v| format!("{v:.3}"));
        println!(
            "addr={} connections={} size={} threads={} seconds={seconds:.3} msgs={} \
             msgs_per_s={msgs_per_s:.0} mib_per_s={mib_per_s:.2} p50_us={} p99_us={} \
             p999_us={} max_us={} errors={} server_user_us_per_msg={} \
             server_sys_us_per_msg={} client_user_us_per_msg={} client_sys_us_per_msg={}",
            args.addr,
            args.connections,
            args.size,
            args.threads,
            self.messages,
            us(p50),
            us(p99),
            us(p999),
            us(max),
            self.errors,
            cpu_us(server_user),
            cpu_us(server_sys),
            cpu_us(client_user),
            cpu_us(client_sys),
        );
        let mut human = format!(
            "echo_load: {} with {} connections x {} B for {seconds:.1} s: {msgs_per_s:.0} msgs/s, \
             {mib_per_s:.1} MiB/s; round trip p50 {} us, p99 {} us, p99.9 {} us",
            args.addr,
            args.connections,
            args.size,
            us(p50),
            us(p99),
            us(p999),
        );
        if let (Some(user), Some(sys)) = (server_user, server_sys) {
            human.push_str(&format!(
                "; server CPU per message {user:.2} us user + {sys:.2} us sys"
            ));
        }
        if let (Some(user), Some(sys)) = (client_user, client_sys) {
            human.push_str(&format!(
                "; client CPU per message {user:.2} us user + {sys:.2} us sys"
            ));
        }
        if self.errors > 0 {
            human.push_str(&format!("; {} connections failed", self.errors));
        }
        eprintln!("{human}");
    }
}

/// CPU times of the server (when given) and of this process at one instant.
struct CpuSample {
    server: Option<CpuTimes>,
    client: Option<CpuTimes>,
}

impl CpuSample {
    fn take(server_pid: Option<&str>) -> CpuSample {
        let read = |pid: &str| match CpuTimes::read(pid) {
            Ok(times) => Some(times),
            Err(err) => {
                eprintln!("echo_load: read /proc/{pid}/stat: {err}");
                None
            }
        };
        CpuSample {
            server: server_pid.and_then(read),
            client: read("self"),
        }
    }
}

/// CPU used over the window, in clock ticks.
struct CpuUse {
    server: Option<CpuTimes>,
    client: Option<CpuTimes>,
}

impl CpuUse {
    fn between(before: &CpuSample, after: &CpuSample) -> CpuUse {
        let diff = |a: Option<CpuTimes>, b: Option<CpuTimes>| {
            let (a, b) = (a?, b?);
            Some(CpuTimes {
                user_ticks: b.user_ticks.saturating_sub(a.user_ticks),
                system_ticks: b.system_ticks.saturating_sub(a.system_ticks),
            })
        };
        CpuUse {
            server: diff(before.server, after.server),
            client: diff(before.client, after.client),
        }
    }
}

/// A process's user and system CPU time (utime and stime of /proc/PID/stat).
#[derive(Clone, Copy)]
struct CpuTimes {
    user_ticks: u64,
    system_ticks: u64,
}

impl CpuTimes {
    fn read(pid: &str) -> io::Result<CpuTimes> {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let malformed = || io::Error::new(io::ErrorKind::InvalidData, "unexpected format");
        // The command name (field 2) is in parentheses and may itself hold spaces and
        // parentheses; the fields after the last ')' start at field 3, `state`.
        let (_, rest) = stat.rsplit_once(')').ok_or_else(malformed)?;
        let mut fields = rest.split_whitespace().skip(11); // fields 3..=13
        let mut next = || -> io::Result<u64> {
            fields
                .next()
                .and_then(|field| field.parse().ok())
                .ok_or_else(malformed)
        };
        Ok(CpuTimes {
            user_ticks: next()?,   // field 14, utime
            system_ticks: next()?, // field 15, stime
        })
    }
}

/// The unit of /proc/PID/stat's times (USER_HZ, 100 on Linux).
fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

#[cfg(target_os = "linux")]
fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "core number out of range",
        ));
    }
    // SAFETY: `set` is a plain bit set, zeroed is its empty value, and CPU_SET stays in its
    // bounds (checked above); sched_setaffinity reads it for the calling thread.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cpu(_cpu: usize) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "CPU affinity is only set on Linux",
    ))
}
