//! What one instance uses while it runs: the time its guest ran, the network bytes it
//! moved and the handles it holds, counted by the instance's own thread and read from any
//! other ([`RunningWorkload::stats`](crate::RunningWorkload::stats)).
//!
//! The counters are relaxed atomics in an `Arc` that the instance's store and its
//! `RunningWorkload` share: counting costs a relaxed load and store where it happens
//! (per `recv`, `send` or stream read/write, per `wait`), and reading never touches the
//! store, which only the instance's thread may. What each counts, and when:
//! - CPU time: the guest's time outside `reactor.wait` (from the moment the last `wait`
//!   returned), charged when it enters `wait` and, on a runtime with epoch checks
//!   (`RuntimeOptions::interruptible`, always on for shared threads), at every tick of the
//!   watchdog while it runs (10 ms), so that a guest spinning in a callback shows. It is
//!   wall-clock time: on shared threads, a callback that yielded its thread is charged
//!   the time it waited for its turn too. What ran since the last charge is not in it
//!   yet: at most a tick of a callback running now, or of the one that ended the run.
//! - Bytes in and out: what the OS took or gave on the instance's sockets of sandloop's
//!   `net` interface, as counted by each `recv`, `send`, `recv-from`, `send-to`,
//!   `send-file`, and each read and write a completion-mode stream does (TCP, UDP and
//!   unix sockets alike). For TLS that is the bytes on the wire: records, not plaintext.
//!   Pipes (subprocess stdio) are not network and do not count, nor do the sockets of
//!   WASI's own `wasi:sockets`, whose I/O wasmtime-wasi does.
//! - Open handles: the resources the instance holds, counted as the handle limit counts
//!   them (every entry of its resource table, plus its children's untaken pipe ends),
//!   counted when the instance enters `wait`, at most once per [`HANDLES_EVERY`]: the
//!   count walks the table, and an instance with 10,000 connections waits thousands of
//!   times a second. So the figure may miss what a burst opened or closed in the last
//!   10 ms before the instance went idle. 0 once the run has ended and released
//!   everything.

use std::iter::Sum;
use std::ops::{Add, AddAssign};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// What an instance has used so far: a snapshot of its counters.
///
/// Snapshots add up (`+`, `+=`, `sum()`), e.g. over the instances of one tenant; the
/// sum's `open_handles` is then the handles they hold together.
///
/// ```no_run
/// use sandloop_host::{RunOptions, Runtime};
///
/// let workload = Runtime::new()?.load("server.wasm".as_ref())?;
/// let running = workload.start(RunOptions::default())?;
/// let stats = running.stats();
/// println!("{} ms, {} bytes in, {} handles", stats.cpu_time.as_millis(), stats.bytes_in,
///          stats.open_handles);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The time the guest ran outside `reactor.wait`, up to its last entry into `wait`
    /// or the last tick of its runtime's epoch (with epoch checks).
    pub cpu_time: Duration,
    /// Network bytes the instance received (TLS: on the wire).
    pub bytes_in: u64,
    /// Network bytes the instance sent (TLS: on the wire).
    pub bytes_out: u64,
    /// The resources the instance holds (as the handle limit counts them).
    pub open_handles: u64,
}

impl Add for Stats {
    type Output = Stats;

    fn add(mut self, other: Stats) -> Stats {
        self += other;
        self
    }
}

impl AddAssign for Stats {
    fn add_assign(&mut self, other: Stats) {
        self.cpu_time += other.cpu_time;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.open_handles += other.open_handles;
    }
}

impl Sum for Stats {
    fn sum<I: Iterator<Item = Stats>>(iter: I) -> Stats {
        iter.fold(Stats::default(), Add::add)
    }
}

/// The counters of one instance, shared by its store (which counts) and whoever reads
/// them. Only the thread running the instance writes them, one at a time (see [`add`]);
/// relaxed ordering is enough, as no other memory is published through them.
#[derive(Debug)]
pub(crate) struct Counters {
    /// The instant `charged_to` counts from.
    origin: Instant,
    /// Up to when the guest's time is charged (ns after `origin`): the part of a callback
    /// a tick charged is not charged again when the callback returns to `wait`.
    charged_to: AtomicU64,
    cpu_ns: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    open_handles: AtomicU64,
    /// When the handles were last counted (ns after `origin`).
    handles_counted_at: AtomicU64,
}

/// How often at most the handles are counted (see the module's docs).
pub const HANDLES_EVERY: Duration = Duration::from_millis(10);

