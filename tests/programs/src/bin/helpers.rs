//! The helpers of asyncio's package, after `test_tasks.py`, `test_locks.py` and
//! `test_queues.py`: `sleep`, `wait_for`, `gather`, `gather_settled`, `shield`, `wait`,
//! `Event`, `Lock`, `Semaphore`, `Queue`.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::{
    Error, Event, EventLoop, ExceptionContext, Lock, Queue, Result, ReturnWhen, Semaphore,
    create_task, gather, gather_settled, shield, sleep, wait, wait_for,
};
use test_programs::{DropGuard, Log};

/// Sends the messages of the loop's exception handler to `log`.
fn record_exceptions(lp: &EventLoop, log: &Log) {
    let log = log.clone();
    lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
        log.push(ctx.message.clone());
    }));
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn long() -> Duration {
    Duration::from_secs(10)
}

/// Lets every task that is ready run one step (and the callbacks they schedule run too).
async fn yield_a_few_times() -> Result<()> {
    for _ in 0..3 {
        sleep(Duration::ZERO).await?;
    }
    Ok(())
}

/// Sleeps `delay`, records `"<name> done"` and returns `value`.
async fn after(delay: Duration, name: &'static str, value: u32, log: Log) -> Result<u32> {
    sleep(delay).await?;
    log.push(format!("{name} done"));
    Ok(value)
}

/// Waits for `go`, records `"<name> done"` and returns 1.
async fn done_when_set(go: Event, name: &'static str, log: Log) -> Result<u32> {
    go.wait().await?;
    log.push(format!("{name} done"));
    Ok(1)
}

/// Children of different kinds for one `gather`.
type BoxedWork = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u32>>>>;

/// Sleeps `delay`, then fails with `msg`.
async fn fail_after(delay: Duration, msg: &'static str, log: Log) -> Result<u32> {
    sleep(delay).await?;
    log.push(format!("{msg} failed"));
    Err(Error::other(msg))
}

// ---- sleep -------------------------------------------------------------------------------

fn sleep_zero_lets_the_other_ready_tasks_run() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let step = |name: &'static str| {
            let log = l.clone();
            async move {
                log.push(format!("{name}1"));
                sleep(Duration::ZERO).await?;
                log.push(format!("{name}2"));
                Ok::<_, Error>(())
            }
        };
        let a = create_task(step("A"));
        let b = create_task(step("B"));
        a.await?;
        b.await
    })?;

    for line in log.get() {
        println!("{line}");
    }
    assert_eq!(log.get(), ["A1", "B1", "A2", "B2"]);
    Ok(())
}

fn sleep_takes_at_least_the_delay_on_the_loop_clock() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        for delay in [ms(1), ms(15), ms(30)] {
            let start = lp.time();
            sleep(delay).await?;
            let elapsed = lp.time() - start;
            // The loop runs a timer once its due time is reached, give or take the clock's
            // resolution (1 ns in the loop).
            assert!(
                elapsed + 1e-6 >= delay.as_secs_f64(),
                "sleep({delay:?}) returned after {elapsed} s"
            );
        }
        Ok::<_, Error>(())
    })
}

fn sleeping_tasks_wake_in_order_of_their_delays() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let tasks = [
            create_task(after(ms(30), "c", 3, l.clone())),
            create_task(after(ms(10), "a", 1, l.clone())),
            create_task(after(ms(20), "b", 2, l.clone())),
        ];
        for t in tasks {
            t.await?;
        }
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["a done", "b done", "c done"]);
    Ok(())
}

// ---- wait_for ----------------------------------------------------------------------------

fn wait_for_past_its_timeout_gives_timeout_and_cancels_the_inner_task() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let inner_log = l.clone();
        let got = wait_for(
            async move {
                let _guard = DropGuard {
                    log: inner_log.clone(),
                    name: "inner",
                };
                sleep(long()).await?;
                inner_log.push("inner finished");
                Ok::<_, Error>(1)
            },
            ms(10),
        )
        .await;
        assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
        assert_eq!(
            l.get(),
            ["inner dropped"],
            "cancelled before wait_for returned"
        );
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["inner dropped"]);
    Ok(())
}

fn timeout_that_passes_gives_timeout_and_drops_the_work() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let inner_log = l.clone();
        let got = sandloop::timeout(ms(10), async move {
            let _guard = DropGuard {
                log: inner_log.clone(),
                name: "inner",
            };
            sleep(long()).await?;
            inner_log.push("inner finished");
            Ok::<_, Error>(1)
        })
        .await;
        assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
        assert_eq!(l.get(), ["inner dropped"]);
        Ok::<_, Error>(())
    })?;
    assert_eq!(log.get(), ["inner dropped"]);
    Ok(())
}

fn timeout_that_is_not_reached_returns_the_value() -> Result<()> {
    let v = sandloop::run(async {
        sandloop::timeout(long(), async {
            sleep(ms(1)).await?;
            Ok::<_, Error>(7)
        })
        .await
    })?;
    assert_eq!(v, 7);
    Ok(())
}

