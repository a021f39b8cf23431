//! Guest side of bench/benches/loop_core.rs: `bench_loop NAME ITERS` runs benchmark NAME for
//! ITERS iterations and prints `elapsed_ns=N`, timed inside the guest so that instantiating
//! the component is not measured.
//!
//! The micro benchmarks of bench/micro.sh (`call_soon`, `timers_100k_cancel_half`,
//! `task_create_await`, `future_set_result_await`) have twins doing the same work in
//! bench/micro/asyncio_micro.py (asyncio, uvloop) and bench/src/bin/tokio_micro.rs.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sandloop::EventLoop;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_default();
    let iters: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let lp = sandloop::new_event_loop();
    let elapsed = match name.as_str() {
        "call_soon" => call_soon(&lp, iters),
        "call_soon_chain" => call_soon_chain(&lp, iters),
        "call_later" => call_later(&lp, iters),
        "call_later_cancel" => call_later_cancel(&lp, iters),
        "call_later_in_task" => call_later_in_task(&lp, iters),
        "sleep_short" => sleep_short(&lp, iters),
        "create_task" => create_task(&lp, iters),
        "sleep0_switch" => sleep0_switch(&lp, iters),
        "timers_100k_cancel_half" => timers_100k_cancel_half(&lp, iters),
        "task_create_await" => task_create_await(&lp, iters),
        "future_set_result_await" => future_set_result_await(&lp, iters),
        other => {
            eprintln!("unknown benchmark {other:?}");
            std::process::exit(64);
        }
    };
    lp.close().expect("close");
    println!("elapsed_ns={}", elapsed.as_nanos());
}

/// Schedules `iters` callbacks, then runs them all: the cost of call_soon plus dispatch.
fn call_soon(lp: &EventLoop, iters: u64) -> Duration {
    let count = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    for _ in 0..iters {
        let c = count.clone();
        lp.call_soon(move || c.set(c.get() + 1));
    }
    lp.stop();
    lp.run_forever().expect("run");
    let took = start.elapsed();
    assert_eq!(count.get(), iters);
    took
}

/// Each callback schedules the next: one loop iteration (and one reactor poll) per callback.
fn call_soon_chain(lp: &EventLoop, iters: u64) -> Duration {
    fn step(lp: EventLoop, left: u64) {
        if left == 0 {
            lp.stop();
        } else {
            let next = lp.clone();
            lp.call_soon(move || step(next, left - 1));
        }
    }
    let start = Instant::now();
    let first = lp.clone();
    lp.call_soon(move || step(first, iters));
    lp.run_forever().expect("run");
    start.elapsed()
}

/// Schedules `iters` timers at spread-out times already due, then runs them: heap push, pop
/// and dispatch.
fn call_later(lp: &EventLoop, iters: u64) -> Duration {
    let count = Rc::new(Cell::new(0u64));
    let now = lp.time();
    let start = Instant::now();
    for i in 0..iters {
        let c = count.clone();
        // Due times in scrambled order, all in the past: the heap does real work.
        let when = now - 1.0 + ((i * 7919) % 1000) as f64 * 1e-6;
        lp.call_at(when, move || c.set(c.get() + 1));
    }
    lp.stop();
    lp.run_forever().expect("run");
    let took = start.elapsed();
    assert_eq!(count.get(), iters);
    took
}

/// Schedules and cancels `iters` timeouts (the common case of a deadline that is not hit),
/// then runs one iteration, which purges them.
fn call_later_cancel(lp: &EventLoop, iters: u64) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        let t = lp.call_later(Duration::from_secs(60 + i % 60), || ());
        t.cancel();
    }
    lp.stop();
    lp.run_forever().expect("run");
    start.elapsed()
}

/// `call_later_cancel` inside a task's step, where the loop runs: the timers one step
/// schedules share one clock reading.
fn call_later_in_task(lp: &EventLoop, iters: u64) -> Duration {
    let inner = lp.clone();
    let start = Instant::now();
    lp.run_until_complete(async move {
        for i in 0..iters {
            let t = inner.call_later(Duration::from_secs(60 + i % 60), || ());
            t.cancel();
        }
        Ok::<_, sandloop::Error>(())
    })
    .expect("run");
    start.elapsed()
}

