//! Noisy neighbours: how much one tenant's latency suffers from another tenant in the same
//! host process, among many idle ones (issue 24's isolation goal).
//!
//! ```text
//! noisy [--tenants 1000] [--rounds 20000] [--threads 2] [--modes shared,own] [--load-conns 2]
//! ```
//! One process, the embedding API, one runtime per mode: `shared` (`shared_threads:
//! Some(--threads)`) or `own` (`None`: a thread per tenant), both with the pooling
//! allocator sized for the tenants and epoch checks on (`interruptible`). In it run
//! `--tenants` idle `http_hello` tenants (each on a port of its own, every one checked to
//! accept a connection before measuring) and the victim, an `echo_server` tenant. A client
//! thread makes `--rounds` round trips of 64 B to the victim on one connection, one at a
//! time, each echo checked, in three runs:
//!
//! - `alone`: nothing else is busy;
//! - `spin`: one more tenant spins in a callback forever, without a time limit
//!   (tests/programs' `limits spin_in_a_callback`), stopped from outside after the run;
//! - `load`: one more `echo_server` tenant, saturated by `--load-conns` connections, each
//!   with a thread writing 1 KiB messages without pause and one reading the echoes (at
//!   nice `--load-nice`, 19 by default: the client stands in for one on another machine
//!   and should not take the CPU from the host).
//!
//! Prints one `key=value` line per mode and run: `p50_us`, `p99_us`, `p999_us`, `max_us`
//! of the round trips, `p99_ratio` (the run's p99 over `alone`'s) and, for `load`, the
//! neighbour's echo rate `load_mib_per_s` during the run.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::{Parser, ValueEnum};
use sandloop_host::{
    ExitStatus, Policy, PoolingOptions, RunOptions, RunningWorkload, Runtime, RuntimeOptions,
    Workload,
};

#[derive(Parser)]
#[command(name = "noisy")]
struct Args {
    /// Idle `http_hello` tenants beside the victim.
    #[arg(long, default_value_t = 1000)]
    tenants: usize,
    /// The victim's round trips measured per run.
    #[arg(long, default_value_t = 20_000)]
    rounds: usize,
    /// Host threads of the `shared` mode.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The modes to run, in order.
    #[arg(long, value_delimiter = ',', default_value = "shared,own")]
    modes: Vec<Mode>,
    /// Connections of the load client in the `load` run.
    #[arg(long, default_value_t = 2)]
    load_conns: usize,
    /// The nice value of the load client's threads (0: as the rest). On a machine of few
    /// cores the client competes for them with the host; at 19 it yields them, standing in
    /// for a client on another machine, so that what the victim feels is the host's
    /// doing, not the client's.
    #[arg(long, default_value_t = 19)]
    load_nice: i32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// The tenants share `--threads` host threads and one reactor.
    Shared,
    /// Each tenant has a thread and a reactor of its own.
    Own,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Own => "own",
        }
    }
}

/// The victim's message size.
const MESSAGE: usize = 64;
/// The load client's message size.
const LOAD_MESSAGE: usize = 1024;
/// Round trips before each run's measured ones.
const WARMUP_ROUNDS: usize = 1000;
/// How long a tenant may take to accept its first connection.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// One round trip longer than this fails the run: a starved victim must not hang the bench.
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);
/// `spin_in_a_callback` sleeps 300 ms in its loop before it spins; the run starts after.
const SPIN_START: Duration = Duration::from_millis(500);
/// Time the load client runs before the victim is measured.
const LOAD_RAMP: Duration = Duration::from_millis(300);
/// Pool slots beyond the tenants: the victim and the neighbours.
const EXTRA_SLOTS: u32 = 8;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("noisy: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    ensure!(args.rounds > 0, "--rounds must be at least 1");
    ensure!(args.load_conns > 0, "--load-conns must be at least 1");
    for &mode in &args.modes {
        run_mode(&args, mode).with_context(|| format!("mode {}", mode.name()))?;
    }
    Ok(())
}