fn timeout_none_never_expires() -> Result<()> {
    let v = sandloop::run(async {
        sandloop::timeout(None, async {
            sleep(ms(5)).await?;
            Ok::<_, Error>(3)
        })
        .await
    })?;
    assert_eq!(v, 3);
    Ok(())
}

/// asyncio cancels the task on expiry, and with it the task it awaits.
fn timeout_cancels_the_task_it_was_awaiting() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let inner = lp.create_task(sleep(long()));
        let probe = inner.clone();
        let got = sandloop::timeout(ms(5), inner).await;
        assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
        yield_a_few_times().await?;
        assert!(probe.cancelled());
        Ok::<_, Error>(())
    })
}

fn timeout_at_takes_a_deadline_on_the_loop_clock() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let start = lp.time();
        let got = sandloop::timeout_at(start + 0.02, sleep(long())).await;
        assert!(matches!(got, Err(Error::Timeout)), "{got:?}");
        assert!(lp.time() - start >= 0.02);
        let past = sandloop::timeout_at(start - 1.0, sleep(long())).await;
        assert!(matches!(past, Err(Error::Timeout)), "{past:?}");
        Ok::<_, Error>(())
    })
}

fn wait_for_that_completes_in_time_returns_the_value() -> Result<()> {
    let got = sandloop::run(async {
        wait_for(after(ms(5), "inner", 5, Log::new()), Duration::from_secs(5)).await
    })?;

    assert_eq!(got, 5);
    Ok(())
}

fn wait_for_without_timeout_waits_for_the_result() -> Result<()> {
    let got = sandloop::run(async { wait_for(after(ms(20), "inner", 7, Log::new()), None).await })?;
    assert_eq!(got, 7);
    Ok(())
}

fn wait_for_returns_the_error_of_the_inner_awaitable() -> Result<()> {
    let got =
        sandloop::run(async { wait_for(fail_after(ms(1), "inner", Log::new()), ms(500)).await });
    assert_eq!(got.unwrap_err().to_string(), "inner");
    Ok(())
}

/// `wait_for` needs no `'static` future: it runs the awaitable in the current task, as
/// asyncio's (3.12+) does with `timeout()`.
fn wait_for_takes_a_borrowed_future() -> Result<()> {
    sandloop::run(async {
        let words = String::from("borrowed future");
        let joined = wait_for(
            async {
                sleep(ms(1)).await?;
                Ok::<_, Error>(words.to_uppercase())
            },
            long(),
        )
        .await?;
        assert_eq!(joined, "BORROWED FUTURE");
        let mut steps = 0;
        let late = wait_for(
            async {
                steps += 1;
                sleep(long()).await?;
                steps += 1;
                Ok::<_, Error>(())
            },
            ms(5),
        )
        .await;
        assert!(matches!(late, Err(Error::Timeout)), "{late:?}");
        assert_eq!(steps, 1, "the borrowed future was dropped at the deadline");
        Ok::<_, Error>(())
    })
}

fn cancelling_the_task_in_wait_for_cancels_the_inner_awaitable() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let inner_log = l.clone();
        let waiter = create_task(wait_for(
            async move {
                let _guard = DropGuard {
                    log: inner_log,
                    name: "inner",
                };
                sleep(long()).await
            },
            long(),
        ));
        sleep(ms(1)).await?;
        waiter.cancel();
        assert!(matches!(waiter.await, Err(Error::Cancelled(_))));
        yield_a_few_times().await
    })?;

    assert_eq!(log.get(), ["inner dropped"]);
    Ok(())
}

// ---- Streams: as_completed, Queue::stream ------------------------------------------------

/// `as_completed` yields the tasks in the order they finish, then ends.
fn as_completed_yields_tasks_in_the_order_they_finish() -> Result<()> {
    use futures_util::StreamExt;
    sandloop::run(async {
        let tasks = [30, 10, 20, 0].map(|delay| {
            create_task(async move {
                sleep(ms(delay)).await?;
                Ok::<_, Error>(delay)
            })
        });
        let mut done = sandloop::as_completed(tasks.clone());
        assert_eq!(futures_util::Stream::size_hint(&done), (4, Some(4)));
        let mut order = Vec::new();
        while let Some(task) = done.next().await {
            assert!(task.done());
            order.push(task.result()?);
        }
        assert_eq!(order, [0, 10, 20, 30]);
        assert!(done.next().await.is_none(), "the stream stays ended");
        // A failed and a cancelled task are yielded too, as done tasks.
        let failing = create_task(async { Err::<u64, _>(Error::other("boom")) });
        let cancelled = create_task(async {
            sleep(long()).await?;
            Ok::<_, Error>(1)
        });
        cancelled.cancel();
        let got: Vec<_> = sandloop::as_completed([failing, cancelled]).collect().await;
        assert_eq!(got.len(), 2);
        assert!(got.iter().any(|t| t.cancelled()));
        assert!(got.iter().any(|t| matches!(t.exception(), Ok(Some(_)))));
        Ok::<_, Error>(())
    })
}

