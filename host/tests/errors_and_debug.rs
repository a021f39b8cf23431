//! The exception handler and debug mode: guest program
//! tests/programs/src/bin/errors_and_debug.rs.

mod common;

use common::{run_case, run_case_with_env};

test_programs_artifacts::for_each_quiet_case!("errors_and_debug", guest_cases);

#[test]
fn callback_error_without_handler_is_logged() {
    let out = run_case(
        "errors_and_debug",
        "callback_error_without_handler_is_logged",
    );
    out.assert_ok();
    assert!(
        out.stderr
            .contains("sandloop ERROR: Exception in callback <Handle created at "),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("errors_and_debug.rs:"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("exception: disk on fire"),
        "{}",
        out.stderr
    );
}

#[test]
fn handler_error_is_logged_by_the_default_handler() {
    let out = run_case(
        "errors_and_debug",
        "handler_error_is_logged_by_the_default_handler",
    );
    out.assert_ok();
    assert!(
        out.stderr.contains("Unhandled error in exception handler"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("handler broke"), "{}", out.stderr);
    assert!(out.stderr.contains("original"), "{}", out.stderr);
}

#[test]
fn call_exception_handler_without_custom_handler_logs() {
    let out = run_case(
        "errors_and_debug",
        "call_exception_handler_without_custom_handler_logs",
    );
    out.assert_ok();
    assert!(
        out.stderr.contains("sandloop ERROR: custom report"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("socket: <socket fd=3>"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("exception: timed out"),
        "{}",
        out.stderr
    );
}

#[test]
fn default_exception_handler_can_be_called_by_a_custom_one() {
    let out = run_case(
        "errors_and_debug",
        "default_exception_handler_can_be_called_by_a_custom_one",
    );
    out.assert_ok();
    assert!(
        out.stderr.contains("wrapped: inner message"),
        "{}",
        out.stderr
    );
}

#[test]
fn debug_is_on_when_sandloop_debug_is_set() {
    let on = run_case_with_env(
        "errors_and_debug",
        "debug_follows_the_environment",
        &[("SANDLOOP_DEBUG", "1")],
    );
    on.assert_ok().assert_lines(&["debug=true"]);
    assert!(
        on.stderr.contains("Using selector: HostSelector"),
        "{}",
        on.stderr
    );
}

#[test]
fn debug_is_off_when_sandloop_debug_is_unset_or_empty() {
    run_case("errors_and_debug", "debug_follows_the_environment")
        .assert_ok()
        .assert_lines(&["debug=false"]);
    run_case_with_env(
        "errors_and_debug",
        "debug_follows_the_environment",
        &[("SANDLOOP_DEBUG", "")],
    )
    .assert_ok()
    .assert_lines(&["debug=false"]);
}

#[test]
fn slow_callback_is_logged_with_where_it_was_scheduled() {
    let out = run_case(
        "errors_and_debug",
        "slow_callback_is_logged_with_where_it_was_scheduled",
    );
    out.assert_ok();
    let location = out
        .stdout
        .trim()
        .strip_prefix("scheduled at ")
        .expect("location line");
    assert!(location.contains("errors_and_debug.rs:"), "{location}");
    let expected = format!("sandloop WARNING: Executing <Handle created at {location}> took ");
    assert!(
        out.stderr.contains(&expected),
        "want {expected:?} in:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains(" seconds"), "{}", out.stderr);
}

#[test]
fn fast_callbacks_are_not_logged() {
    let out = run_case("errors_and_debug", "fast_callbacks_are_not_logged");
    out.assert_ok();
    assert!(!out.stderr.contains("Executing"), "{}", out.stderr);
}

#[test]
fn slow_callbacks_are_not_logged_without_debug() {
    let out = run_case(
        "errors_and_debug",
        "slow_callbacks_are_not_logged_without_debug",
    );
    out.assert_ok();
    assert!(!out.stderr.contains("Executing"), "{}", out.stderr);
}

#[test]
fn slow_task_step_is_logged() {
    let out = run_case("errors_and_debug", "slow_task_step_is_logged");
    out.assert_ok();
    assert!(
        out.stderr.contains("sandloop WARNING: Executing <Task "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("name='Task-"), "{}", out.stderr);
}
