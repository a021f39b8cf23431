//! The executor (guest program `executor`): jobs on a pool of sibling instances, errors and
//! traps in jobs, default-executor shutdown; and callbacks posted from host threads (the
//! host side of `call_soon_threadsafe`).

mod common;

use std::time::{Duration, Instant};

use sandloop_host::{RunOptions, Runtime};

test_programs_artifacts::for_each_quiet_case!("executor", guest_cases);

#[test]
fn a_trap_fails_the_job_and_the_worker_is_replaced() {
    let out = common::run_case(
        "executor",
        "a_trap_fails_the_job_and_the_worker_is_replaced",
    );
    out.assert_ok();
    // The worker's panic message goes where the workload's stderr goes.
    assert!(out.stderr.contains("worker down"), "stderr: {}", out.stderr);
}

#[test]
fn shutdown_default_executor_timeout_warns() {
    let out = common::run_case("executor", "shutdown_default_executor_timeout_warns");
    out.assert_ok().assert_lines(&["waited true"]);
    assert!(
        out.stderr
            .contains("The executor did not finishing joining its threads within 0.1 seconds."),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn threadsafe_callbacks_run_in_order() {
    let runtime = Runtime::new().unwrap();
    let workload = runtime
        .load(test_programs_artifacts::program("executor"))
        .unwrap();
    let running = workload
        .start(RunOptions {
            args: vec!["threadsafe_callbacks_run_in_order".into()],
            capture_output: true,
            ..Default::default()
        })
        .unwrap();
    let poster = running.poster();
    // Posted from other host threads, in order.
    for name in ["a", "b", "c"] {
        let poster = poster.clone();
        std::thread::spawn(move || poster.post("greet", name))
            .join()
            .unwrap()
            .expect("post into a running loop");
    }
    // Once the guest has closed its loop, posting fails.
    std::thread::sleep(Duration::from_millis(300));
    let deadline = Instant::now() + Duration::from_secs(5);
    let refused = loop {
        match poster.post("greet", "late") {
            Err(err) => break err,
            Ok(()) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(()) => panic!("posting kept succeeding after the loop closed"),
        }
    };
    assert!(refused.to_string().contains("closed"), "{refused}");
    let out = running.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "hello a\nhello b\nhello c\nclosed\n");
}