/// A stream dropped before the end leaves its tasks running.
fn as_completed_dropped_early_leaves_the_tasks_running() -> Result<()> {
    use futures_util::StreamExt;
    sandloop::run(async {
        let fast = create_task(async { 1u8 });
        let slow = create_task(async {
            sleep(ms(20)).await?;
            Ok::<_, Error>(2u8)
        });
        let mut done = sandloop::as_completed([fast, slow.clone()]);
        assert_eq!(done.next().await.expect("the fast task").result()?, 1);
        drop(done);
        assert_eq!(slow.await?, 2);
        Ok::<_, Error>(())
    })
}

/// `Queue::stream` takes items as `get` does: in order, waiting for the next put, and a
/// dropped stream passes its turn to the next getter.
fn queue_stream_takes_items_as_get_does() -> Result<()> {
    use futures_util::StreamExt;
    sandloop::run(async {
        let q = sandloop::Queue::new(2);
        let producer = produce(&q, 5);
        let got: Vec<u32> = q.stream().take(5).collect().await;
        assert_eq!(got, [0, 1, 2, 3, 4]);
        producer.await?;

        let mut waiting = q.stream();
        let first = sandloop::timeout(ms(5), waiting.next()).await;
        assert!(matches!(first, Err(Error::Timeout)), "nothing to take yet");
        drop(waiting);
        let getter = create_task({
            let q = q.clone();
            async move { q.get().await }
        });
        sleep(ms(1)).await?;
        q.put_nowait(9).expect("room");
        assert_eq!(sandloop::timeout(long(), getter).await?, 9);
        Ok::<_, Error>(())
    })
}

// ---- gather ------------------------------------------------------------------------------

fn gather_returns_results_in_order_even_when_they_complete_in_reverse() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    let got = sandloop::run(async move {
        gather([
            after(ms(30), "first", 1, l.clone()),
            after(ms(20), "second", 2, l.clone()),
            after(ms(10), "third", 3, l.clone()),
        ])
        .await
    })?;

    assert_eq!(got, [1, 2, 3]);
    assert_eq!(log.get(), ["third done", "second done", "first done"]);
    Ok(())
}

fn gather_of_nothing_is_empty() -> Result<()> {
    let got = sandloop::run(async { gather(Vec::<std::future::Ready<Result<u32>>>::new()).await })?;
    assert!(got.is_empty());
    Ok(())
}

fn gather_returns_the_first_error_and_the_other_children_keep_running() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let go = Event::new();
        let got = gather([
            Box::pin(done_when_set(go.clone(), "slow", l.clone())) as BoxedWork,
            Box::pin(fail_after(ms(1), "quick", l.clone())),
        ])
        .await;
        assert_eq!(got.unwrap_err().to_string(), "quick");
        assert_eq!(l.get(), ["quick failed"], "returned at the first error");

        go.set();
        yield_a_few_times().await?;
        Ok::<_, Error>(())
    })?;

    assert_eq!(
        log.get(),
        ["quick failed", "slow done"],
        "the other child ran to completion"
    );
    Ok(())
}

fn gather_does_not_report_errors_of_children_after_its_first_error() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let reports = Log::new();
    record_exceptions(&lp, &reports);
    let log = Log::new();
    let l = log.clone();
    lp.run_until_complete(async move {
        let got = gather([
            fail_after(ms(1), "first", l.clone()),
            fail_after(ms(15), "second", l.clone()),
        ])
        .await;
        assert_eq!(got.unwrap_err().to_string(), "first");
        sleep(ms(40)).await?;
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["first failed", "second failed"]);
    assert!(reports.get().is_empty(), "{:?}", reports.get());
    lp.close()
}

fn cancelling_the_task_awaiting_gather_cancels_the_children() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let child = |name: &'static str| {
            let log = l.clone();
            async move {
                let _guard = DropGuard { log, name };
                sleep(long()).await
            }
        };
        let outer = create_task(gather([child("a"), child("b")]));
        sleep(ms(1)).await?;

        assert!(outer.cancel());
        assert!(matches!(outer.await, Err(Error::Cancelled(_))));
        yield_a_few_times().await
    })?;

    let mut dropped = log.get();
    dropped.sort();
    assert_eq!(dropped, ["a dropped", "b dropped"]);
    Ok(())
}

fn gather_with_a_cancelled_child_gives_cancelled() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let a = lp.create_future::<u32>();
        let b = lp.create_future::<u32>();
        let gathering = create_task(gather([a.clone(), b.clone()]));
        yield_a_few_times().await?;

        a.set_result(1)?;
        b.cancel();

        assert!(matches!(gathering.clone().await, Err(Error::Cancelled(_))));
        Ok::<_, Error>(())
    })
}

fn gather_settled_returns_every_outcome_in_order() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    let got = sandloop::run(async move {
        let outcomes = gather_settled([
            Box::pin(after(ms(20), "one", 1, l.clone())) as BoxedWork,
            Box::pin(fail_after(ms(1), "two", l.clone())),
            Box::pin(after(ms(5), "three", 3, l.clone())),
        ])
        .await;
        Ok::<_, Error>(outcomes)
    })?;

    assert_eq!(got.len(), 3);
    assert_eq!(*got[0].as_ref().unwrap(), 1);
    assert_eq!(got[1].as_ref().unwrap_err().to_string(), "two");
    assert_eq!(*got[2].as_ref().unwrap(), 3);
    assert_eq!(
        log.get(),
        ["two failed", "three done", "one done"],
        "every child ran"
    );
    Ok(())
}

