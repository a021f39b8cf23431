//! Micro benchmarks of tokio's single-threaded runtime (`current_thread`): the peers of the
//! guest's (tests/programs/src/bin/bench_loop.rs) in bench/micro.sh, where tokio has the
//! same operation.
//!
//! ```text
//! tokio_micro NAME ITERS
//! ```
//! Prints `elapsed_ns=N`, timed inside the runtime around the work, as the guest times
//! itself. What each one measures, since tokio's vocabulary is not asyncio's:
//!
//! - `call_soon`: tokio has no plain callbacks. The nearest is spawning a trivial task:
//!   spawn ITERS tasks that each bump a counter, then await the last (they run in order).
//!   This is the guest's `create_task` benchmark, not its `call_soon`.
//! - `timers_100k_cancel_half`: ITERS rounds of: insert 100,000 entries with random delays
//!   in [0, 1 ms) into a `tokio_util::time::DelayQueue` (tokio's queue of timers), remove
//!   every other one (cancel), and take the rest as they expire. DelayQueue keeps its
//!   entries in a hierarchical timing wheel of millisecond slots, as tokio's own timer does,
//!   and runs no callback: it hands back the expired entries, which the loop here counts.
//! - `task_create_await`: one task `spawn`s a task and awaits its `JoinHandle`, ITERS times.
//! - `future_set_result_await`: one task creates a `oneshot` channel, hands the sender to a
//!   resolver task through an unbounded `mpsc` queue (the stand-in for `call_soon`, which
//!   tokio lacks), and awaits the receiver, ITERS times. That is two task wake-ups per
//!   round where the guest has a callback and one wake-up.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use tokio::sync::{mpsc, oneshot};
use tokio::task::LocalSet;
use tokio_util::time::DelayQueue;

/// Timers per round of `timers_100k_cancel_half`.
const TIMERS_PER_ROUND: u64 = 100_000;
/// The timers' delays are spread over this much time (as in the guest's benchmark).
const TIMER_SPREAD_NS: u64 = 1_000_000;

fn main() -> ExitCode {
    match run() {
        Ok(elapsed) => {
            println!("elapsed_ns={}", elapsed.as_nanos());
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("tokio_micro: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Duration> {
    let mut args = std::env::args().skip(1);
    let name = args.next().context("usage: tokio_micro NAME ITERS")?;
    let iters: u64 = args
        .next()
        .context("usage: tokio_micro NAME ITERS")?
        .parse()
        .context("ITERS must be a number")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("build the runtime")?;
    // A LocalSet lets the tasks hold `Rc`s, as the guest's do; the benchmark itself runs
    // as a task, like the guest's and asyncio's.
    let local = LocalSet::new();
    let elapsed = match name.as_str() {
        "call_soon" => local.block_on(&runtime, spawn_trivial(iters)),
        "timers_100k_cancel_half" => local.block_on(&runtime, timers_100k_cancel_half(iters)),
        "task_create_await" => local.block_on(&runtime, task_create_await(iters)),
        "future_set_result_await" => local.block_on(&runtime, future_set_result_await(iters)),
        other => bail!("unknown benchmark {other:?}"),
    };
    Ok(elapsed)
}

/// Spawns `iters` tasks that bump a counter, awaits the last.
async fn spawn_trivial(iters: u64) -> Duration {
    tokio::task::spawn_local(async move {
        let count = Rc::new(Cell::new(0u64));
        let start = Instant::now();
        let mut last = None;
        for _ in 0..iters {
            let count = count.clone();
            last = Some(tokio::task::spawn_local(async move {
                count.set(count.get() + 1);
            }));
        }
        if let Some(last) = last {
            last.await.expect("task");
        }
        let took = start.elapsed();
        assert_eq!(count.get(), iters);
        took
    })
    .await
    .expect("benchmark task")
}

/// `iters` rounds of 100,000 timers in a DelayQueue, half removed.
async fn timers_100k_cancel_half(iters: u64) -> Duration {
    tokio::task::spawn_local(async move {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut queue: DelayQueue<u64> = DelayQueue::with_capacity(TIMERS_PER_ROUND as usize);
        let mut keys = Vec::with_capacity(TIMERS_PER_ROUND as usize);
        let start = Instant::now();
        for _ in 0..iters {
            for i in 0..TIMERS_PER_ROUND {
                let delay = Duration::from_nanos(rng.next() % TIMER_SPREAD_NS);
                keys.push(queue.insert(i, delay));
            }
            for key in keys.iter().step_by(2) {
                queue.remove(key);
            }
            keys.clear();
            let mut fired = 0u64;
            while std::future::poll_fn(|cx| queue.poll_expired(cx))
                .await
                .is_some()
            {
                fired += 1;
            }
            assert_eq!(fired, TIMERS_PER_ROUND / 2);
        }
        start.elapsed()
    })
    .await
    .expect("benchmark task")
}

/// One task spawns a task and awaits it, `iters` times.
async fn task_create_await(iters: u64) -> Duration {
    tokio::task::spawn_local(async move {
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..iters {
            sum += tokio::task::spawn_local(async move { i })
                .await
                .expect("task");
        }
        let took = start.elapsed();
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
        took
    })
    .await
    .expect("benchmark task")
}

/// One task awaits a oneshot that a resolver task completes, `iters` times.
async fn future_set_result_await(iters: u64) -> Duration {
    tokio::task::spawn_local(async move {
        let (queue, mut requests) = mpsc::unbounded_channel::<(oneshot::Sender<u64>, u64)>();
        let resolver = tokio::task::spawn_local(async move {
            while let Some((tx, value)) = requests.recv().await {
                let _ = tx.send(value);
            }
        });
        let start = Instant::now();
        let mut sum = 0u64;
        for i in 0..iters {
            let (tx, rx) = oneshot::channel();
            queue.send((tx, i)).expect("resolver alive");
            sum += rx.await.expect("resolved");
        }
        let took = start.elapsed();
        drop(queue);
        resolver.await.expect("resolver");
        assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
        took
    })
    .await
    .expect("benchmark task")
}

/// xorshift64, as in the guest's benchmark: the same delays in every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
