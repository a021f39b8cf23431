//! The bookkeeping behind the audit log's suppression of repeated lines, apart from the
//! clock, the threads and the log, so that it can be tested with instants made up.
//!
//! A line is logged the first time; an identical one (same key) within the interval that
//! follows is only counted; when the interval ends, a line with repeats gives one summary
//! and starts a new interval, a line without goes. At most `capacity` lines are tracked:
//! a new line past that is counted in an overflow of its own, summarized the same way.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// What to do with a line that [`Repeats::record`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Log it: nothing identical was logged in the interval before.
    Log,
    /// Only count it; a summary will say how many there were.
    Count,
}

/// How many times `line` came again, not logged, over the last `over`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Summary<T> {
    pub(super) line: T,
    pub(super) repeats: u64,
    pub(super) over: Duration,
}

/// The summaries due: one per line that came again, and the count of lines not tracked.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Due<T> {
    pub(super) summaries: Vec<Summary<T>>,
    /// Lines that were not logged because `capacity` others were tracked, and over how
    /// long.
    pub(super) untracked: Option<(u64, Duration)>,
}

impl<T> Due<T> {
    fn none() -> Due<T> {
        Due {
            summaries: Vec::new(),
            untracked: None,
        }
    }
}

struct Entry<T> {
    line: T,
    since: Instant,
    repeats: u64,
}

/// The lines logged in their current interval, and their repeats.
pub(super) struct Repeats<K, T> {
    interval: Duration,
    capacity: usize,
    entries: HashMap<K, Entry<T>>,
    /// Since when, and how many lines were neither logged nor tracked.
    untracked: Option<(Instant, u64)>,
}

impl<K: Eq + Hash, T: Clone> Repeats<K, T> {
    pub(super) fn new(interval: Duration, capacity: usize) -> Repeats<K, T> {
        Repeats {
            interval,
            capacity,
            entries: HashMap::new(),
            untracked: None,
        }
    }

    /// Records the line `key` at `now`; `line` makes what a summary will show. Also
    /// returns the summary of the previous interval of that line, if it ended with
    /// repeats that no flush has reported yet.
    pub(super) fn record(
        &mut self,
        key: K,
        now: Instant,
        line: impl FnOnce() -> T,
    ) -> (Verdict, Option<Summary<T>>) {
        if let Some(entry) = self.entries.get_mut(&key) {
            if now.duration_since(entry.since) < self.interval {
                entry.repeats += 1;
                return (Verdict::Count, None);
            }
            let summary = summarize(entry, now);
            *entry = Entry {
                line: line(),
                since: now,
                repeats: 0,
            };
            return (Verdict::Log, summary);
        }
        if self.entries.len() >= self.capacity {
            self.forget_quiet(now);
        }
        if self.entries.len() >= self.capacity {
            let (_, count) = self.untracked.get_or_insert((now, 0));
            *count += 1;
            return (Verdict::Count, None);
        }
        let entry = Entry {
            line: line(),
            since: now,
            repeats: 0,
        };
        self.entries.insert(key, entry);
        (Verdict::Log, None)
    }

    /// The summaries of the intervals ended by `now`: lines that came again start a new
    /// interval, the others are forgotten.
    pub(super) fn due(&mut self, now: Instant) -> Due<T> {
        let interval = self.interval;
        let mut due = Due::none();
        for entry in self.entries.values_mut() {
            if now.duration_since(entry.since) >= interval {
                due.summaries.extend(summarize(entry, now));
            }
        }
        self.forget_quiet(now);
        if let Some((since, count)) = self.untracked
            && now.duration_since(since) >= interval
        {
            due.untracked = Some((count, now.duration_since(since)));
            self.untracked = None;
        }
        due
    }

    /// Forgets the lines `ends` selects and the untracked count, with the summaries of
    /// what came again: what a run that ends still has to report.
    pub(super) fn take(&mut self, now: Instant, mut ends: impl FnMut(&T) -> bool) -> Due<T> {
        let mut due = Due::none();
        self.entries.retain(|_, entry| {
            if !ends(&entry.line) {
                return true;
            }
            due.summaries.extend(summarize(entry, now));
            false
        });
        if let Some((since, count)) = self.untracked.take() {
            due.untracked = Some((count, now.duration_since(since)));
        }
        due
    }

    /// When the next summary is due, if any line has repeats to report.
    pub(super) fn next_due(&self) -> Option<Instant> {
        let lines = self.entries.values().filter(|entry| entry.repeats > 0);
        lines
            .map(|entry| entry.since)
            .chain(self.untracked.map(|(since, _)| since))
            .min()
            .map(|since| since + self.interval)
    }

    /// Forgets the lines whose interval ended without a repeat.
    fn forget_quiet(&mut self, now: Instant) {
        let interval = self.interval;
        self.entries
            .retain(|_, entry| entry.repeats > 0 || now.duration_since(entry.since) < interval);
    }
}

/// The summary of `entry`'s interval if it had repeats; it starts a new interval at
/// `now`.
fn summarize<T: Clone>(entry: &mut Entry<T>, now: Instant) -> Option<Summary<T>> {
    if entry.repeats == 0 {
        return None;
    }
    let summary = Summary {
        line: entry.line.clone(),
        repeats: entry.repeats,
        over: now.duration_since(entry.since),
    };
    entry.since = now;
    entry.repeats = 0;
    Some(summary)
}

#[cfg(test)]
mod tests;
