//! The audit log: every denial, of the policy or of a limit, is logged through
//! [`denied`] as a warning under the `tracing` target `sandloop::audit`, with the
//! operation and the target as fields.
//!
//! A workload can repeat a denial as fast as it can call the host (a retry loop, a server
//! accepting at its handle limit); a line for each would let it fill the host's disk. So
//! a denial identical to one logged less than [`INTERVAL`] before, in the same run (the
//! same thread, as a run holds its thread until it ends; on shared threads, the same seat
//! at the shared reactor) and in the same words, is counted
//! instead, and the end of each interval in which it came again gives one line
//! for all: `<the denial> (41 more times in 10 s)`. At most [`TRACKED`] different
//! denials are tracked at once; more than that in one interval are counted together in a
//! line of their own. However fast the denials come, any interval thus logs at most
//! `2 × TRACKED + 1` lines (besides the counts a run's end writes), each showing at most
//! [`MAX_TEXT`] bytes of each text.
//!
//! The counts are written by a thread that lives while some are pending, and at the end
//! of each run for that run's denials, so that a run's counts are not lost when it ends
//! (the CLI exits right after its run).

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use crate::reactor::current_seat;
use std::time::{Duration, Instant};

use repeats::{Due, Repeats, Summary, Verdict};

mod repeats;

/// How long repeats of a denial are counted before a line says how many there were.
pub(crate) const INTERVAL: Duration = Duration::from_secs(10);

/// How many different denials are tracked at once.
pub(crate) const TRACKED: usize = 256;

/// The most bytes of a denial's message, operation or target that its lines show.
pub(crate) const MAX_TEXT: usize = 512;

/// What an audit line shows, and the run it belongs to.
#[derive(Clone)]
struct Line {
    operation: String,
    target: String,
    message: String,
    /// The run.
    run: RunKey,
    /// The run's `tracing` span (naming its workload), for the line of the count.
    span: tracing::Span,
}

struct Audit {
    repeats: Repeats<u64, Line>,
    /// Whether a thread writes the counts as they fall due.
    writer: bool,
}

fn audit() -> MutexGuard<'static, Audit> {
    static AUDIT: LazyLock<Mutex<Audit>> = LazyLock::new(|| {
        Mutex::new(Audit {
            repeats: Repeats::new(INTERVAL, TRACKED),
            writer: false,
        })
    });
    AUDIT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Logs for audit that `operation` on `target` was denied, in the words of `message`
/// (which names both), or counts it when an identical denial of the current run was
/// logged less than [`INTERVAL`] ago.
pub(crate) fn denied(operation: &str, target: &str, message: &str) {
    let run = RunKey::current();
    let key = key(run, operation, target, message);
    let (verdict, summary, start_writer) = {
        let mut audit = audit();
        let (verdict, summary) = audit.repeats.record(key, Instant::now(), || Line {
            operation: clipped(operation).into_owned(),
            target: clipped(target).into_owned(),
            message: clipped(message).into_owned(),
            run,
            span: tracing::Span::current(),
        });
        let start_writer = verdict == Verdict::Count && !audit.writer;
        audit.writer |= start_writer;
        (verdict, summary, start_writer)
    };
    if let Some(summary) = summary {
        log_summary(&summary);
    }
    if verdict == Verdict::Log {
        let (operation, target) = (clipped(operation), clipped(target));
        tracing::warn!(
            target: "sandloop::audit",
            operation = operation.as_ref(),
            target = target.as_ref(),
            "{}",
            clipped(message)
        );
    }
    if start_writer {
        start_writing();
    }
}

/// Writes the counts of the current run's repeated denials now: its run ends.
pub(crate) fn end_of_run() {
    let run = RunKey::current();
    let due = audit().repeats.take(Instant::now(), |line| line.run == run);
    log_due(due);
}

/// Which run a denial is of: its thread, or its seat at the shared reactor when it runs on
/// shared threads (its task moves between them).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum RunKey {
    Thread(ThreadId),
    Seat(usize),
}