/// The three runs of one mode, in one runtime with the idle tenants and the victim.
fn run_mode(args: &Args, mode: Mode) -> Result<()> {
    let slots = u32::try_from(args.tenants)
        .context("--tenants")?
        .saturating_add(EXTRA_SLOTS);
    let runtime = Runtime::with_options(RuntimeOptions {
        pooling: Some(PoolingOptions {
            max_instances: slots,
            ..PoolingOptions::default()
        }),
        interruptible: true,
        shared_threads: match mode {
            Mode::Shared => Some(args.threads),
            Mode::Own => None,
        },
        ..RuntimeOptions::default()
    })?;
    let load = |name: &str| -> Result<Workload> {
        let path: &Path = test_programs_artifacts::program(name);
        Ok(runtime.load(path)?)
    };
    let http_hello = load("http_hello")?;
    let echo_server = load("echo_server")?;
    let limits = load("limits")?;

    let mut tenants = Tenants::default();
    let idle_ports = free_ports(args.tenants)?;
    let idle: Vec<usize> = idle_ports
        .iter()
        .map(|&port| tenants.start_server(&http_hello, port))
        .collect::<Result<_>>()?;
    for (&index, &port) in idle.iter().zip(&idle_ports) {
        tenants.wait_until_accepting(index, port)?;
    }
    let victim_port = free_ports(1)?[0];
    let victim = tenants.start_server(&echo_server, victim_port)?;
    tenants.wait_until_accepting(victim, victim_port)?;
    let mut victim = Victim::connect(victim_port)?;

    let alone = victim.measure(args.rounds)?;
    report(mode, "alone", &alone, alone.p99(), None);

    let spinner = limits
        .start(RunOptions {
            args: vec!["spin_in_a_callback".into()],
            capture_output: true,
            ..RunOptions::default()
        })
        .context("start the spinning tenant")?;
    std::thread::sleep(SPIN_START);
    ensure!(!spinner.is_finished(), "the spinning tenant ended early");
    let spin = victim.measure(args.rounds);
    stop(spinner, "the spinning tenant")?;
    report(mode, "spin", &spin?, alone.p99(), None);

    let neighbour_port = free_ports(1)?[0];
    let neighbour = tenants.start_server(&echo_server, neighbour_port)?;
    tenants.wait_until_accepting(neighbour, neighbour_port)?;
    let blaster = LoadClient::start(neighbour_port, args.load_conns, args.load_nice)?;
    std::thread::sleep(LOAD_RAMP);
    let echoed_before = blaster.echoed();
    let started = Instant::now();
    let loaded = victim.measure(args.rounds);
    let rate = (blaster.echoed() - echoed_before) as f64 / started.elapsed().as_secs_f64();
    blaster.stop()?;
    ensure!(
        !tenants.is_finished(neighbour),
        "the loaded echo tenant ended during the run"
    );
    report(
        mode,
        "load",
        &loaded?,
        alone.p99(),
        Some(rate / (1 << 20) as f64),
    );

    drop(victim);
    tenants.stop_all()
}

/// Prints one run's line.
fn report(mode: Mode, run: &str, rtts: &RoundTrips, alone_p99: f64, load_mib_per_s: Option<f64>) {
    let load = load_mib_per_s.map_or(String::new(), |r| format!(" load_mib_per_s={r:.1}"));
    println!(
        "mode={} run={run} n={} p50_us={:.1} p99_us={:.1} p999_us={:.1} max_us={:.0} p99_ratio={:.3}{load}",
        mode.name(),
        rtts.0.len(),
        rtts.at(0.5),
        rtts.p99(),
        rtts.at(0.999),
        rtts.at(1.0),
        rtts.p99() / alone_p99,
    );
}

/// The running server tenants (idle ones, the victim, the loaded neighbour), stopped
/// together at the end.
#[derive(Default)]
struct Tenants(Vec<RunningWorkload>);

impl Tenants {
    /// Starts `workload` listening on 127.0.0.1:`port` (its first argument); returns its
    /// index for [`Tenants::is_finished`].
    fn start_server(&mut self, workload: &Workload, port: u16) -> Result<usize> {
        let addr = format!("127.0.0.1:{port}");
        let running = workload
            .start(RunOptions {
                args: vec![addr.clone()],
                // Their `Serving on` lines would fill the bench's output.
                capture_output: true,
                policy: Policy::new().allow_listen(&addr)?,
                ..RunOptions::default()
            })
            .with_context(|| format!("start {} on {addr}", workload.name()))?;
        self.0.push(running);
        Ok(self.0.len() - 1)
    }

    fn is_finished(&self, index: usize) -> bool {
        self.0[index].is_finished()
    }

