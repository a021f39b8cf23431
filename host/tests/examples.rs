//! The examples of examples/ run under the host and print what CPython prints.

mod common;

use common::run_case;

/// Parses Python's `str(datetime.datetime.now())`: `YYYY-MM-DD HH:MM:SS.ffffff`, as seconds
/// of the day.
fn seconds_of_day(line: &str) -> f64 {
    let (date, time) = line.split_once(' ').expect("date and time");
    assert_eq!(date.len(), 10, "{line}");
    assert_eq!(date.split('-').count(), 3, "{line}");
    let parts: Vec<f64> = time
        .split(':')
        .map(|p| p.parse().expect("number"))
        .collect();
    assert_eq!(parts.len(), 3, "{line}");
    assert_eq!(time.len(), 15, "microseconds as in Python: {line}");
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

#[test]
fn hello_world_prints_hello_world() {
    // The example takes no case argument; the harness passes one, which it ignores.
    run_case("hello_world", "-")
        .assert_ok()
        .assert_lines(&["Hello World"]);
}

#[test]
fn display_date_prints_five_dates_one_second_apart() {
    let out = run_case("display_date", "-");
    out.assert_ok();
    let lines = out.lines();
    assert_eq!(lines.len(), 5, "{}", out.stdout);
    let times: Vec<f64> = lines.iter().map(|l| seconds_of_day(l)).collect();
    for pair in times.windows(2) {
        let mut gap = pair[1] - pair[0];
        if gap < 0.0 {
            gap += 86_400.0; // midnight passed
        }
        assert!(gap >= 0.99, "dates {gap:.3} s apart:\n{}", out.stdout);
    }
}

#[test]
fn demo_runs_its_tour() {
    let out = run_case("demo", "-");
    out.assert_ok();
    assert!(
        out.stdout.contains("call_soon runs first"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("all 6 jobs done"), "{}", out.stdout);
    assert!(
        out.stdout.contains("gather -> [1, 4, 9, 16]"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("wait_for: timed out after 20 ms"),
        "{}",
        out.stdout
    );
    let first = out.lines().iter().position(|l| l.contains("timer: 10 ms"));
    let second = out.lines().iter().position(|l| l.contains("timer: 30 ms"));
    assert!(
        first < second,
        "timers in order of their delay:\n{}",
        out.stdout
    );
}