// ---- shield ------------------------------------------------------------------------------

fn shield_returns_the_result_of_the_work() -> Result<()> {
    let got = sandloop::run(async { shield(after(ms(1), "work", 9, Log::new())).await })?;
    assert_eq!(got, 9);
    Ok(())
}

fn cancelling_the_task_awaiting_shield_does_not_cancel_the_work() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let go = Event::new();
        let outer = create_task(shield(done_when_set(go.clone(), "work", l.clone())));
        yield_a_few_times().await?;

        assert!(outer.cancel());
        assert!(matches!(outer.clone().await, Err(Error::Cancelled(_))));
        assert!(outer.cancelled());

        go.set();
        yield_a_few_times().await
    })?;

    assert_eq!(log.get(), ["work done"], "the shielded work completed");
    Ok(())
}

fn shielded_work_failing_after_its_waiter_is_cancelled_is_not_reported() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let reports = Log::new();
    record_exceptions(&lp, &reports);
    let log = Log::new();
    let l = log.clone();
    lp.run_until_complete(async move {
        let go = Event::new();
        let work = {
            let go = go.clone();
            async move {
                go.wait().await?;
                l.push("work failed");
                Err::<(), _>(Error::other("work"))
            }
        };
        let outer = create_task(shield(work));
        yield_a_few_times().await?;
        outer.cancel();
        assert!(matches!(outer.await, Err(Error::Cancelled(_))));
        go.set();
        yield_a_few_times().await
    })?;

    assert_eq!(log.get(), ["work failed"]);
    assert!(reports.get().is_empty(), "{:?}", reports.get());
    lp.close()
}

fn shield_of_a_future_cancelled_directly_gives_cancelled() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let inner = lp.create_future::<u32>();
        let outer = create_task(shield(inner.clone()));
        yield_a_few_times().await?;

        inner.cancel();

        assert!(matches!(outer.clone().await, Err(Error::Cancelled(_))));
        assert!(outer.cancelled());
        Ok::<_, Error>(())
    })
}

// ---- wait --------------------------------------------------------------------------------

fn wait_first_completed_returns_when_one_task_is_done() -> Result<()> {
    sandloop::run(async {
        let quick = create_task(after(ms(5), "quick", 1, Log::new()));
        let slow = create_task(after(long(), "slow", 2, Log::new()));

        let (done, pending) = wait(
            vec![slow.clone(), quick.clone()],
            None,
            ReturnWhen::FirstCompleted,
        )
        .await?;

        assert_eq!(done.len(), 1);
        assert_eq!(done[0].result()?, 1);
        assert_eq!(pending.len(), 1);
        assert!(!pending[0].done(), "wait cancels nothing");
        assert!(!slow.cancelled());
        slow.cancel();
        Ok::<_, Error>(())
    })
}

fn wait_all_completed_waits_for_every_task() -> Result<()> {
    sandloop::run(async {
        let tasks: Vec<_> = [(ms(15), 1), (ms(1), 2), (ms(5), 3)]
            .into_iter()
            .map(|(d, v)| create_task(after(d, "t", v, Log::new())))
            .collect();

        let (done, pending) = wait(tasks, None, ReturnWhen::AllCompleted).await?;

        assert_eq!(done.len(), 3);
        assert!(pending.is_empty());
        let mut values: Vec<u32> = done.iter().map(|t| t.result().unwrap()).collect();
        values.sort();
        assert_eq!(values, [1, 2, 3]);
        Ok::<_, Error>(())
    })
}

fn wait_first_exception_returns_at_the_first_failure() -> Result<()> {
    sandloop::run(async {
        let slow = create_task(after(long(), "slow", 1, Log::new()));
        let failing = create_task(fail_after(ms(5), "failing", Log::new()));

        let (done, pending) = wait(
            vec![slow.clone(), failing],
            None,
            ReturnWhen::FirstException,
        )
        .await?;

        assert_eq!(done.len(), 1);
        assert_eq!(done[0].exception()?.expect("failed").to_string(), "failing");
        assert_eq!(pending.len(), 1);
        slow.cancel();
        Ok::<_, Error>(())
    })
}

fn wait_first_exception_does_not_count_a_cancelled_task_as_failed() -> Result<()> {
    sandloop::run(async {
        let cancelled = create_task(after(long(), "cancelled", 1, Log::new()));
        let ok = create_task(after(ms(20), "ok", 2, Log::new()));
        cancelled.cancel();

        let (done, pending) = wait(vec![cancelled, ok], None, ReturnWhen::FirstException).await?;

        assert_eq!(done.len(), 2, "waited for all: no task failed");
        assert!(pending.is_empty());
        Ok::<_, Error>(())
    })
}

