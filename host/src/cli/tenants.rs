//! `sandloop host TENANTS.toml`: different workloads side by side in one process, each
//! tenant with its own instances, arguments, environment, policy and limits, all on host
//! threads they share (`RuntimeOptions::shared_threads`).
//!
//! The host loads every tenant's component before starting any, starts each tenant's
//! instances as `run --instances` starts copies (SANDLOOP_INSTANCE / SANDLOOP_INSTANCES),
//! then watches them: an instance that ends is reported if it failed (a trap with its
//! tenant's name, and counted), and the others keep running. `--stats` prints each
//! tenant's counters (the sum of its instances' [`Stats`]) every interval and once at
//! the end. The host exits once every instance has ended.

mod config;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use sandloop_host::{
    ExitStatus, RunOptions, RunningWorkload, Runtime, RuntimeOptions, Stats, Workload,
};

use super::shutdown::Shutdown;
use super::{HOST_ERROR_EXIT_CODE, exit_code, inherit_env, instances, load};
use config::{Tenant, TenantsFile};

/// How often the host looks for instances that ended. std's threads offer no "wait for
/// any of these"; a thread per instance to join it would cost what the shared threads
/// save, so the host polls, which costs a relaxed load per instance per look.
const POLL: Duration = Duration::from_millis(20);

#[derive(Args)]
pub(crate) struct HostArgs {
    /// The tenants file (TOML, see docs/tenants.md); relative paths in it are relative
    /// to its directory.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Run every instance on N host threads shared by all of them (`0`: one per core);
    /// overrides the file's `threads`.
    #[arg(long = "threads", value_name = "N")]
    threads: Option<usize>,
    /// Print one line per tenant to stderr every SECONDS (a fraction is fine: `0.5`),
    /// and once more at the end: `stats tenant=NAME instances=RUNNING/N cpu_ms=..
    /// bytes_in=.. bytes_out=.. handles=.. traps=..`.
    #[arg(long = "stats", value_name = "SECONDS", value_parser = parse_interval)]
    stats: Option<Duration>,
    /// Also run precompiled native code (`.cwasm` from `sandloop compile`) for the
    /// tenants whose component is one: trusted like a native binary (see `run`).
    #[arg(long = "allow-precompiled")]
    allow_precompiled: bool,
}

/// Runs the tenants of the file; returns the process exit code.
pub(crate) fn host(args: HostArgs) -> anyhow::Result<i32> {
    let file = TenantsFile::load(&args.file)?;
    let threads = args.threads.or(file.threads).unwrap_or(0);
    // Instances on shared threads need the epoch checks to yield when they spin (and the
    // callback time limits of the tenants that set one).
    let runtime = Runtime::with_options(RuntimeOptions {
        interruptible: true,
        shared_threads: Some(threads),
        ..RuntimeOptions::default()
    })?;
    // Every tenant loads before any starts: a bad component stops the host before
    // anything ran.
    let mut loaded = Vec::with_capacity(file.tenants.len());
    for tenant in file.tenants {
        let workload = load(&runtime, &tenant.component, args.allow_precompiled)
            .with_context(|| format!("tenant {}", tenant.name))?;
        loaded.push((tenant, workload));
    }
    // From here on, SIGTERM, SIGINT and SIGHUP stop every instance before the host ends.
    let shutdown = Shutdown::install()?;
    let mut tenants: Vec<TenantRun> = Vec::with_capacity(loaded.len());
    for (tenant, workload) in loaded {
        match TenantRun::start(tenant, &workload, &shutdown) {
            Ok(run) => tenants.push(run),
            Err(err) => {
                for run in tenants {
                    instances::stop_all(run.instances.into_iter().flatten().collect());
                }
                return Err(err);
            }
        }
    }
    let code = watch(&mut tenants, args.stats);
    shutdown.finish();
    Ok(code)
}

/// Watches the instances until all have ended, printing the stats lines every `every`
/// and once at the end; returns the exit code: 0, or the first failure's.
fn watch(tenants: &mut [TenantRun], every: Option<Duration>) -> i32 {
    let mut first_failure = None;
    let mut next_stats = every.map(|every| Instant::now() + every);
    loop {
        for tenant in tenants.iter_mut() {
            if let Some(code) = tenant.reap() {
                first_failure.get_or_insert(code);
            }
        }
        if tenants.iter().all(|tenant| tenant.running() == 0) {
            break;
        }
        let mut pause = POLL;
        if let (Some(at), Some(every)) = (next_stats, every) {
            let now = Instant::now();
            if now >= at {
                print_stats(tenants);
                // The next line on the interval's grid: a slow look skips lines rather
                // than printing them in a burst.
                let mut next = at + every;
                while next <= now {
                    next += every;
                }
                next_stats = Some(next);
            }
            pause = pause.min(next_stats.map_or(POLL, |at| at.saturating_duration_since(now)));
        }
        std::thread::sleep(pause);
    }
    if every.is_some() {
        print_stats(tenants);
    }
    first_failure.unwrap_or(0)
}

