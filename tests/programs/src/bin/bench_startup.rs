//! Guest side of the start-up benchmark (bench/src/bin/startup.rs, bench/benches/startup.rs):
//! makes a loop, schedules one callback, and ends as soon as that first callback has run.
//! The host times the whole run (instantiate, `main`, the first callback, teardown), which
//! bounds "from a loaded component to its first callback" from above.
//!
//! `bench_startup` returns from `main` after the callback; `bench_startup exit` calls
//! `sandloop::exit(0)` from inside the callback instead.

fn main() {
    let exit_in_callback = std::env::args().nth(1).is_some_and(|a| a == "exit");
    let lp = sandloop::new_event_loop();
    let stopper = lp.clone();
    lp.call_soon(move || {
        if exit_in_callback {
            sandloop::exit(0);
        }
        stopper.stop();
    });
    lp.run_forever().expect("run");
    lp.close().expect("close");
}
