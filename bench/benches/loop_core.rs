//! The loop core's own costs inside the guest, under the real host: scheduling and running
//! callbacks, timers, task steps, tasks and futures awaited. bench/micro.sh runs the same
//! guest benchmarks once each, next to asyncio, uvloop and tokio.
//!
//! `cargo bench -p sandloop-bench` (or `just bench`).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn loop_core(c: &mut Criterion) {
    let workload = sandloop_bench::bench_loop().expect("load the guest benchmark program");
    let mut group = c.benchmark_group("guest_loop");
    group.throughput(Throughput::Elements(1));
    for name in [
        "call_soon",
        "call_soon_chain",
        "call_later",
        "call_later_cancel",
        "create_task",
        "sleep0_switch",
        "task_create_await",
        "future_set_result_await",
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                sandloop_bench::measure(&workload, name, iters).expect("guest benchmark")
            })
        });
    }
    group.finish();

    // One iteration is a round of 100,000 timers (half cancelled): tens of milliseconds.
    let mut group = c.benchmark_group("guest_loop_timers");
    group.sample_size(10);
    group.throughput(Throughput::Elements(100_000));
    let name = "timers_100k_cancel_half";
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            sandloop_bench::measure(&workload, name, iters).expect("guest benchmark")
        })
    });
    group.finish();
}

criterion_group!(benches, loop_core);
criterion_main!(benches);
