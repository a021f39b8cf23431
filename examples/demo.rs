//! A tour of the loop in one workload: callbacks, timers, tasks, a queue between a producer
//! and consumers, `gather`, `wait_for` with a deadline, and cancellation.
//!
//! Run it with `cargo demo` (or `cargo example demo`).

use std::time::Duration;

use sandloop::{Error, Queue};

fn main() -> sandloop::Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let started = lp.time();
        let elapsed = move || format!("{:5.3}s", sandloop::get_event_loop().time() - started);

        println!(
            "[{}] sandloop demo: an asyncio-style loop inside a wasm sandbox",
            elapsed()
        );

        // Callbacks and timers, in asyncio's order: call_soon FIFO, timers by due time.
        lp.call_later(Duration::from_millis(30), move || {
            println!("[{}] timer: 30 ms", elapsed())
        });
        lp.call_later(Duration::from_millis(10), move || {
            println!("[{}] timer: 10 ms", elapsed())
        });
        lp.call_soon(move || println!("[{}] call_soon runs first", elapsed()));

        // A producer and two consumers sharing a bounded queue.
        let queue: Queue<u32> = Queue::new(2);
        let consumers: Vec<_> = (1..=2)
            .map(|id| lp.create_task(consumer(id, queue.clone(), elapsed)))
            .collect();
        for job in 1..=6 {
            queue.put(job).await?;
        }
        queue.join().await?;
        println!("[{}] all 6 jobs done", elapsed());
        for consumer in &consumers {
            consumer.cancel();
        }

        // gather: run concurrently, results in order.
        let squares = sandloop::gather((1..=4u64).map(|n| async move {
            sandloop::sleep(Duration::from_millis(10 * (5 - n))).await?;
            Ok::<_, Error>(n * n)
        }))
        .await?;
        println!("[{}] gather -> {squares:?}", elapsed());

        // wait_for: a deadline that cancels what it waits for.
        let slow = sandloop::sleep(Duration::from_secs(5));
        match sandloop::wait_for(slow, Duration::from_millis(20)).await {
            Err(Error::Timeout) => println!("[{}] wait_for: timed out after 20 ms", elapsed()),
            other => println!("[{}] wait_for: unexpected {other:?}", elapsed()),
        }
        Ok::<_, Error>(())
    })
}

/// Takes jobs from the queue until cancelled; job `n` takes `5 * n` ms.
async fn consumer(
    id: u32,
    queue: Queue<u32>,
    elapsed: impl Fn() -> String,
) -> sandloop::Result<()> {
    loop {
        let job = queue.get().await?;
        sandloop::sleep(Duration::from_millis(5 * u64::from(job))).await?;
        println!("[{}] consumer {id} finished job {job}", elapsed());
        queue.task_done()?;
    }
}
