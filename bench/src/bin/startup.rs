//! Start-up of a precompiled workload: from a `.cwasm` to its first callback, with the
//! on-demand instance allocator (the default) and with wasmtime's pooling allocator, and
//! instances started per second.
//!
//! ```text
//! startup [--seconds 1] [--out-dir target/startup-bench] [--only CONFIG]... [--wasm PATH]
//!         [--rss-slots N]
//! ```
//! Six configurations: `ondemand` (the default: memory mapped for each instance),
//! `pooling` (the pooling allocator with `PoolingOptions`' defaults: where Linux has
//! `PAGEMAP_SCAN`, a slot keeps up to 1 MiB resident and only the dirtied pages are reset
//! when its instance ends), `pooling_returned` (wasmtime's default: a slot's memory is
//! returned to the kernel when its instance ends), `pooling_resident` (the pool keeps 2 MiB
//! of each slot resident and resets only the dirtied pages, where Linux tells which), and
//! `shared` (`pooling` with the instances on 2 shared host threads and one reactor,
//! `RuntimeOptions::shared_threads`, which needs the epoch checks: its code is compiled
//! with them, as `sandloop run --threads` does), and `shared_resident` (`pooling_resident`
//! on shared threads). The first four run each instance on a thread of its own
//! (`Workload::run` runs it on the calling thread; on shared threads too, seated at their
//! reactor).
//!
//! The guest is tests/programs/src/bin/bench_startup.rs: it makes a loop, schedules one
//! callback, and returns from `main` once that callback ran. Steps:
//!
//! 1. compile it and write the `.cwasm` (`Runtime::precompile`, what `sandloop compile` does;
//!    twice: as usual, and for `shared` with the epoch checks and no copy-on-write images);
//! 2. `load`: a fresh runtime loads the `.cwasm` (`load_precompiled`: the integrity check of
//!    its SHA-256 trailer, deserialize, link, `InstancePre`), timed;
//! 3. `run`: `Workload::run` of the loaded workload, end to end: a new store with its WASI
//!    context and reactor, instantiation from the cached `InstancePre`, `main` up to and
//!    including the first callback, and the teardown of the store. It bounds "instantiate
//!    to first callback" from above; timed one run at a time for `--seconds`;
//! 4. `per_s`: runs back to back for `--seconds` on 1 thread, then on 2 threads sharing the
//!    workload (what N instances of one workload on N cores do).
//!
//! 5. with `--rss-slots N` (shared configurations only): what a warm pool slot keeps
//!    resident once its instance ended (`PoolingOptions::keep_resident`'s price). N instances
//!    of tests/programs' `limits wait_forever` (a loop waiting in its reactor) alive at
//!    once, then stopped: the process's VmRSS once they all ended minus before they
//!    started, less the same with a pool that keeps nothing resident, over N
//!    (`rss_per_slot_kib`).
//!
//! Prints `key=value` lines on stdout (times in microseconds).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use clap::Parser;
use sandloop_host::{PoolingOptions, RunOptions, Runtime, RuntimeOptions, Workload};

#[derive(Parser)]
#[command(name = "startup")]
struct Args {
    /// Seconds spent on each timed part.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Where the `.cwasm` is written.
    #[arg(long, default_value = "target/startup-bench")]
    out_dir: PathBuf,
    /// Measure only this configuration (repeatable; all five by default): to profile one
    /// with `perf record`.
    #[arg(long, value_name = "CONFIG")]
    only: Vec<String>,
    /// The guest component to run instead of the built bench_startup (e.g. a copy kept
    /// to compare two hosts on the same guest).
    #[arg(long, value_name = "PATH")]
    wasm: Option<PathBuf>,
    /// Instances alive at once for the resident-memory part (0: skip it).
    #[arg(long, default_value_t = 0, value_name = "N")]
    rss_slots: usize,
}

/// Loads timed (each with a fresh runtime, so that none is an in-memory cache hit).
const LOADS: usize = 20;
/// Untimed runs before each timed part, to fault in code and warm the pool's slots.
const WARMUP_RUNS: usize = 50;
/// `PoolingOptions::keep_resident` of the third configuration.
const KEEP_RESIDENT: usize = 2 << 20;
/// The host threads of the `shared` configuration (one per core of the 2-core machine
/// the issue's goals are set on).
const SHARED_THREADS: usize = 2;

