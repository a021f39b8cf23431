//! The executor (after CPython's test_base_events executor cases): `run_in_executor` on a
//! pool of sibling instances, errors and traps in jobs, `set_default_executor`,
//! `shutdown_default_executor`; and callbacks posted from host threads.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sandloop::{Error, Executor, Result, gather, get_running_loop, run, sleep};
use test_programs::cases;

sandloop::jobs! {
    fn add(pair: (i64, i64)) -> Result<i64, String> {
        Ok(pair.0 + pair.1)
    }

    fn fail(message: String) -> Result<(), String> {
        Err(message)
    }

    fn crash(message: String) -> Result<(), String> {
        panic!("{message}")
    }

    /// Keeps a core busy for `ms` milliseconds; returns when it ran (ns since the epoch).
    fn spin(ms: u64) -> Result<(u128, u128), String> {
        let start = now_ns();
        let mut x = 0u64;
        while now_ns() - start < u128::from(ms) * 1_000_000 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        Ok((start, now_ns()))
    }

    /// Blocks for `ms` milliseconds, as blocking I/O would.
    fn block(ms: u64) -> Result<u64, String> {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

cases!(
    run_in_executor_returns_the_result,
    job_errors_come_back_as_errors,
    an_unknown_job_is_an_error,
    jobs_run_in_parallel,
    the_loop_runs_callbacks_while_a_job_runs,
    set_default_executor_is_used,
    shutdown_default_executor_waits_for_running_jobs,
    run_in_executor_after_shutdown_is_an_error,
    a_custom_executor_after_its_shutdown_is_an_error,
    close_drops_the_executor_without_waiting;
    checked:
    a_trap_fails_the_job_and_the_worker_is_replaced,
    shutdown_default_executor_timeout_warns,
    threadsafe_callbacks_run_in_order,
);

fn run_in_executor_returns_the_result() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let sum: i64 = lp.run_in_executor(None, "add", (2, 3)).await?;
        assert_eq!(sum, 5);
        Ok::<_, Error>(())
    })
}

fn job_errors_come_back_as_errors() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let err = lp
            .run_in_executor::<_, ()>(None, "fail", "boom")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Other(_)), "{err}");
        assert_eq!(err.to_string(), "boom");
        // Arguments of the wrong type are the job's error too.
        let err = lp
            .run_in_executor::<_, i64>(None, "add", "not a pair")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("cannot deserialize its argument"),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn a_trap_fails_the_job_and_the_worker_is_replaced() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let single = Executor::new(1);
        let err = lp
            .run_in_executor::<_, ()>(Some(&single), "crash", "worker down")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Runtime(_)), "{err}");
        assert!(err.to_string().contains("trapped"), "{err}");
        // The pool's only worker was replaced: the next job runs.
        let sum: i64 = lp.run_in_executor(Some(&single), "add", (20, 22)).await?;
        assert_eq!(sum, 42);
        single.shutdown(&lp, true).await
    })
}

fn an_unknown_job_is_an_error() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let err = lp
            .run_in_executor::<_, ()>(None, "no_such_job", ())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("no job named \"no_such_job\""),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn jobs_run_in_parallel() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let pool = Executor::new(2);
        let spin = |lp: sandloop::EventLoop, pool: Executor| async move {
            lp.run_in_executor::<_, (u128, u128)>(Some(&pool), "spin", 300u64)
                .await
        };
        let both = gather(vec![
            Box::pin(spin(lp.clone(), pool.clone())),
            Box::pin(spin(lp.clone(), pool.clone())),
        ])
        .await?;
        let ((s1, e1), (s2, e2)) = (both[0], both[1]);
        // Each started before the other ended: their running intervals overlap.
        assert!(
            s1 < e2 && s2 < e1,
            "[{s1}, {e1}] and [{s2}, {e2}] do not overlap"
        );
        pool.shutdown(&lp, true).await
    })
}

