//! The loop core's own costs inside the guest, under the real host: scheduling and running
//! callbacks, timers, task steps.
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
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                sandloop_bench::measure(&workload, name, iters).expect("guest benchmark")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, loop_core);
criterion_main!(benches);
