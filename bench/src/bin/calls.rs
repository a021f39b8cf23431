//! Calls into a workload (`sandloop_host::Caller`) against their nearest peer, a plain
//! wasmtime typed function call of the same work. Run by hand:
//!
//! ```sh
//! cargo run --release -p sandloop-bench --bin calls [-- ROUNDS]
//! ```
//!
//! It prints, for the trivial function `add(a, b)` of the guest program `plugin`:
//! - the round-trip latency (p50, p99) of one call at a time through the workload's loop
//!   (`Caller::call(..).wait()`: post into the inbox, wake the reactor, run a task, answer);
//! - calls/s with many in flight (4 host threads, 256 calls in flight each);
//! - the same for the peer: the same component's `add_job`, exported to the executor
//!   (`sandloop:jobs/jobs#run-job`, JSON arguments as the calls have), called as a typed
//!   function on an instance of its own (no loop: the instance does nothing else; its
//!   `sandloop:host` imports are stubs that trap, which `add_job` never calls).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use sandloop_host::{Policy, RunOptions, Runtime};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, ResourceType};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    inline: "
        package sandloop:jobs@0.1.0;
        interface jobs {
            variant run-error { failed(string), unknown-job }
            run-job: func(name: string, args: list<u8>) -> result<list<u8>, run-error>;
        }
        world worker { export jobs; }
    ",
});

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(20_000);
    let path = test_programs_artifacts::program("plugin");

    // Calls through the loop.
    let runtime = Runtime::new()?;
    let running = runtime.load(path)?.start(RunOptions {
        args: vec!["serve".into()],
        policy: Policy::new().allow_listen("127.0.0.1:*")?,
        ..Default::default()
    })?;
    let caller = running.caller();
    let mut call = |i: i64| -> anyhow::Result<i64> { Ok(caller.call("add", &(i, 1)).wait()?) };
    let calls = latencies(rounds, &mut call)?;
    let in_flight = {
        let caller = running.caller();
        throughput(rounds * 10, move |n, i| {
            let calls: Vec<_> = (0..n as i64)
                .map(|k| caller.call::<i64>("add", &(i + k, 1)))
                .collect();
            for call in calls {
                call.wait()?;
            }
            Ok(())
        })?
    };
    let bye: String = running.caller().call("quit", &()).wait()?;
    anyhow::ensure!(bye == "bye");
    running.join()?;

    println!("{rounds} rounds, add(a, b) with JSON arguments");
    println!(
        "call through the loop   p50 {:>8.1?}  p99 {:>8.1?}  one at a time {:>9.0}/s",
        calls.p50,
        calls.p99,
        1.0 / calls.mean.as_secs_f64()
    );
    println!("call through the loop   many in flight (4 threads x 256): {in_flight:>9.0}/s");
    match peer(path, rounds) {
        Ok((jobs, jobs_per_s)) => println!(
            "typed func (run-job)    p50 {:>8.1?}  p99 {:>8.1?}  one at a time {:>9.0}/s, back to back {jobs_per_s:>9.0}/s",
            jobs.p50,
            jobs.p99,
            1.0 / jobs.mean.as_secs_f64()
        ),
        Err(err) => println!("typed func (run-job)    not measured: {err:#}"),
    }
    Ok(())
}

/// The peer: a typed function call into an instance of the same component (its
/// `add_job`), one at a time and back to back.
fn peer(path: &std::path::Path, rounds: usize) -> anyhow::Result<(Latencies, f64)> {
    let engine = Engine::new(&Config::new())?;
    let component = Component::from_file(&engine, path)?;
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    stub_sandloop_imports(&engine, &component, &mut linker)?;
    let mut store = Store::new(
        &engine,
        Host {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        },
    );
    let worker = Worker::instantiate(&mut store, &component, &linker)?;
    let mut job = |i: i64| -> anyhow::Result<i64> {
        let args = serde_json::to_vec(&(i, 1))?;
        let answer = worker
            .sandloop_jobs_jobs()
            .call_run_job(&mut store, "add_job", &args)?
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        Ok(serde_json::from_slice(&answer)?)
    };
    let jobs = latencies(rounds, &mut job)?;
    let started = Instant::now();
    for i in 0..(rounds * 10) as i64 {
        job(i)?;
    }
    let jobs_per_s = (rounds * 10) as f64 / started.elapsed().as_secs_f64();

    Ok((jobs, jobs_per_s))
}