/// One way of setting up the runtime that is measured.
struct Config {
    label: &'static str,
    pooling: Option<PoolingOptions>,
    shared_threads: Option<usize>,
}

impl Config {
    fn options(&self) -> RuntimeOptions {
        RuntimeOptions {
            disk_cache: false,
            pooling: self.pooling.clone(),
            // As `sandloop run`: without a callback time limit, only shared threads need
            // the checks (a busy instance yields at them).
            interruptible: self.shared_threads.is_some(),
            shared_threads: self.shared_threads,
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("startup: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let window = Duration::try_from_secs_f64(args.seconds).context("--seconds")?;
    let wasm = args
        .wasm
        .as_deref()
        .unwrap_or_else(|| test_programs_artifacts::program("bench_startup"));
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("create {}", args.out_dir.display()))?;

    let configs = [
        Config {
            label: "ondemand",
            pooling: None,
            shared_threads: None,
        },
        Config {
            label: "pooling",
            pooling: Some(PoolingOptions::default()),
            shared_threads: None,
        },
        Config {
            label: "pooling_returned",
            pooling: Some(PoolingOptions {
                keep_resident: 0,
                ..PoolingOptions::default()
            }),
            shared_threads: None,
        },
        Config {
            label: "pooling_resident",
            pooling: Some(PoolingOptions {
                keep_resident: KEEP_RESIDENT,
                ..PoolingOptions::default()
            }),
            shared_threads: None,
        },
        Config {
            label: "shared",
            pooling: Some(PoolingOptions::default()),
            shared_threads: Some(SHARED_THREADS),
        },
        Config {
            label: "shared_resident",
            pooling: Some(PoolingOptions {
                keep_resident: KEEP_RESIDENT,
                ..PoolingOptions::default()
            }),
            shared_threads: Some(SHARED_THREADS),
        },
    ];
    let known: Vec<_> = configs.iter().map(|config| config.label).collect();
    if let Some(unknown) = args
        .only
        .iter()
        .find(|label| !known.contains(&label.as_str()))
    {
        bail!(
            "--only {unknown}: no such configuration (known: {})",
            known.join(", ")
        );
    }
    let configs = configs
        .iter()
        .filter(|config| args.only.is_empty() || args.only.iter().any(|l| l == config.label));
    // Precompiled code must come from a runtime with the same settings: shared threads
    // compile with epoch checks and memories without copy-on-write images.
    let cwasm_for = |shared: bool| {
        args.out_dir.join(if shared {
            "bench_startup_shared.cwasm"
        } else {
            "bench_startup.cwasm"
        })
    };
    for shared in [false, true] {
        Runtime::with_options(RuntimeOptions {
            disk_cache: false,
            interruptible: shared,
            shared_threads: shared.then_some(1),
            ..RuntimeOptions::default()
        })?
        .precompile(wasm, &cwasm_for(shared))?;
    }

    for config in configs {
        let label = config.label;
        let cwasm = cwasm_for(config.options().shared_threads.is_some());
        let mut loads = Vec::with_capacity(LOADS);
        let mut workload = None;
        for _ in 0..LOADS {
            let runtime = Runtime::with_options(config.options())?;
            let start = Instant::now();
            // SAFETY: written just above by `precompile`.
            let loaded = unsafe { runtime.load_precompiled(&cwasm) }?;
            loads.push(start.elapsed());
            // Keep the last runtime alive with its workload (the workload holds the engine).
            workload = Some(loaded);
        }
        let workload = workload.context("no load")?;
        print_percentiles(&format!("load_{label}"), &mut loads);

        for _ in 0..WARMUP_RUNS {
            run_once(&workload)?;
        }
        let mut runs = Vec::new();
        let end = Instant::now() + window;
        while Instant::now() < end {
            runs.push(run_once(&workload)?);
        }
        print_percentiles(&format!("run_{label}"), &mut runs);

        for threads in [1, 2] {
            let per_s = runs_per_second(&workload, threads, window)?;
            println!("per_s_{label}_{threads}t={per_s:.0}");
        }
        drop(workload);

        // On threads of their own, the C library's caches of thread stacks and arenas make
        // the growth too noisy to read a slot's share in; a slot keeps the same on both.
        if args.rss_slots > 0 && config.shared_threads.is_some() {
            let kib = rss_per_slot(config, args.rss_slots)?;
            println!("rss_per_slot_kib_{label}={kib:.1}");
        }
    }
    Ok(())
}

/// What one warm pool slot keeps resident after its instance ended, in KiB: `slots`
/// waiting instances at once, then stopped (see step 5 of the header), on a fresh runtime
/// of `config`, less the same on a fresh runtime whose pool keeps nothing resident (what
/// the process keeps of any such round: the C library's caches of thread stacks and heap
/// arenas, fiber stacks). A first round, unmeasured, warms those caches.
fn rss_per_slot(config: &Config, slots: usize) -> Result<f64> {
    let options = config.options();
    let returning = RuntimeOptions {
        pooling: options.pooling.clone().map(|pooling| PoolingOptions {
            keep_resident: 0,
            ..pooling
        }),
        ..options.clone()
    };
    let growth = |options: &RuntimeOptions| -> Result<i64> {
        let runtime = Runtime::with_options(options.clone())?;
        let before = vm_rss_kib()?;
        waiting_round(&runtime, slots)?;
        Ok(vm_rss_kib()? as i64 - before as i64)
    };
    growth(&returning)?;
    let returned = growth(&returning)?;
    let kept = growth(&options)?;
    Ok((kept - returned) as f64 / slots as f64)
}

/// `slots` instances of `limits wait_forever` on `runtime`, all waiting at once, then
/// stopped and ended.
fn waiting_round(runtime: &Runtime, slots: usize) -> Result<()> {
    let workload = runtime.load(test_programs_artifacts::program("limits"))?;
    let opts = RunOptions {
        args: vec!["wait_forever".into()],
        capture_output: true,
        ..RunOptions::default()
    };
    let running = (0..slots)
        .map(|_| workload.start(opts.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    // Each has waited in its loop once its first callback was charged.
    let deadline = Instant::now() + Duration::from_secs(30);
    while running.iter().any(|run| run.stats().cpu_time.is_zero()) {
        ensure!(
            Instant::now() < deadline,
            "the waiting instances did not start"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    for run in &running {
        run.stop();
    }
    for run in running {
        let out = run.join()?;
        ensure!(
            out.status == sandloop_host::ExitStatus::Stopped,
            "limits wait_forever ended with {:?}",
            out.status
        );
    }
    Ok(())
}

/// The process's resident set (VmRSS), in KiB.
fn vm_rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("read /proc/self/status")?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")
}

/// One run of the startup guest, timed end to end.
fn run_once(workload: &Workload) -> Result<Duration> {
    let start = Instant::now();
    let out = workload.run(RunOptions::default())?;
    let took = start.elapsed();
    ensure!(
        out.status.success(),
        "bench_startup ended with {:?}",
        out.status
    );
    Ok(took)
}

/// Runs back to back on `threads` threads for `window`; returns runs per second.
fn runs_per_second(workload: &Workload, threads: usize, window: Duration) -> Result<f64> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || -> Result<u64> {
                    for _ in 0..WARMUP_RUNS {
                        run_once(workload)?;
                    }
                    Ok(0)
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("warm-up thread")?;
        }
        let start = Instant::now();
        let end = start + window;
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || -> Result<u64> {
                    let mut n = 0;
                    while Instant::now() < end {
                        run_once(workload)?;
                        n += 1;
                    }
                    Ok(n)
                })
            })
            .collect();
        let mut total = 0;
        for worker in workers {
            total += worker.join().expect("benchmark thread")?;
        }
        Ok(total as f64 / start.elapsed().as_secs_f64())
    })
}

fn print_percentiles(key: &str, samples: &mut [Duration]) {
    samples.sort_unstable();
    let at = |p: f64| {
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1e6
    };
    println!(
        "{key}_p50_us={:.1} {key}_p99_us={:.1} {key}_n={}",
        at(0.5),
        at(0.99),
        samples.len()
    );
}
