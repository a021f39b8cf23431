//! Guest side of bench/benches/loop_core.rs: `bench_loop NAME ITERS` runs benchmark NAME for
//! ITERS iterations and prints `elapsed_ns=N`, timed inside the guest so that instantiating
//! the component is not measured.

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
        "create_task" => create_task(&lp, iters),
        "sleep0_switch" => sleep0_switch(&lp, iters),
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
