//! The executor's parallelism: rounds of CPU-bound jobs (about 50 ms each) on a two-worker
//! pool of sibling instances, one job per round against two at once. With two free cores a
//! round of two takes about as long as a round of one (the jobs run on two host threads).
//!
//! `cargo bench -p sandloop-bench --bench executor`.

use criterion::{Criterion, criterion_group, criterion_main};

fn executor(c: &mut Criterion) {
    let workload = sandloop_bench::load("bench_executor").expect("load the guest benchmark");
    let mut group = c.benchmark_group("executor");
    group.sample_size(10);
    for (name, mode) in [
        ("one_cpu_job_per_round", "one"),
        ("two_cpu_jobs_per_round", "two"),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|rounds| {
                sandloop_bench::measure(&workload, mode, rounds).expect("guest benchmark")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, executor);
criterion_main!(benches);
