//! Running and stopping the loop: guest program tests/programs/src/bin/running.rs.

mod common;

use sandloop_host::ExitStatus;

test_programs_artifacts::for_each_quiet_case!("running", guest_cases);

#[test]
fn call_soon_on_a_closed_loop_panics() {
    let out = common::run_case("running", "call_soon_on_a_closed_loop_panics");
    assert!(
        matches!(out.status, ExitStatus::Trapped(_)),
        "{:?}",
        out.status
    );
    assert!(
        out.stderr.contains("Event loop is closed"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("not reached"));
}