/// Defines every `sandloop:host` import of `component` as a function that traps (a job
/// never calls one) and each of its resources as a host resource of no type of its own
/// (WASI's file descriptor, which two of them use, as wasmtime-wasi's).
/// `Linker::define_unknown_imports_as_traps` would also stub the WASI interfaces under the
/// exact version the component names (0.2.12), with resources that are not
/// wasmtime-wasi's, and instantiation would then refuse them.
fn stub_sandloop_imports(
    engine: &Engine,
    component: &Component,
    linker: &mut Linker<Host>,
) -> anyhow::Result<()> {
    for (name, import) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = import.ty else {
            continue;
        };
        if !name.starts_with("sandloop:host/") {
            continue;
        }
        let mut stubs = linker.instance(name)?;
        for (item, export) in instance.exports(engine) {
            match export.ty {
                ComponentItem::ComponentFunc(_) => {
                    let what = format!("{name}#{item}");
                    stubs.func_new(item, move |_, _, _, _| {
                        wasmtime::bail!("{what} is not provided to the peer's instance")
                    })?;
                }
                // `net` and `fs` use WASI's file descriptor: wasmtime-wasi's own type.
                ComponentItem::Resource(_) if item == "descriptor" => {
                    let wasi = ResourceType::host::<wasmtime_wasi::filesystem::Descriptor>();
                    stubs.resource(item, wasi, |_, _| Ok(()))?;
                }
                ComponentItem::Resource(_) => {
                    stubs.resource(item, ResourceType::host::<()>(), |_, _| Ok(()))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct Latencies {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

/// Times `rounds` calls of `f` one after another (after a warm-up of a tenth as many).
fn latencies(
    rounds: usize,
    f: &mut impl FnMut(i64) -> anyhow::Result<i64>,
) -> anyhow::Result<Latencies> {
    for i in 0..(rounds / 10) as i64 {
        anyhow::ensure!(f(i)? == i + 1, "a wrong answer");
    }
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds as i64 {
        let started = Instant::now();
        let answer = f(i)?;
        times.push(started.elapsed());
        anyhow::ensure!(answer == i + 1, "a wrong answer");
    }
    let mean = times.iter().sum::<Duration>() / rounds as u32;
    times.sort();
    Ok(Latencies {
        p50: times[rounds / 2],
        p99: times[rounds * 99 / 100],
        mean,
    })
}

/// Calls/s of `total` calls made by 4 threads, each with batches of 256 in flight.
fn throughput(
    total: usize,
    batch: impl Fn(usize, i64) -> anyhow::Result<()> + Send + Sync + 'static,
) -> anyhow::Result<f64> {
    const THREADS: usize = 4;
    const IN_FLIGHT: usize = 256;
    let batch = std::sync::Arc::new(batch);
    let per_thread = total / THREADS / IN_FLIGHT;
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let batch = std::sync::Arc::clone(&batch);
            std::thread::spawn(move || -> anyhow::Result<()> {
                for b in 0..per_thread {
                    batch(IN_FLIGHT, (t * per_thread + b) as i64 * IN_FLIGHT as i64)?;
                }
                Ok(())
            })
        })
        .collect();
    for thread in threads {
        thread
            .join()
            .map_err(|_| anyhow::anyhow!("a calling thread panicked"))?
            .context("a calling thread")?;
    }
    Ok((per_thread * THREADS * IN_FLIGHT) as f64 / started.elapsed().as_secs_f64())
}