fn wait_with_a_timeout_returns_done_and_pending_without_cancelling() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let quick = create_task(after(ms(1), "quick", 1, Log::new()));
        let slow = create_task(after(long(), "slow", 2, Log::new()));
        let start = lp.time();

        let (done, pending) = wait(
            vec![quick, slow.clone()],
            Some(ms(20)),
            ReturnWhen::AllCompleted,
        )
        .await?;

        assert!(lp.time() - start + 1e-6 >= 0.020, "waited for the timeout");
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].result()?, 1);
        assert_eq!(pending.len(), 1);
        assert!(
            !slow.done() && !slow.cancelled(),
            "the pending task is not cancelled"
        );
        slow.cancel();
        Ok::<_, Error>(())
    })
}

fn wait_on_no_tasks_is_an_error() -> Result<()> {
    sandloop::run(async {
        let got = wait(
            Vec::<sandloop::Task<()>>::new(),
            None,
            ReturnWhen::AllCompleted,
        )
        .await;
        assert!(matches!(got, Err(Error::Runtime(_))));
        Ok::<_, Error>(())
    })
}

// ---- Event -------------------------------------------------------------------------------

fn event_set_wakes_every_waiter() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let ev = Event::new();
        let waiters: Vec<_> = ["a", "b", "c"]
            .into_iter()
            .map(|name| {
                let (ev, log) = (ev.clone(), l.clone());
                create_task(async move {
                    ev.wait().await?;
                    log.push(name);
                    Ok::<_, Error>(())
                })
            })
            .collect();
        yield_a_few_times().await?;
        assert!(l.get().is_empty(), "nobody passes an unset event");

        ev.set();
        for w in waiters {
            w.await?;
        }
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["a", "b", "c"]);
    Ok(())
}

fn event_is_set_clear_and_wait_when_set() -> Result<()> {
    sandloop::run(async {
        let ev = Event::new();
        assert!(!ev.is_set());
        ev.set();
        assert!(ev.is_set());
        ev.wait().await?;
        ev.set();
        assert!(ev.is_set(), "setting twice keeps it set");
        ev.clear();
        assert!(!ev.is_set());

        let waiter = create_task({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        yield_a_few_times().await?;
        assert!(!waiter.done(), "a cleared event makes waiters wait again");
        ev.set();
        waiter.await
    })
}

fn event_waiter_cancelled_is_forgotten() -> Result<()> {
    sandloop::run(async {
        let ev = Event::new();
        let waiter = create_task({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        yield_a_few_times().await?;
        assert!(format!("{ev:?}").contains("waiters:1"), "{ev:?}");

        waiter.cancel();
        assert!(waiter.await.is_err());
        assert!(format!("{ev:?}").contains("waiters:0"), "{ev:?}");
        Ok::<_, Error>(())
    })
}

fn event_set_and_cleared_before_the_waiter_runs_still_wakes_it() -> Result<()> {
    sandloop::run(async {
        let ev = Event::new();
        let waiter = create_task({
            let ev = ev.clone();
            async move { ev.wait().await }
        });
        yield_a_few_times().await?;

        ev.set();
        ev.clear();
        assert!(!ev.is_set());
        ev.set();
        ev.set();

        waiter.clone().await?;
        assert!(format!("{ev:?}").contains("waiters:0"), "{ev:?}");
        Ok::<_, Error>(())
    })
}

// ---- Lock --------------------------------------------------------------------------------

fn lock_lets_one_task_in_at_a_time() -> Result<()> {
    sandloop::run(async {
        let lock = Lock::new();
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let (lock, inside, most) = (lock.clone(), inside.clone(), most.clone());
                create_task(async move {
                    lock.acquire().await?;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    sleep(ms(2)).await?;
                    inside.set(inside.get() - 1);
                    lock.release()
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        assert_eq!(most.get(), 1);
        assert!(!lock.locked());
        Ok::<_, Error>(())
    })
}

fn lock_waiters_acquire_in_fifo_order() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let lock = Lock::new();
        lock.acquire().await?;
        assert!(lock.locked());
        let tasks: Vec<_> = (1..=3)
            .map(|i| {
                let (lock, log) = (lock.clone(), l.clone());
                create_task(async move {
                    lock.acquire().await?;
                    log.push(format!("task {i}"));
                    sleep(Duration::ZERO).await?;
                    lock.release()
                })
            })
            .collect();
        yield_a_few_times().await?;
        assert!(l.get().is_empty(), "all wait while the lock is held");

        lock.release()?;
        for t in tasks {
            t.await?;
        }
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["task 1", "task 2", "task 3"]);
    Ok(())
}

fn lock_release_when_not_locked_is_an_error() -> Result<()> {
    sandloop::run(async {
        let lock = Lock::new();
        assert!(matches!(lock.release(), Err(Error::Runtime(_))));
        lock.acquire().await?;
        lock.release()?;
        assert!(matches!(lock.release(), Err(Error::Runtime(_))));
        Ok::<_, Error>(())
    })
}

fn lock_waiter_woken_but_cancelled_passes_the_lock_on() -> Result<()> {
    sandloop::run(async {
        let lock = Lock::new();
        lock.acquire().await?;
        let waiter = |lock: &Lock| {
            let lock = lock.clone();
            create_task(async move {
                lock.acquire().await?;
                Ok::<_, Error>(())
            })
        };
        let first = waiter(&lock);
        let second = waiter(&lock);
        yield_a_few_times().await?;

        lock.release()?;
        first.cancel(); // woken to take the lock, cancelled before it ran
        assert!(matches!(first.await, Err(Error::Cancelled(_))));
        second.clone().await?;

        assert!(second.done());
        assert!(lock.locked(), "the second waiter holds the lock");
        lock.release()
    })
}

fn lock_cancelled_waiter_does_not_take_the_lock() -> Result<()> {
    sandloop::run(async {
        let lock = Lock::new();
        lock.acquire().await?;
        let waiter = create_task({
            let lock = lock.clone();
            async move { lock.acquire().await }
        });
        yield_a_few_times().await?;

        waiter.cancel();
        assert!(waiter.await.is_err());
        lock.release()?;

        assert!(!lock.locked());
        lock.acquire().await?;
        lock.release()
    })
}

fn lock_cancelling_a_waiter_while_releasing_hands_the_lock_to_one_task() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let lock = Lock::new();
        let taken = Rc::new(Cell::new(0));
        let lockit = || {
            let (lock, taken) = (lock.clone(), taken.clone());
            create_task(async move {
                lock.acquire().await?;
                taken.set(taken.get() + 1);
                Ok::<_, Error>(())
            })
        };
        lock.acquire().await?;
        taken.set(1);
        let t1 = lockit();
        let t2 = lockit();
        let t3 = lockit();
        yield_a_few_times().await?;

        let (first, l) = (t1.clone(), lock.clone());
        lp.call_soon(move || {
            first.cancel();
            l.release()
        });
        assert!(matches!(t1.clone().await, Err(Error::Cancelled(_))));
        yield_a_few_times().await?;

        assert_eq!(taken.get(), 2, "exactly one more task took the lock");
        assert!(t1.cancelled());
        assert!(t2.done());
        assert!(!t3.done());
        lock.release()?;
        t3.await
    })
}

// ---- Semaphore ---------------------------------------------------------------------------

fn semaphore_never_lets_more_than_its_value_in() -> Result<()> {
    sandloop::run(async {
        let sem = Semaphore::new(2);
        let inside = Rc::new(Cell::new(0));
        let most = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let (sem, inside, most) = (sem.clone(), inside.clone(), most.clone());
                create_task(async move {
                    sem.acquire().await?;
                    inside.set(inside.get() + 1);
                    most.set(most.get().max(inside.get()));
                    sleep(ms(2)).await?;
                    inside.set(inside.get() - 1);
                    sem.release();
                    Ok::<_, Error>(())
                })
            })
            .collect();
        for t in tasks {
            t.await?;
        }
        assert_eq!(most.get(), 2);
        assert_eq!(sem.value(), 2);
        assert!(!sem.locked());
        Ok::<_, Error>(())
    })
}

