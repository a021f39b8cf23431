//! Getting a loop, `sandloop::run`, selectors: guest program
//! tests/programs/src/bin/getting_a_loop.rs.

mod common;

guest_cases!("getting_a_loop":
    get_running_loop_outside_a_loop_is_an_error,
    get_running_loop_inside_a_callback_is_that_loop,
    get_event_loop_inside_a_coroutine_is_the_running_loop,
    get_event_loop_outside_returns_the_current_loop,
    get_event_loop_creates_a_loop_when_none_is_set,
    new_event_loop_returns_distinct_loops,
    custom_policy_decides_the_loops,
    run_returns_the_value_and_closes_its_loop,
    run_from_a_running_loop_is_an_error,
    run_cancels_tasks_left_pending,
    run_returns_the_error_of_main,
    selector_event_loop_over_wasi_poll_runs_timers,
    shutdown_asyncgens_closes_registered_generators,
);
