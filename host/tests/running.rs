//! Running and stopping the loop: guest program tests/programs/src/bin/running.rs.

mod common;

use sandloop_host::ExitStatus;

guest_cases!("running":
    run_until_complete_returns_the_result,
    run_until_complete_returns_the_error,
    run_until_complete_errors_when_stopped_first,
    run_until_complete_inside_the_running_loop_is_an_error,
    run_forever_inside_another_running_loop_is_an_error,
    stop_before_run_forever_runs_one_batch,
    stop_before_run_forever_polls_with_zero_timeout,
    stop_during_run_forever_finishes_the_current_batch,
    callbacks_scheduled_by_the_last_batch_run_next_time,
    is_running_is_true_only_inside_the_loop,
    close_while_running_is_an_error,
    close_is_idempotent_and_drops_pending_callbacks,
    closed_loop_refuses_to_run,
    run_forever_can_run_again_after_stop,
);

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
