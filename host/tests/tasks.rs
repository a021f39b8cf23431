//! Tasks (guest program `tasks`): running, names, contexts, cancellation, exceptions and
//! their reports, task factories, `current_task`, `all_tasks`.
//!
//! Each case asserts the behaviour inside the guest; here every case must exit 0 and, unless
//! it is about a report, log nothing (an error that reached the default exception handler,
//! e.g. a spurious "exception was never retrieved", fails the test).

mod common;

test_programs_artifacts::for_each_quiet_case!("tasks", guest_cases);

#[test]
fn unretrieved_task_exception_is_logged_by_the_default_handler() {
    let out = common::run_case(
        "tasks",
        "unretrieved_task_exception_is_logged_by_the_default_handler",
    );
    out.assert_ok();
    assert!(
        out.stderr.contains("Task exception was never retrieved"),
        "stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("nobody looked"),
        "stderr:\n{}",
        out.stderr
    );
}
