//! The asyncio helpers (guest program `helpers`): `sleep`, `wait_for`, `gather`, `shield`,
//! `wait`, `Event`, `Lock`, `Semaphore`, `Queue`.
//!
//! Each case asserts the behaviour inside the guest; here every case must exit 0 and, unless
//! it is about a report, log nothing (an error that reached the default exception handler,
//! e.g. a spurious "exception was never retrieved", fails the test).

mod common;

test_programs_artifacts::for_each_quiet_case!("helpers", guest_cases);

#[test]
fn sleep_zero_lets_the_other_ready_tasks_run() {
    common::run_case("helpers", "sleep_zero_lets_the_other_ready_tasks_run")
        .assert_ok()
        .assert_lines(&["A1", "B1", "A2", "B2"]);
}