fn semaphore_value_and_locked_follow_acquire_and_release() -> Result<()> {
    sandloop::run(async {
        let sem = Semaphore::new(1);
        assert_eq!(sem.value(), 1);
        assert!(!sem.locked());
        sem.acquire().await?;
        assert_eq!(sem.value(), 0);
        assert!(sem.locked());
        let waiter = create_task({
            let sem = sem.clone();
            async move { sem.acquire().await }
        });
        yield_a_few_times().await?;
        assert!(!waiter.done());

        sem.release();
        waiter.await?;
        assert_eq!(sem.value(), 0, "the waiter holds the slot");
        sem.release();
        assert_eq!(sem.value(), 1);
        Ok::<_, Error>(())
    })
}

fn semaphore_waiter_woken_but_cancelled_passes_the_slot_on() -> Result<()> {
    sandloop::run(async {
        let sem = Semaphore::new(1);
        sem.acquire().await?;
        let waiter = |sem: &Semaphore| {
            let sem = sem.clone();
            create_task(async move { sem.acquire().await })
        };
        let first = waiter(&sem);
        let second = waiter(&sem);
        yield_a_few_times().await?;

        sem.release();
        first.cancel(); // handed the slot, cancelled before it ran
        assert!(matches!(first.await, Err(Error::Cancelled(_))));
        second.clone().await?;

        assert_eq!(sem.value(), 0, "the second waiter holds the slot");
        sem.release();
        assert_eq!(sem.value(), 1);
        Ok::<_, Error>(())
    })
}

fn semaphore_cancelled_waiter_does_not_hang_the_next() -> Result<()> {
    sandloop::run(async {
        let sem = Semaphore::new(0);
        let acquirer = || {
            let sem = sem.clone();
            create_task(async move { sem.acquire().await })
        };
        let t1 = acquirer();
        let t2 = acquirer();
        yield_a_few_times().await?;

        t1.cancel();
        sem.release();
        yield_a_few_times().await?;

        assert!(sem.locked());
        assert!(t1.cancelled());
        assert!(
            t2.done(),
            "the slot went to the waiter that was not cancelled"
        );
        t2.await
    })
}

// ---- Queue -------------------------------------------------------------------------------

