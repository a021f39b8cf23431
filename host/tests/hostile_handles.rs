//! A hostile guest's forged and stale handles (tests/programs/src/bin/hostile_handles.rs):
//! each traps its own instance, never the host, and the same runtime runs the next
//! workload fine.

mod common;

use sandloop_host::ExitStatus;

/// Runs `case`, asserts that it trapped with `expected` in the trap message, then that a
/// sound workload still runs on the same runtime.
fn traps(case: &str, expected: &str) {
    let out = common::run_case("hostile_handles", case);
    let ExitStatus::Trapped(message) = &out.status else {
        panic!(
            "{case}: expected a trap, got {:?}\nstdout: {}\nstderr: {}",
            out.status, out.stdout, out.stderr
        );
    };
    assert!(
        !out.stdout.contains("returned"),
        "{case}: the call returned"
    );
    let reason = message.lines().next().unwrap_or_default();
    assert!(
        message.contains(expected),
        "{case}: trap reason {reason:?} lacks {expected:?}"
    );
    common::run_case("hostile_handles", "sound_calls_work")
        .assert_ok()
        .assert_lines(&["ok"]);
}

test_programs_artifacts::for_each_quiet_case!("hostile_handles", guest_cases);

#[test]
fn a_forged_socket_handle_traps() {
    traps("forged_socket", "unknown handle index");
}

#[test]
fn a_socket_handle_used_as_a_pipe_traps() {
    traps("socket_used_as_pipe", "wrong type");
}

#[test]
fn a_socket_used_after_drop_traps() {
    traps("socket_used_after_drop", "unknown handle index");
}

#[test]
fn a_socket_dropped_twice_traps() {
    traps("socket_dropped_twice", "unknown handle index");
}

#[test]
fn a_dropped_stream_named_in_waits_writes_traps() {
    // The host's own table answers: the id names nothing there.
    traps("dropped_stream_in_wait_writes", "resource not present");
}

#[test]
fn wait_write_lengths_past_the_data_trap() {
    traps(
        "wait_write_lengths_overrun",
        "more than the 2 bytes of write-data",
    );
}

#[test]
fn tls_start_with_a_dropped_context_traps() {
    traps("tls_start_with_dropped_context", "unknown handle index");
}
