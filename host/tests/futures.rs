//! Futures (guest program `futures`): states, results, cancellation, done callbacks,
//! awaiting, and the report of an exception nobody retrieved.
//!
//! Each case asserts the behaviour inside the guest; here every case must exit 0 and, unless
//! it is about a report, log nothing (an error that reached the default exception handler,
//! e.g. a spurious "exception was never retrieved", fails the test).

mod common;

test_programs_artifacts::for_each_quiet_case!("futures", guest_cases);

#[test]
fn unretrieved_future_exception_reaches_the_default_handler_on_stderr() {
    let out = common::run_case(
        "futures",
        "unretrieved_future_exception_reaches_the_default_handler_on_stderr",
    );
    out.assert_ok();
    assert!(
        out.stderr.contains("Future exception was never retrieved"),
        "stderr:\n{}",
        out.stderr
    );
    assert!(out.stderr.contains("lost error"), "stderr:\n{}", out.stderr);
}