fn queue_gives_items_in_fifo_order() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(0);
        for i in 1..=3 {
            q.put(i).await?;
        }
        assert_eq!(q.qsize(), 3);
        assert!(!q.full(), "an unbounded queue is never full");
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await?);
        }
        assert_eq!(got, [1, 2, 3]);
        assert!(q.empty());
        Ok::<_, Error>(())
    })
}

fn queue_put_waits_while_full_until_a_get() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(1);
        q.put("a").await?;
        assert!(q.full());
        let putter = create_task({
            let q = q.clone();
            async move { q.put("b").await }
        });
        yield_a_few_times().await?;
        assert!(!putter.done(), "put waits while the queue is full");

        assert_eq!(q.get().await?, "a");
        putter.await?;
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get_nowait(), Some("b"));
        Ok::<_, Error>(())
    })
}

fn queue_put_nowait_on_a_full_queue_gives_the_item_back() -> Result<()> {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    assert!(q.put_nowait(String::from("one")).is_ok());
    assert!(q.put_nowait(String::from("two")).is_ok());
    assert_eq!(
        q.put_nowait(String::from("three")),
        Err(String::from("three"))
    );
    assert_eq!(q.qsize(), 2);
    Ok(())
}

fn queue_get_nowait_on_an_empty_queue_is_none() -> Result<()> {
    let q = Queue::<u8>::new(0);
    assert_eq!(q.get_nowait(), None);
    q.put_nowait(1).unwrap();
    assert_eq!(q.get_nowait(), Some(1));
    assert_eq!(q.get_nowait(), None);
    Ok(())
}

fn queue_get_waits_for_a_put() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(0);
        let getter = create_task({
            let q = q.clone();
            async move { q.get().await }
        });
        yield_a_few_times().await?;
        assert!(!getter.done(), "get waits while the queue is empty");

        q.put_nowait(42).unwrap();
        assert_eq!(getter.await?, 42);
        assert!(q.empty());
        Ok::<_, Error>(())
    })
}

fn queue_join_waits_until_every_item_is_marked_done() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(0);
        q.join().await?; // nothing was put: returns at once
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        let joiner = create_task({
            let q = q.clone();
            async move { q.join().await }
        });

        q.get().await?;
        q.task_done()?;
        yield_a_few_times().await?;
        assert!(!joiner.done(), "one item is not done yet");

        q.get().await?;
        q.task_done()?;
        joiner.await
    })
}

fn queue_task_done_called_too_many_times_is_an_error() -> Result<()> {
    let q = Queue::new(0);
    assert!(matches!(q.task_done(), Err(Error::InvalidState(_))));
    q.put_nowait(()).unwrap();
    q.get_nowait().unwrap();
    q.task_done()?;
    assert!(matches!(q.task_done(), Err(Error::InvalidState(_))));
    Ok(())
}

fn queue_getter_woken_but_cancelled_passes_the_item_on() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(0);
        let getter = |q: &Queue<&'static str>| {
            let q = q.clone();
            create_task(async move { q.get().await })
        };
        let first = getter(&q);
        let second = getter(&q);
        yield_a_few_times().await?;

        q.put_nowait("item").unwrap(); // wakes the first getter
        first.cancel(); // which is cancelled before it runs
        assert!(matches!(first.await, Err(Error::Cancelled(_))));

        let got = wait_for(second, ms(500)).await;
        assert_eq!(got?, "item", "the second getter gets the item");
        Ok::<_, Error>(())
    })
}

fn queue_putter_woken_but_cancelled_passes_the_slot_on() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(1);
        q.put_nowait("first").unwrap();
        let putter = |q: &Queue<&'static str>, item| {
            let q = q.clone();
            create_task(async move { q.put(item).await })
        };
        let cancelled = putter(&q, "cancelled");
        let waiting = putter(&q, "waiting");
        yield_a_few_times().await?;

        assert_eq!(q.get_nowait(), Some("first")); // wakes the first putter
        cancelled.cancel(); // which is cancelled before it runs
        assert!(matches!(cancelled.await, Err(Error::Cancelled(_))));

        wait_for(waiting, ms(500)).await?;
        assert_eq!(
            q.get_nowait(),
            Some("waiting"),
            "the second putter got the slot"
        );
        Ok::<_, Error>(())
    })
}

fn queue_cancelled_getter_does_not_take_an_item() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(0);
        let getter = |q: &Queue<u32>| {
            let q = q.clone();
            create_task(async move { q.get().await })
        };
        let cancelled = getter(&q);
        let waiting = getter(&q);
        yield_a_few_times().await?;
        cancelled.cancel();
        assert!(cancelled.await.is_err());

        q.put_nowait(1).unwrap();
        assert_eq!(wait_for(waiting, ms(500)).await?, 1);
        Ok::<_, Error>(())
    })
}

fn queue_put_order_is_kept_when_a_waiting_putter_is_cancelled() -> Result<()> {
    sandloop::run(async {
        let q = Queue::new(1);
        let put = |item| {
            let q = q.clone();
            create_task(async move { q.put(item).await })
        };
        let a = put("a");
        let b = put("b");
        let x = put("X");
        let d = put("d");
        sleep(Duration::ZERO).await?;
        assert!(a.done());
        assert!(!b.done());

        x.cancel();
        sleep(Duration::ZERO).await?;
        assert!(x.done());
        let mut got = Vec::new();
        for _ in 0..3 {
            got.push(q.get().await?);
        }
        assert_eq!(got, ["a", "b", "d"]);
        for t in [a, b, d] {
            wait_for(t, ms(500)).await?;
        }
        Ok::<_, Error>(())
    })
}