impl RunKey {
    fn current() -> RunKey {
        match current_seat() {
            0 => RunKey::Thread(std::thread::current().id()),
            seat => RunKey::Seat(seat),
        }
    }
}

/// Identical denials have the same key: same run, same words. Keyed by a hash (with a
/// key of this process's own, so a workload cannot aim at collisions) rather than by the
/// texts, which may be long.
fn key(run: RunKey, operation: &str, target: &str, message: &str) -> u64 {
    static HASHING: LazyLock<std::collections::hash_map::RandomState> =
        LazyLock::new(Default::default);
    HASHING.hash_one((run, operation, target, message))
}

/// `text`, cut after [`MAX_TEXT`] bytes (on a character boundary) with a mark that it
/// was: what the workload names in a denial (a program, a path) can be long.
fn clipped(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_TEXT {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}[...]", &text[..end]))
}

/// Starts the thread that writes the counts as they fall due; it ends once none is
/// pending. Without it (no thread could be started), the counts are written at the
/// next identical denial or at the end of the run.
fn start_writing() {
    let started = std::thread::Builder::new()
        .name("sandloop audit".into())
        .spawn(write_until_idle);
    if let Err(err) = started {
        audit().writer = false;
        tracing::debug!(%err, "audit: no thread to write the counts of repeated denials");
    }
}

fn write_until_idle() {
    loop {
        let (due, next) = {
            let mut audit = audit();
            let due = audit.repeats.due(Instant::now());
            let next = audit.repeats.next_due();
            audit.writer = next.is_some();
            (due, next)
        };
        log_due(due);
        let Some(next) = next else {
            return;
        };
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn log_due(due: Due<Line>) {
    for summary in &due.summaries {
        log_summary(summary);
    }
    if let Some((count, over)) = due.untracked {
        tracing::warn!(
            target: "sandloop::audit",
            "{count} more denials not shown: over {TRACKED} different ones in {}",
            seconds(over)
        );
    }
}

/// The line of a denial that came again, in the span of its run.
fn log_summary(summary: &Summary<Line>) {
    let line = &summary.line;
    line.span.in_scope(|| {
        tracing::warn!(
            target: "sandloop::audit",
            operation = line.operation.as_str(),
            target = line.target.as_str(),
            "{} ({} more times in {})",
            line.message,
            summary.repeats,
            seconds(summary.over)
        );
    });
}

/// `over` in whole seconds, at least one: "10 s".
fn seconds(over: Duration) -> String {
    format!("{} s", over.as_secs_f64().round().max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_on_a_character_boundary_and_say_so() {
        let long = "é".repeat(MAX_TEXT);

        let cut = clipped(&long);

        assert!(cut.len() <= MAX_TEXT + "[...]".len(), "{}", cut.len());
        assert!(cut.ends_with("é[...]"), "{cut}");
        assert!(matches!(clipped("short"), Cow::Borrowed("short")));
    }

    #[test]
    fn runs_on_shared_threads_are_told_apart_by_their_seats() {
        assert_ne!(
            key(RunKey::Seat(1 << 44), "connect", "a", "m"),
            key(RunKey::Seat(2 << 44), "connect", "a", "m")
        );
        assert_eq!(
            RunKey::current(),
            RunKey::Thread(std::thread::current().id())
        );
    }

    #[test]
    fn the_same_words_on_another_thread_are_another_denial() {
        let here = RunKey::current();
        let there = std::thread::spawn(RunKey::current).join().unwrap();

        assert_eq!(
            key(here, "connect", "a", "m"),
            key(here, "connect", "a", "m")
        );
        assert_ne!(
            key(here, "connect", "a", "m"),
            key(there, "connect", "a", "m")
        );
        assert_ne!(
            key(here, "connect", "a", "m"),
            key(here, "connect", "b", "m")
        );
    }
}