impl Counters {
    pub(crate) fn new() -> Counters {
        Counters {
            origin: Instant::now(),
            charged_to: AtomicU64::new(0),
            cpu_ns: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            open_handles: AtomicU64::new(0),
            handles_counted_at: AtomicU64::new(0),
        }
    }

    /// Charges the guest its time from `since` (when it last left `wait`) to now, less
    /// what an earlier charge of the same callback took.
    pub(crate) fn charge(&self, since: Instant) {
        self.charge_at(since);
    }

    /// [`charge`](Counters::charge); returns now (ns after `origin`).
    fn charge_at(&self, since: Instant) -> u64 {
        let now = self.nanos(Instant::now());
        let from = self.nanos(since).max(self.charged_to.load(Relaxed));
        add(&self.cpu_ns, now.saturating_sub(from));
        self.charged_to.store(now, Relaxed);
        now
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The guest enters `wait`: charges it the time since `callback_since`, and notes the
    /// `handles` it holds now if the last count is [`HANDLES_EVERY`] old.
    pub(crate) fn entering_wait(&self, callback_since: Instant, handles: impl FnOnce() -> usize) {
        let now = self.charge_at(callback_since);
        let last = self.handles_counted_at.load(Relaxed);
        if last == 0 || now.saturating_sub(last) >= HANDLES_EVERY.as_nanos() as u64 {
            self.open_handles.store(handles() as u64, Relaxed);
            self.handles_counted_at.store(now.max(1), Relaxed);
        }
    }

    /// Counts `bytes` received from the network.
    pub(crate) fn received(&self, bytes: usize) {
        add(&self.bytes_in, bytes as u64);
    }

    /// Counts `bytes` sent to the network.
    pub(crate) fn sent(&self, bytes: usize) {
        add(&self.bytes_out, bytes as u64);
    }

    /// The counters now; `ended`: the run is over and its store released everything it
    /// held, whatever the last count said.
    pub(crate) fn snapshot(&self, ended: bool) -> Stats {
        Stats {
            cpu_time: Duration::from_nanos(self.cpu_ns.load(Relaxed)),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            open_handles: match ended {
                true => 0,
                false => self.open_handles.load(Relaxed),
            },
        }
    }
}

/// Adds `n` to a counter that only one thread writes at a time: a load and a store, not
/// a read-modify-write, whose locked instruction would cost several times more on the
/// hot path (per `recv`, `send` and stream read or write). The store (the instance's
/// data) moves between threads only with a synchronisation that orders the writes.
fn add(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_add_up_field_by_field() {
        let a = Stats {
            cpu_time: Duration::from_millis(3),
            bytes_in: 10,
            bytes_out: 20,
            open_handles: 4,
        };
        let b = Stats {
            cpu_time: Duration::from_millis(5),
            bytes_in: 1,
            bytes_out: 2,
            open_handles: 1,
        };
        let total: Stats = [a, b].into_iter().sum();
        assert_eq!(total.cpu_time, Duration::from_millis(8));
        assert_eq!(
            (total.bytes_in, total.bytes_out, total.open_handles),
            (11, 22, 5)
        );
        assert_eq!(a + b, total);
    }

    #[test]
    fn a_callback_charged_at_a_tick_is_not_charged_twice() {
        let counters = Counters::new();
        let since = Instant::now();
        std::thread::sleep(Duration::from_millis(20));
        counters.charge(since);
        let at_tick = counters.snapshot(false).cpu_time;
        std::thread::sleep(Duration::from_millis(20));
        counters.charge(since);
        let total = counters.snapshot(false).cpu_time;
        let elapsed = since.elapsed();
        assert!(at_tick >= Duration::from_millis(20), "{at_tick:?}");
        // Once from `since` to now, not twice over the first 20 ms.
        assert!(
            total >= Duration::from_millis(40) && total <= elapsed,
            "{total:?} of {elapsed:?}"
        );
        // A later callback is charged from its own start, not from the last charge: the
        // 20 ms between them were spent waiting.
        std::thread::sleep(Duration::from_millis(20));
        counters.charge(Instant::now());
        assert!(counters.snapshot(false).cpu_time - total < Duration::from_millis(20));
    }

    #[test]
    fn an_ended_run_holds_no_handles_but_keeps_its_totals() {
        let counters = Counters::new();
        counters.received(7);
        counters.sent(9);
        counters.entering_wait(Instant::now(), || 3);
        assert_eq!(counters.snapshot(false).open_handles, 3);
        let ended = counters.snapshot(true);
        assert_eq!(
            (ended.bytes_in, ended.bytes_out, ended.open_handles),
            (7, 9, 0)
        );
    }
}