/// One task sleeping 1 ns `iters` times: a timer, a wait and a task switch per sleep.
fn sleep_short(lp: &EventLoop, iters: u64) -> Duration {
    let start = Instant::now();
    lp.run_until_complete(async move {
        for _ in 0..iters {
            sandloop::sleep(Duration::from_nanos(1)).await?;
        }
        Ok::<_, sandloop::Error>(())
    })
    .expect("run");
    start.elapsed()
}

/// Creates `iters` tasks that complete at their first step, and runs them.
fn create_task(lp: &EventLoop, iters: u64) -> Duration {
    let count = Rc::new(Cell::new(0u64));
    let start = Instant::now();
    for _ in 0..iters {
        let c = count.clone();
        lp.create_task(async move { c.set(c.get() + 1) });
    }
    lp.stop();
    lp.run_forever().expect("run");
    let took = start.elapsed();
    assert_eq!(count.get(), iters);
    took
}

/// One task yielding to the loop `iters` times with `sleep(0)`: a task switch per iteration.
fn sleep0_switch(lp: &EventLoop, iters: u64) -> Duration {
    let start = Instant::now();
    lp.run_until_complete(async move {
        for _ in 0..iters {
            sandloop::sleep(Duration::ZERO).await?;
        }
        Ok::<_, sandloop::Error>(())
    })
    .expect("run");
    start.elapsed()
}

/// Timers per round of `timers_100k_cancel_half`.
const TIMERS_PER_ROUND: u64 = 100_000;

/// The timers' delays are spread over this much time: less than scheduling 100,000 timers
/// takes on any loop measured, so by the time they are all scheduled most are due and the
/// loop hardly waits: the run measures the timer machinery, not the clock.
const TIMER_SPREAD_NS: u64 = 1_000_000;

/// `iters` rounds of: schedule 100,000 timers with pseudo-random delays in [0, 1 ms),
/// cancel every other one, run the loop until the other 50,000 have fired. One round is
/// heap pushes in random order, lazy removal of the cancelled half, pops and dispatch.
fn timers_100k_cancel_half(lp: &EventLoop, iters: u64) -> Duration {
    let fired = Rc::new(Cell::new(0u64));
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut handles = Vec::with_capacity(TIMERS_PER_ROUND as usize);
    let start = Instant::now();
    for _ in 0..iters {
        fired.set(0);
        for _ in 0..TIMERS_PER_ROUND {
            let delay = Duration::from_nanos(rng.next() % TIMER_SPREAD_NS);
            let fired = fired.clone();
            let stopper = lp.clone();
            handles.push(lp.call_later(delay, move || {
                fired.set(fired.get() + 1);
                if fired.get() == TIMERS_PER_ROUND / 2 {
                    stopper.stop();
                }
            }));
        }
        for handle in handles.iter().step_by(2) {
            handle.cancel();
        }
        handles.clear();
        lp.run_forever().expect("run");
        assert_eq!(fired.get(), TIMERS_PER_ROUND / 2);
    }
    start.elapsed()
}

/// xorshift64: the same pseudo-random delays in every run, without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One task creates a task and awaits it, `iters` times: task creation, its first (and
/// only) step, completion, and waking the awaiting task (tokio: `spawn(..).await`).
fn task_create_await(lp: &EventLoop, iters: u64) -> Duration {
    let inner = lp.clone();
    let start = Instant::now();
    let sum = lp
        .run_until_complete(async move {
            let mut sum = 0u64;
            for i in 0..iters {
                sum += inner
                    .create_task(async move { Ok::<_, sandloop::Error>(i) })
                    .await?;
            }
            Ok::<_, sandloop::Error>(sum)
        })
        .expect("run");
    let took = start.elapsed();
    assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
    took
}

/// One task creates a future, schedules its `set_result` with `call_soon` and awaits it,
/// `iters` times: the future, the callback, and the wake-up of the awaiting task.
fn future_set_result_await(lp: &EventLoop, iters: u64) -> Duration {
    let inner = lp.clone();
    let start = Instant::now();
    let sum = lp
        .run_until_complete(async move {
            let mut sum = 0u64;
            for i in 0..iters {
                let fut = inner.create_future::<u64>();
                let setter = fut.clone();
                inner.call_soon(move || setter.set_result(i));
                sum += fut.await?;
            }
            Ok::<_, sandloop::Error>(sum)
        })
        .expect("run");
    let took = start.elapsed();
    assert_eq!(sum, iters * iters.saturating_sub(1) / 2);
    took
}