    /// Connects to tenant `index` on 127.0.0.1:`port` until it accepts a connection (then
    /// closes it); fails with the tenant's ending if it ended instead.
    fn wait_until_accepting(&mut self, index: usize, port: u16) -> Result<()> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let err = match TcpStream::connect(addr) {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            if self.is_finished(index) {
                let out = self.0.swap_remove(index).join()?;
                bail!(
                    "tenant {index} (for {addr}) ended as {:?}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
            if Instant::now() >= deadline {
                bail!("tenant {index} did not accept on {addr} within {READY_TIMEOUT:?}: {err}");
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn stop_all(self) -> Result<()> {
        for tenant in &self.0 {
            tenant.stop();
        }
        for (index, tenant) in self.0.into_iter().enumerate() {
            let status = tenant.join()?.status;
            ensure!(
                status == ExitStatus::Stopped,
                "tenant {index} ended as {status:?} before it was stopped"
            );
        }
        Ok(())
    }
}

/// Stops `tenant` (named `what`) and checks that it was still running.
fn stop(tenant: RunningWorkload, what: &str) -> Result<()> {
    tenant.stop();
    let out = tenant.join().with_context(|| format!("join {what}"))?;
    if out.status != ExitStatus::Stopped {
        bail!(
            "{what} ended as {:?} before it was stopped: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `n` distinct ports free on 127.0.0.1 now (all bound at once, then released).
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("bind 127.0.0.1:0 to find free ports")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// Round-trip times in microseconds, sorted.
struct RoundTrips(Vec<f64>);

impl RoundTrips {
    fn at(&self, p: f64) -> f64 {
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[i]
    }

    fn p99(&self) -> f64 {
        self.at(0.99)
    }
}

/// The measuring client: one connection to the victim.
struct Victim {
    stream: TcpStream,
    sent: [u8; MESSAGE],
    echoed: [u8; MESSAGE],
}

impl Victim {
    fn connect(port: u16) -> Result<Victim> {
        let stream = TcpStream::connect(("127.0.0.1", port)).context("connect to the victim")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(ROUND_TRIP_TIMEOUT))?;
        stream.set_write_timeout(Some(ROUND_TRIP_TIMEOUT))?;
        Ok(Victim {
            stream,
            sent: [0; MESSAGE],
            echoed: [0; MESSAGE],
        })
    }

    /// `rounds` timed round trips after the warm-up ones.
    fn measure(&mut self, rounds: usize) -> Result<RoundTrips> {
        for round in 0..WARMUP_ROUNDS {
            self.round_trip(round)?;
        }
        let mut times = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let start = Instant::now();
            self.round_trip(round)?;
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
        times.sort_unstable_by(f64::total_cmp);
        Ok(RoundTrips(times))
    }

    fn round_trip(&mut self, round: usize) -> Result<()> {
        self.sent.fill(round as u8);
        self.stream
            .write_all(&self.sent)
            .context("send to the victim")?;
        self.stream
            .read_exact(&mut self.echoed)
            .context("read the victim's echo")?;
        ensure!(self.echoed == self.sent, "the victim echoed other bytes");
        Ok(())
    }
}

/// Connections that keep an echo tenant busy: a thread writing 1 KiB messages without
/// pause and one reading the echoes, per connection.
struct LoadClient {
    done: Arc<AtomicBool>,
    echoed: Arc<AtomicU64>,
    streams: Vec<TcpStream>,
    threads: Vec<JoinHandle<Result<()>>>,
}

impl LoadClient {
    fn start(port: u16, conns: usize, nice: i32) -> Result<LoadClient> {
        let done = Arc::new(AtomicBool::new(false));
        let echoed = Arc::new(AtomicU64::new(0));
        let mut streams = Vec::new();
        let mut threads = Vec::new();
        for _ in 0..conns {
            let stream =
                TcpStream::connect(("127.0.0.1", port)).context("connect the load client")?;
            let mut writer = stream.try_clone()?;
            let mut reader = stream.try_clone()?;
            streams.push(stream);
            let writing = done.clone();
            threads.push(std::thread::spawn(move || -> Result<()> {
                set_nice(nice)?;
                let message = [b'x'; LOAD_MESSAGE];
                while !writing.load(Ordering::Relaxed) {
                    if writer.write_all(&message).is_err() {
                        // Shut down by `stop`.
                        break;
                    }
                }
                Ok(())
            }));
            let reading = done.clone();
            let count = echoed.clone();
            threads.push(std::thread::spawn(move || -> Result<()> {
                set_nice(nice)?;
                let mut buf = vec![0; 64 * 1024];
                while !reading.load(Ordering::Relaxed) {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            count.fetch_add(n as u64, Ordering::Relaxed);
                        }
                    }
                }
                Ok(())
            }));
        }
        Ok(LoadClient {
            done,
            echoed,
            streams,
            threads,
        })
    }

    /// Bytes echoed back so far.
    fn echoed(&self) -> u64 {
        self.echoed.load(Ordering::Relaxed)
    }

    fn stop(self) -> Result<()> {
        self.done.store(true, Ordering::Relaxed);
        for stream in &self.streams {
            // Unblocks the threads' writes and reads.
            let _ = stream.shutdown(Shutdown::Both);
        }
        for thread in self.threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        }
        Ok(())
    }
}

/// Sets the calling thread's nice value (Linux: a thread's own, not the process's).
fn set_nice(nice: i32) -> Result<()> {
    if nice == 0 {
        return Ok(());
    }
    // SAFETY: plain system calls on the calling thread, no pointers.
    let done = unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if done != 0 {
        bail!("setpriority {nice}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
