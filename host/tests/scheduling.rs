//! Scheduling callbacks: guest program tests/programs/src/bin/scheduling.rs.

mod common;

guest_cases!("scheduling":
    call_soon_runs_callbacks_in_fifo_order,
    cancelled_handle_never_runs,
    handle_cancel_is_idempotent,
    call_later_runs_timers_in_order_of_delay,
    call_at_runs_ties_in_scheduling_order,
    timer_handle_when_is_the_scheduled_time,
    cancelled_timer_never_runs,
    call_later_never_runs_early,
    time_is_monotonic,
    timers_due_together_run_in_one_batch_after_ready_callbacks,
    call_soon_threadsafe_schedules_like_call_soon,
    callback_runs_in_a_copy_of_the_scheduling_context,
    call_soon_with_context_runs_in_that_context,
    handle_get_context_returns_the_given_context,
    timer_with_context_runs_in_that_context,
    many_cancelled_timers_are_purged,
    callback_returning_ok_is_not_reported,
);