fn print_stats(tenants: &[TenantRun]) {
    for tenant in tenants {
        eprintln!("{}", tenant.stats_line());
    }
}

/// One tenant's instances while they run, and what the ended ones left.
struct TenantRun {
    name: String,
    /// By instance index; `None` once it ended.
    instances: Vec<Option<RunningWorkload>>,
    /// The final counters of the instances that ended.
    ended: Stats,
    traps: u64,
}

impl TenantRun {
    /// Starts the tenant's instances of `workload`.
    fn start(tenant: Tenant, workload: &Workload, shutdown: &Shutdown) -> anyhow::Result<Self> {
        let mut env = tenant.env;
        inherit_env(&mut env, tenant.env_inherit.iter());
        let opts = RunOptions {
            args: tenant.args,
            env,
            capture_output: false,
            inherit_stdin: false,
            policy: tenant.policy,
            // The CLI is no application with functions of its own to give.
            host_functions: Default::default(),
        };
        let running = instances::start_copies(workload, opts, tenant.instances, shutdown)
            .with_context(|| format!("tenant {}", tenant.name))?;
        Ok(TenantRun {
            name: tenant.name,
            instances: running.into_iter().map(Some).collect(),
            ended: Stats::default(),
            traps: 0,
        })
    }

    fn running(&self) -> usize {
        self.instances.iter().flatten().count()
    }

    /// Collects the instances that ended: reports each failure on stderr (a trap with
    /// its message, counted) and returns the exit code of the first.
    fn reap(&mut self) -> Option<i32> {
        let mut first_failure = None;
        for index in 0..self.instances.len() {
            let slot = &mut self.instances[index];
            if !slot.as_ref().is_some_and(RunningWorkload::is_finished) {
                continue;
            }
            let Some(run) = slot.take() else { continue };
            self.ended += run.stats();
            let code = match run.join() {
                Ok(output) => self.report(index, &output.status),
                Err(err) => {
                    eprintln!(
                        "error: tenant {} instance {index} could not run: {err:#}",
                        self.name
                    );
                    Some(HOST_ERROR_EXIT_CODE)
                }
            };
            if let Some(code) = code {
                first_failure.get_or_insert(code);
            }
        }
        first_failure
    }

    /// Reports how instance `index` ended, if it failed; returns the failure's code.
    fn report(&mut self, index: usize, status: &ExitStatus) -> Option<i32> {
        match status {
            _ if status.success() => return None,
            ExitStatus::Trapped(message) => {
                self.traps += 1;
                eprintln!(
                    "error: tenant {} instance {index} trapped: {message}",
                    self.name
                );
            }
            ExitStatus::Exited(code) => {
                eprintln!(
                    "error: tenant {} instance {index} exited with code {code}",
                    self.name
                );
            }
            // Stopped by the host's shutdown, which is not news.
            ExitStatus::Stopped => {}
        }
        Some(exit_code(status))
    }

    /// `stats tenant=NAME instances=RUNNING/N cpu_ms=.. bytes_in=.. bytes_out=..
    /// handles=.. traps=..`: the ended instances' totals plus the running ones' now.
    fn stats_line(&self) -> String {
        let total: Stats = self
            .instances
            .iter()
            .flatten()
            .map(RunningWorkload::stats)
            .sum::<Stats>()
            + self.ended;
        format!(
            "stats tenant={} instances={}/{} cpu_ms={} bytes_in={} bytes_out={} handles={} traps={}",
            self.name,
            self.running(),
            self.instances.len(),
            total.cpu_time.as_millis(),
            total.bytes_in,
            total.bytes_out,
            total.open_handles,
            self.traps,
        )
    }
}

/// Parses `--stats SECONDS`: a positive number of seconds, fractions allowed.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("expected a number of seconds, got {text:?}"))?;
    match Duration::try_from_secs_f64(seconds) {
        Ok(interval) if interval >= Duration::from_millis(1) => Ok(interval),
        _ => Err(format!("expected at least 0.001 seconds, got {text:?}")),
    }
}