/// A task that puts `0..n` into `q`, waiting for room as it goes.
fn produce(q: &Queue<u32>, n: u32) -> sandloop::Task<()> {
    let q = q.clone();
    create_task(async move {
        for i in 0..n {
            q.put(i).await?;
        }
        Ok::<_, Error>(())
    })
}

fn queue_producer_and_consumer_on_a_size_one_queue_finish() -> Result<()> {
    let got = sandloop::run(async {
        let q = Queue::new(1);
        let producer = produce(&q, 5);
        let consumer = create_task({
            let q = q.clone();
            async move {
                let mut got = Vec::new();
                for _ in 0..5 {
                    got.push(q.get().await?);
                }
                Ok::<_, Error>(got)
            }
        });
        producer.await?;
        wait_for(consumer, Duration::from_secs(2)).await
    })?;

    assert_eq!(got, [0, 1, 2, 3, 4]);
    Ok(())
}

test_programs::cases!(
    timeout_that_passes_gives_timeout_and_drops_the_work,
    timeout_that_is_not_reached_returns_the_value,
    timeout_none_never_expires,
    timeout_cancels_the_task_it_was_awaiting,
    timeout_at_takes_a_deadline_on_the_loop_clock,
    sleep_takes_at_least_the_delay_on_the_loop_clock,
    sleeping_tasks_wake_in_order_of_their_delays,
    wait_for_past_its_timeout_gives_timeout_and_cancels_the_inner_task,
    wait_for_that_completes_in_time_returns_the_value,
    wait_for_without_timeout_waits_for_the_result,
    wait_for_returns_the_error_of_the_inner_awaitable,
    wait_for_takes_a_borrowed_future,
    as_completed_yields_tasks_in_the_order_they_finish,
    as_completed_dropped_early_leaves_the_tasks_running,
    queue_stream_takes_items_as_get_does,
    cancelling_the_task_in_wait_for_cancels_the_inner_awaitable,
    gather_returns_results_in_order_even_when_they_complete_in_reverse,
    gather_of_nothing_is_empty,
    gather_returns_the_first_error_and_the_other_children_keep_running,
    gather_does_not_report_errors_of_children_after_its_first_error,
    cancelling_the_task_awaiting_gather_cancels_the_children,
    gather_with_a_cancelled_child_gives_cancelled,
    gather_settled_returns_every_outcome_in_order,
    shield_returns_the_result_of_the_work,
    cancelling_the_task_awaiting_shield_does_not_cancel_the_work,
    shielded_work_failing_after_its_waiter_is_cancelled_is_not_reported,
    shield_of_a_future_cancelled_directly_gives_cancelled,
    wait_first_completed_returns_when_one_task_is_done,
    wait_all_completed_waits_for_every_task,
    wait_first_exception_returns_at_the_first_failure,
    wait_first_exception_does_not_count_a_cancelled_task_as_failed,
    wait_with_a_timeout_returns_done_and_pending_without_cancelling,
    wait_on_no_tasks_is_an_error,
    event_set_wakes_every_waiter,
    event_is_set_clear_and_wait_when_set,
    event_waiter_cancelled_is_forgotten,
    event_set_and_cleared_before_the_waiter_runs_still_wakes_it,
    lock_lets_one_task_in_at_a_time,
    lock_waiters_acquire_in_fifo_order,
    lock_release_when_not_locked_is_an_error,
    lock_waiter_woken_but_cancelled_passes_the_lock_on,
    lock_cancelled_waiter_does_not_take_the_lock,
    lock_cancelling_a_waiter_while_releasing_hands_the_lock_to_one_task,
    semaphore_never_lets_more_than_its_value_in,
    semaphore_value_and_locked_follow_acquire_and_release,
    semaphore_waiter_woken_but_cancelled_passes_the_slot_on,
    semaphore_cancelled_waiter_does_not_hang_the_next,
    queue_gives_items_in_fifo_order,
    queue_put_waits_while_full_until_a_get,
    queue_put_nowait_on_a_full_queue_gives_the_item_back,
    queue_get_nowait_on_an_empty_queue_is_none,
    queue_get_waits_for_a_put,
    queue_join_waits_until_every_item_is_marked_done,
    queue_task_done_called_too_many_times_is_an_error,
    queue_getter_woken_but_cancelled_passes_the_item_on,
    queue_putter_woken_but_cancelled_passes_the_slot_on,
    queue_cancelled_getter_does_not_take_an_item,
    queue_put_order_is_kept_when_a_waiting_putter_is_cancelled,
    queue_producer_and_consumer_on_a_size_one_queue_finish;
    // Run by tests in host/tests/helpers.rs that check what they print.
    checked:
    sleep_zero_lets_the_other_ready_tasks_run,
);
