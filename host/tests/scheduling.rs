//! Scheduling callbacks: guest program tests/programs/src/bin/scheduling.rs.

mod common;

test_programs_artifacts::for_each_quiet_case!("scheduling", guest_cases);

#[test]
fn entering_an_entered_context_panics() {
    let out = common::run_case("scheduling", "entering_an_entered_context_panics");
    assert!(
        matches!(out.status, sandloop_host::ExitStatus::Trapped(_)),
        "{:?}",
        out.status
    );
    assert!(
        out.stderr.contains("cannot enter context"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("not reached"));
}
