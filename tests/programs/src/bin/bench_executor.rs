//! Guest side of bench/benches/executor.rs: `bench_executor MODE ROUNDS` runs ROUNDS rounds
//! of CPU-bound jobs (a fixed amount of work, about 50 ms) on a two-worker pool, one job per
//! round (`one`) or two at once (`two`), and prints `elapsed_ns=N`, timed inside the guest
//! after a warm-up round that starts the worker instances. On two free cores `two` takes
//! about as long as `one`; on one core, twice as long.

use std::time::Instant;

/// About 50 ms of work on the development machine.
const STEPS: u64 = 40_000_000;

use sandloop::{Error, EventLoop, Executor, gather};

sandloop::jobs! {
    /// A fixed amount of CPU work: `steps` steps of a random-number generator.
    fn crunch(steps: u64) -> Result<u64, String> {
        let mut x = 0u64;
        for _ in 0..steps {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        Ok(x & 1)
    }
}

async fn round(lp: &EventLoop, pool: &Executor, jobs: usize) -> Result<(), Error> {
    let spins = (0..jobs).map(|_| {
        let (lp, pool) = (lp.clone(), pool.clone());
        Box::pin(async move {
            lp.run_in_executor::<_, u64>(Some(&pool), "crunch", STEPS)
                .await
        })
    });
    gather(spins.collect::<Vec<_>>()).await.map(drop)
}

fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let jobs = match args.next().as_deref() {
        Some("one") => 1,
        Some("two") => 2,
        other => {
            eprintln!("unknown mode {other:?}: one or two");
            std::process::exit(64);
        }
    };
    let rounds: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(1);
    let elapsed = sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let pool = Executor::new(2);
        // Warm-up: start both workers.
        round(&lp, &pool, 2).await?;
        let start = Instant::now();
        for _ in 0..rounds {
            round(&lp, &pool, jobs).await?;
        }
        let elapsed = start.elapsed();
        pool.shutdown(&lp, true).await?;
        Ok::<_, Error>(elapsed)
    })?;
    println!("elapsed_ns={}", elapsed.as_nanos());
    Ok(())
}
