//! The seed's `run_in_executor` example, for a sandbox: a blocking job and a CPU-bound job
//! run on pools of sibling instances (host threads, memory of their own) while the loop
//! keeps serving its timers.
//!
//! ```text
//! cargo example run_in_executor
//! ```

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::{Error, Executor};

sandloop::jobs! {
    /// Blocking work (a slow file or device, a blocking library call) would stall the
    /// loop: run it in the pool. Here a 200 ms sleep stands in for it.
    fn blocking_io(what: String) -> Result<String, String> {
        std::thread::sleep(Duration::from_millis(200));
        Ok(format!("{what} done"))
    }

    /// CPU-bound work would stall the loop too.
    fn cpu_bound(n: u64) -> Result<u128, String> {
        Ok((0..u128::from(n)).map(|i| i * i).sum())
    }
}

fn main() -> sandloop::Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;

        // A timer every 10 ms shows the loop keeps running while the jobs do.
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = lp.create_task({
            let ticks = ticks.clone();
            async move {
                loop {
                    sandloop::sleep(Duration::from_millis(10)).await?;
                    ticks.set(ticks.get() + 1);
                }
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            }
        });

        // 1. The loop's default executor.
        let result: String = lp
            .run_in_executor(None, "blocking_io", "reading the log")
            .await?;
        println!("default pool: {result}");

        // 2. A pool of our own.
        let pool = Executor::new(2);
        let result: u128 = lp
            .run_in_executor(Some(&pool), "cpu_bound", 10_000_000u64)
            .await?;
        println!("custom pool: {result}");
        pool.shutdown(&lp, true).await?;

        ticker.cancel();
        println!(
            "timer callbacks meanwhile: {}",
            if ticks.get() >= 10 { "many" } else { "few" }
        );
        Ok::<_, Error>(())
    })
}
