use std::time::{Duration, Instant};

use super::{Due, Repeats, Summary, Verdict};

const INTERVAL: Duration = Duration::from_secs(10);

fn repeats(capacity: usize) -> Repeats<&'static str, &'static str> {
    Repeats::new(INTERVAL, capacity)
}

fn at(start: Instant, secs: u64) -> Instant {
    start + Duration::from_secs(secs)
}

fn record(
    r: &mut Repeats<&'static str, &'static str>,
    line: &'static str,
    now: Instant,
) -> Verdict {
    let (verdict, summary) = r.record(line, now, || line);
    assert_eq!(summary, None);
    verdict
}

#[test]
fn the_first_line_is_logged_and_identical_ones_within_the_interval_are_counted() {
    let mut r = repeats(8);
    let t = Instant::now();

    assert_eq!(record(&mut r, "denied", t), Verdict::Log);
    assert_eq!(record(&mut r, "denied", at(t, 1)), Verdict::Count);
    assert_eq!(record(&mut r, "denied", at(t, 9)), Verdict::Count);
    assert_eq!(record(&mut r, "other", at(t, 9)), Verdict::Log);
}

#[test]
fn each_interval_with_repeats_ends_in_one_summary_then_the_line_is_forgotten() {
    let mut r = repeats(8);
    let t = Instant::now();
    record(&mut r, "denied", t);
    for s in 1..=4 {
        record(&mut r, "denied", at(t, s));
    }

    assert_eq!(r.next_due(), Some(at(t, 10)));
    assert_eq!(r.due(at(t, 9)), Due::none());
    let due = r.due(at(t, 10));
    assert_eq!(
        due.summaries,
        vec![Summary {
            line: "denied",
            repeats: 4,
            over: INTERVAL
        }]
    );
    // A new interval: still counted, then nothing to say, then forgotten.
    assert_eq!(record(&mut r, "denied", at(t, 12)), Verdict::Count);
    assert_eq!(r.due(at(t, 20)).summaries.len(), 1);
    assert_eq!(r.next_due(), None);
    assert_eq!(r.due(at(t, 30)), Due::none());
    assert_eq!(record(&mut r, "denied", at(t, 31)), Verdict::Log);
}

#[test]
fn a_line_without_repeats_needs_no_summary() {
    let mut r = repeats(8);
    let t = Instant::now();
    record(&mut r, "denied", t);

    assert_eq!(r.next_due(), None);
    assert_eq!(r.due(at(t, 10)), Due::none());
    assert_eq!(record(&mut r, "denied", at(t, 11)), Verdict::Log);
}

#[test]
fn a_line_after_its_interval_is_logged_with_the_summary_no_flush_gave() {
    let mut r = repeats(8);
    let t = Instant::now();
    record(&mut r, "denied", t);
    record(&mut r, "denied", at(t, 1));

    let (verdict, summary) = r.record("denied", at(t, 15), || "denied");

    assert_eq!(verdict, Verdict::Log);
    assert_eq!(
        summary,
        Some(Summary {
            line: "denied",
            repeats: 1,
            over: Duration::from_secs(15)
        })
    );
}

#[test]
fn past_the_capacity_new_lines_are_counted_apart() {
    let mut r = repeats(2);
    let t = Instant::now();
    record(&mut r, "a", t);
    record(&mut r, "b", t);

    assert_eq!(record(&mut r, "c", at(t, 1)), Verdict::Count);
    assert_eq!(record(&mut r, "d", at(t, 2)), Verdict::Count);
    assert_eq!(r.next_due(), Some(at(t, 11)));
    assert_eq!(r.due(at(t, 11)).untracked, Some((2, INTERVAL)));
    // The quiet lines were forgotten: room again.
    assert_eq!(record(&mut r, "c", at(t, 12)), Verdict::Log);
}

#[test]
fn lines_whose_interval_ended_quietly_make_room() {
    let mut r = repeats(1);
    let t = Instant::now();
    record(&mut r, "a", t);

    assert_eq!(record(&mut r, "b", at(t, 10)), Verdict::Log);
}

#[test]
fn take_reports_and_forgets_the_lines_of_a_run_that_ends() {
    let mut r = repeats(8);
    let t = Instant::now();
    for line in ["mine", "mine", "mine", "theirs", "theirs"] {
        record(&mut r, line, t);
    }

    let due = r.take(at(t, 2), |line| *line == "mine");

    assert_eq!(
        due.summaries,
        vec![Summary {
            line: "mine",
            repeats: 2,
            over: Duration::from_secs(2)
        }]
    );
    assert_eq!(record(&mut r, "mine", at(t, 3)), Verdict::Log);
    assert_eq!(record(&mut r, "theirs", at(t, 3)), Verdict::Count);
}
