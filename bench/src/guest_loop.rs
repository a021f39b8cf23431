//! Runs guest benchmark programs under the real host.
//!
//! A guest benchmark (tests/programs/src/bin/bench_loop.rs) times its own measured section
//! with the guest's monotonic clock and prints the nanoseconds, so instantiating the
//! component is not part of the number; criterion's `iter_custom` feeds it the iteration
//! count and collects that time.

use std::sync::LazyLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sandloop_host::{RunOptions, Runtime, Workload};

static RUNTIME: LazyLock<Runtime> =
    LazyLock::new(|| Runtime::new().expect("create the sandloop runtime"));

/// The guest benchmark program of the loop core, compiled once.
pub fn bench_loop() -> Result<Workload> {
    load("bench_loop")
}

/// A guest benchmark program of tests/programs by name, compiled once.
pub fn load(program: &str) -> Result<Workload> {
    Ok(RUNTIME.load(test_programs_artifacts::program(program))?)
}

/// Runs benchmark `name` of `workload` for `iters` iterations in a fresh instance; returns
/// the time the guest measured for its loop.
pub fn measure(workload: &Workload, name: &str, iters: u64) -> Result<Duration> {
    let out = workload.run(RunOptions {
        args: vec![name.to_string(), iters.to_string()],
        capture_output: true,
        ..Default::default()
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "bench {name} failed: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let nanos: u64 = stdout
        .trim()
        .strip_prefix("elapsed_ns=")
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("bench {name} printed {stdout:?}"))?;
    Ok(Duration::from_nanos(nanos))
}
