//! Teardown: 1,000 runs that each end in a trap (the memory limit) leave the host with
//! no more open file descriptors than before and bounded memory. One test in this binary,
//! so no other test's descriptors are counted.

mod common;

use std::time::{Duration, Instant};

use sandloop_host::{ExitStatus, Limits, Policy, RunOptions, Runtime};

const CYCLES: usize = 1_000;

/// How much the host's resident memory may grow over the cycles: allocator caches and
/// wasmtime's per-engine structures settle within a few MiB; a leak of one instance's
/// memory per cycle (the guest reaches 4 MiB each time) would be gigabytes.
const RSS_GROWTH_BOUND: u64 = 64 << 20;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("resident pages");
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[test]
fn a_thousand_trap_and_restart_cycles_leak_no_fds_nor_memory() {
    // Bounded past the time the cycles are allowed (asserted at the end), so that a run
    // that never ends fails the test too.
    common::within("the cycles", Duration::from_secs(180), cycles);
}

fn cycles() {
    let runtime = Runtime::new().expect("runtime");
    let workload = runtime
        .load(test_programs_artifacts::program("limits"))
        .expect("load");
    let mut policy = Policy::new();
    policy.limits = Limits {
        memory_bytes: Some(4 << 20),
        ..Limits::default()
    };
    let run = || {
        let out = workload
            .run(RunOptions {
                args: vec!["allocate_without_bound".into()],
                capture_output: true,
                policy: policy.clone(),
                ..Default::default()
            })
            .expect("run");
        match out.status {
            ExitStatus::Trapped(message) => assert!(
                message.starts_with("memory limit of 4194304 bytes exceeded"),
                "{message}"
            ),
            other => panic!("expected the memory limit's trap, got {other:?}"),
        }
    };
    // Warm up: the first runs set up caches that stay.
    for _ in 0..20 {
        run();
    }
    let (fds, rss) = (open_fds(), rss_bytes());
    let started = Instant::now();
    for _ in 0..CYCLES {
        run();
    }
    let took = started.elapsed();
    let (fds_after, rss_after) = (open_fds(), rss_bytes());
    eprintln!(
        "{CYCLES} cycles in {took:?}; fds {fds} -> {fds_after}; rss {} -> {} KiB",
        rss >> 10,
        rss_after >> 10
    );
    assert!(fds_after <= fds, "open fds grew from {fds} to {fds_after}");
    assert!(
        rss_after.saturating_sub(rss) < RSS_GROWTH_BOUND,
        "resident memory grew from {rss} to {rss_after} bytes"
    );
    assert!(took < Duration::from_secs(120), "{took:?}");
}
