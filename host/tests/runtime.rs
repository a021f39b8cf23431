//! The library API on real guest programs: loading, caching, capture, exit statuses,
//! runs on a thread.

use std::sync::LazyLock;

use sandloop_host::{ExitStatus, PoolingOptions, RunOptions, Runtime, RuntimeOptions};
use test_programs_artifacts::program;

/// The runtime the tests share, as an embedding would: each program compiles once per
/// test binary. Tests that count cache entries make their own.
fn shared() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> =
        LazyLock::new(|| Runtime::new().expect("create the shared runtime"));
    &RUNTIME
}

fn captured(args: &[&str]) -> RunOptions {
    RunOptions {
        args: args.iter().map(|a| a.to_string()).collect(),
        capture_output: true,
        ..RunOptions::default()
    }
}

#[test]
fn loading_the_same_component_twice_compiles_it_once() {
    let runtime = Runtime::new().unwrap();

    let first = runtime.load(program("hello_world")).unwrap();
    assert_eq!(runtime.cached_len(), 1);
    let second = runtime.load(program("hello_world")).unwrap();

    assert_eq!(runtime.cached_len(), 1, "the second load is a cache hit");
    assert_eq!(first.name(), "hello_world");
    assert!(second.run(captured(&[])).unwrap().status.success());
}

#[test]
fn distinct_components_are_cached_separately() {
    let runtime = Runtime::new().unwrap();

    runtime.load(program("hello_world")).unwrap();
    runtime.load(program("panic")).unwrap();

    assert_eq!(runtime.cached_len(), 2);
}

#[test]
fn captured_run_collects_stdout() {
    let runtime = shared();
    let workload = runtime.load(program("hello_world")).unwrap();

    let output = workload.run(captured(&[])).unwrap();

    assert_eq!(output.status, ExitStatus::Exited(0));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "Hello World\n");
    assert!(output.stderr.is_empty());
}

#[test]
fn a_workload_runs_many_times() {
    let runtime = shared();
    let workload = runtime.load(program("hello_world")).unwrap();

    for _ in 0..3 {
        let output = workload.run(captured(&[])).unwrap();
        assert_eq!(output.stdout, b"Hello World\n");
    }
}

#[test]
fn guest_panic_is_a_trap_with_backtrace_and_message_on_stderr() {
    let runtime = shared();
    let workload = runtime.load(program("panic")).unwrap();

    let output = workload.run(captured(&[])).unwrap();

    let ExitStatus::Trapped(message) = &output.status else {
        panic!("expected a trap, got {:?}", output.status);
    };
    assert!(message.contains("unreachable"), "trap: {message}");
    assert!(message.contains("wasm backtrace:"), "trap: {message}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sandloop test panic: boom"),
        "stderr: {stderr}"
    );
    assert_eq!(output.status.code(), None);
}

#[test]
fn guest_exit_code_is_reported() {
    let runtime = shared();
    let workload = runtime.load(program("exit_code")).unwrap();

    let output = workload.run(captured(&["7"])).unwrap();

    assert_eq!(output.status, ExitStatus::Exited(7));
}

#[test]
fn started_workload_gives_its_waker_at_once_and_its_output_on_join() {
    let runtime = shared();
    let workload = runtime.load(program("hello_world")).unwrap();

    let running = workload.start(captured(&[])).unwrap();
    // The instance may be running or done: waking is harmless either way.
    running.waker().wake().unwrap();
    let output = running.join().unwrap();

    assert_eq!(output.status, ExitStatus::Exited(0));
    assert_eq!(output.stdout, b"Hello World\n");
}

#[test]
fn missing_file_is_a_host_error_naming_it() {
    let runtime = Runtime::new().unwrap();

    let err = runtime
        .load("/nonexistent/sandloop/missing.wasm".as_ref())
        .err()
        .expect("loading a missing file fails");

    assert!(format!("{err:#}").contains("/nonexistent/sandloop/missing.wasm"));
    assert_eq!(runtime.cached_len(), 0);
}

#[test]
fn a_pooled_runtime_runs_a_workload_again_and_again_in_its_slots() {
    for keep_resident in [0, 1 << 20] {
        let runtime = Runtime::with_options(RuntimeOptions {
            disk_cache: false,
            pooling: Some(PoolingOptions {
                max_instances: 2,
                keep_resident,
                ..PoolingOptions::default()
            }),
            ..RuntimeOptions::default()
        })
        .unwrap();
        let workload = runtime.load(program("hello_world")).unwrap();

        // More runs than slots: each run gives its slot back.
        for _ in 0..4 {
            let output = workload.run(captured(&[])).unwrap();
            assert_eq!(output.status, ExitStatus::Exited(0));
            assert_eq!(output.stdout, b"Hello World\n");
        }
    }
}