fn the_loop_runs_callbacks_while_a_job_runs() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let ticks = Rc::new(Cell::new(0u32));
        let ticker = lp.create_task({
            let ticks = ticks.clone();
            async move {
                loop {
                    sleep(Duration::from_millis(10)).await?;
                    ticks.set(ticks.get() + 1);
                }
                #[allow(unreachable_code)]
                Ok::<_, Error>(())
            }
        });
        let slept: u64 = lp.run_in_executor(None, "block", 300u64).await?;
        assert_eq!(slept, 300);
        assert!(
            ticks.get() >= 10,
            "only {} ticks while the job ran",
            ticks.get()
        );
        ticker.cancel();
        Ok::<_, Error>(())
    })
}

fn set_default_executor_is_used() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let mine = Executor::new(1);
        lp.set_default_executor(mine.clone());
        let sum: i64 = lp.run_in_executor(None, "add", (1, 1)).await?;
        assert_eq!(sum, 2);
        lp.shutdown_default_executor(None).await?;
        assert!(mine.is_shut_down());
        Ok::<_, Error>(())
    })
}

fn shutdown_default_executor_waits_for_running_jobs() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let job = lp.create_task({
            let lp = lp.clone();
            async move { lp.run_in_executor::<_, u64>(None, "block", 200u64).await }
        });
        // Let the job start on a worker.
        sleep(Duration::from_millis(50)).await?;
        let started = lp.time();
        lp.shutdown_default_executor(None).await?;
        assert!(
            lp.time() - started >= 0.1,
            "returned before the running job ended"
        );
        assert_eq!(job.await?, 200);
        Ok::<_, Error>(())
    })
}

fn run_in_executor_after_shutdown_is_an_error() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        lp.shutdown_default_executor(None).await?;
        let err = lp
            .run_in_executor::<_, i64>(None, "add", (1, 2))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Runtime(m) if m == "Executor shutdown has been called"),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn a_custom_executor_after_its_shutdown_is_an_error() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let pool = Executor::new(1);
        let _: i64 = lp.run_in_executor(Some(&pool), "add", (1, 2)).await?;
        pool.shutdown(&lp, false).await?;
        let err = lp
            .run_in_executor::<_, i64>(Some(&pool), "add", (1, 2))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Runtime(_)), "{err}");
        Ok::<_, Error>(())
    })
}

fn close_drops_the_executor_without_waiting() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let job = lp.create_task({
        let lp = lp.clone();
        async move { lp.run_in_executor::<_, u64>(None, "block", 2000u64).await }
    });
    lp.run_until_complete(sleep(Duration::from_millis(50)))?;
    let started = std::time::Instant::now();
    job.cancel();
    lp.run_until_complete(sleep(Duration::ZERO))?;
    lp.close()?;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "close waited for the job"
    );
    Ok(())
}

/// Prints nothing itself: the host checks the warning on stderr.
fn shutdown_default_executor_timeout_warns() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let _job = lp.create_task({
            let lp = lp.clone();
            async move { lp.run_in_executor::<_, u64>(None, "block", 3000u64).await }
        });
        sleep(Duration::from_millis(50)).await?;
        let started = lp.time();
        lp.shutdown_default_executor(Some(Duration::from_millis(100)))
            .await?;
        let waited = lp.time() - started;
        println!("waited {}", (0.09..1.0).contains(&waited));
        Ok::<_, Error>(())
    })
}

/// Host threads post `("greet", name)` messages; prints each and stops after three.
fn threadsafe_callbacks_run_in_order() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let seen = Rc::new(Cell::new(0));
    let (l, s) = (lp.clone(), seen.clone());
    lp.add_threadsafe_callback("greet", move |payload: Vec<u8>| {
        println!("hello {}", String::from_utf8_lossy(&payload));
        s.set(s.get() + 1);
        if s.get() == 3 {
            l.stop();
        }
    });
    lp.run_forever()?;
    assert!(lp.remove_threadsafe_callback("greet"));
    lp.close()?;
    println!("closed");
    // Stay alive a little so the host can see that posting to a closed loop fails.
    std::thread::sleep(Duration::from_millis(500));
    Ok(())
}
