//! The loop's diagnostics through the `log` facade: a workload that installs a logger gets
//! the loop's records (target `sandloop`, asyncio's levels) and nothing on stderr; one that
//! installs none gets the `sandloop LEVEL: ...` lines on stderr as before.

use std::sync::Mutex;
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};
use sandloop::Error;
use test_programs::{busy, cases};

cases!(
    records_reach_the_workloads_logger,
    the_logger_filters_the_loops_records;
    // Run by host/tests/errors_and_debug.rs, which checks the stderr lines.
    checked:
    without_a_logger_records_are_stderr_lines,
    sandloop_debug_reaches_the_logger,
);

/// A workload's own logger: keeps every record it is given.
struct Recorder(Mutex<Vec<(Level, String, String)>>);

impl Log for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let entry = (
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        );
        self.0.lock().expect("recorder lock").push(entry);
    }

    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(Mutex::new(Vec::new()));

fn install(max: LevelFilter) {
    log::set_logger(&RECORDER).expect("the first logger of the workload");
    log::set_max_level(max);
}

/// The records the loop logged, as `(level, target, message)`.
fn records() -> Vec<(Level, String, String)> {
    RECORDER.0.lock().expect("recorder lock").clone()
}

/// In debug mode: a slow callback (a warning), a callback's error with no exception handler
/// (an error), and closing the loop (a debug note).
fn run_a_loop_that_logs() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(10));
    lp.call_soon(|| busy(Duration::from_millis(30)));
    lp.call_soon(|| Err::<(), _>(Error::Runtime("disk on fire".into())));
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

/// The one record at `level`, checked to come from the loop's target.
fn only_at(records: &[(Level, String, String)], level: Level) -> String {
    let at: Vec<_> = records.iter().filter(|(l, ..)| *l == level).collect();
    assert_eq!(at.len(), 1, "one {level} record: {records:?}");
    assert_eq!(at[0].1, "sandloop", "the loop's target: {records:?}");
    at[0].2.clone()
}

fn records_reach_the_workloads_logger() -> sandloop::Result<()> {
    install(LevelFilter::Debug);
    run_a_loop_that_logs()?;
    let records = records();
    let slow = only_at(&records, Level::Warn);
    assert!(slow.starts_with("Executing <Handle created at "), "{slow}");
    assert!(slow.contains(" took 0.0"), "{slow}");
    let error = only_at(&records, Level::Error);
    assert!(
        error.starts_with("Exception in callback <Handle created at "),
        "{error}"
    );
    assert!(error.contains("disk on fire"), "{error}");
    let debug = only_at(&records, Level::Debug);
    assert!(debug.starts_with("Close "), "{debug}");
    Ok(())
}

fn the_logger_filters_the_loops_records() -> sandloop::Result<()> {
    install(LevelFilter::Warn);
    run_a_loop_that_logs()?;
    let records = records();
    only_at(&records, Level::Warn);
    only_at(&records, Level::Error);
    assert!(
        records.iter().all(|(l, ..)| *l <= Level::Warn),
        "no debug record: {records:?}"
    );
    Ok(())
}

fn without_a_logger_records_are_stderr_lines() -> sandloop::Result<()> {
    assert_eq!(log::max_level(), LevelFilter::Off);
    run_a_loop_that_logs()
}

/// Run with `SANDLOOP_DEBUG=1`: the new loop is in debug mode and its first note (the
/// selector in use) goes to the logger; prints the debug records for the host to check.
fn sandloop_debug_reaches_the_logger() -> sandloop::Result<()> {
    install(LevelFilter::Debug);
    let lp = sandloop::new_event_loop();
    assert!(lp.get_debug(), "SANDLOOP_DEBUG switches debug mode on");
    lp.close()?;
    for (level, target, message) in records() {
        println!("{level} {target}: {message}");
    }
    Ok(())
}
