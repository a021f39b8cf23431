//! `Future<T>`, asyncio's `test_futures.py`: states, results and exceptions, cancellation,
//! done callbacks, awaiting from a task, and the report of an exception nobody retrieved.

use std::rc::Rc;
use std::time::Duration;

use sandloop::context::{Context, ContextVar};
use sandloop::{Error, EventLoop, ExceptionContext, Result};
use test_programs::Log;

/// Runs the callbacks that are ready now, and only those: `stop()` before `run_forever()`
/// is one batch.
fn run_one_batch(lp: &EventLoop) {
    lp.stop();
    lp.run_forever().expect("run one batch");
}

/// Sends the messages of the loop's exception handler to `log`.
fn record_exceptions(lp: &EventLoop, log: &Log) {
    let log = log.clone();
    lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
        log.push(ctx.message.clone());
    }));
}

fn boom() -> Error {
    Error::other("boom")
}

fn new_future_is_pending_and_has_no_result() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();

    assert!(!fut.done());
    assert!(!fut.cancelled());
    assert!(matches!(fut.result(), Err(Error::InvalidState(_))));
    assert!(matches!(fut.exception(), Err(Error::InvalidState(_))));
    assert!(fut.get_loop() == lp);
    lp.close()
}

fn set_result_makes_the_result_available() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();

    fut.set_result(42)?;

    assert!(fut.done());
    assert!(!fut.cancelled());
    assert_eq!(fut.result()?, 42);
    assert_eq!(fut.result()?, 42, "the result can be read again");
    assert!(fut.exception()?.is_none());
    lp.close()
}

fn setting_a_done_future_again_is_invalid_state() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    fut.set_result(1)?;

    assert!(matches!(fut.set_result(2), Err(Error::InvalidState(_))));
    assert!(matches!(
        fut.set_exception(boom()),
        Err(Error::InvalidState(_))
    ));
    assert_eq!(fut.result()?, 1, "the first result stays");
    lp.close()
}

fn set_exception_makes_result_fail_and_exception_available() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();

    fut.set_exception(boom())?;

    assert!(fut.done());
    assert!(!fut.cancelled());
    match fut.result() {
        Err(e) => assert_eq!(e.to_string(), "boom"),
        Ok(v) => panic!("result() gave Ok({v}) after set_exception"),
    }
    let exc = fut
        .exception()?
        .expect("exception() is Some after set_exception");
    assert_eq!(exc.to_string(), "boom");
    assert!(matches!(fut.set_result(1), Err(Error::InvalidState(_))));
    lp.close()
}

fn cancel_marks_the_future_cancelled_once() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();

    assert!(fut.cancel(), "cancelling a pending future succeeds");

    assert!(fut.cancelled());
    assert!(fut.done());
    assert!(matches!(fut.result(), Err(Error::Cancelled(None))));
    assert!(matches!(fut.exception(), Err(Error::Cancelled(None))));
    assert!(!fut.cancel(), "a second cancel does nothing");
    assert!(matches!(fut.set_result(1), Err(Error::InvalidState(_))));
    lp.close()
}

fn cancel_after_set_result_returns_false() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    fut.set_result(7)?;

    assert!(!fut.cancel());

    assert!(!fut.cancelled());
    assert_eq!(fut.result()?, 7);
    lp.close()
}

fn cancel_with_message_carries_the_message() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();

    assert!(fut.cancel_with_message("stop it"));

    match fut.result() {
        Err(Error::Cancelled(Some(msg))) => assert_eq!(msg, "stop it"),
        other => panic!("expected Cancelled(Some(\"stop it\")), got {other:?}"),
    }
    assert!(matches!(fut.exception(), Err(Error::Cancelled(Some(m))) if m == "stop it"));
    lp.close()
}

fn done_callbacks_are_scheduled_in_registration_order() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let log = Log::new();
    for name in ["first", "second", "third"] {
        let log = log.clone();
        fut.add_done_callback(move |f| log.push(format!("{name} {}", f.result().unwrap())));
    }

    fut.set_result(5)?;
    assert!(
        log.get().is_empty(),
        "callbacks must not run inside set_result"
    );
    assert_eq!(lp.ready_count(), 3, "one call_soon per callback");
    run_one_batch(&lp);

    assert_eq!(log.get(), ["first 5", "second 5", "third 5"]);
    lp.close()
}

fn done_callbacks_run_after_set_exception() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let log = Log::new();
    let l = log.clone();
    fut.add_done_callback(move |f| {
        l.push(format!("exception {}", f.exception().unwrap().unwrap()))
    });

    fut.set_exception(boom())?;
    assert!(log.get().is_empty());
    run_one_batch(&lp);

    assert_eq!(log.get(), ["exception boom"]);
    lp.close()
}

fn done_callbacks_run_after_cancel() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let log = Log::new();
    let l = log.clone();
    fut.add_done_callback(move |f| l.push(format!("cancelled={}", f.cancelled())));

    fut.cancel();
    assert!(log.get().is_empty());
    run_one_batch(&lp);

    assert_eq!(log.get(), ["cancelled=true"]);
    lp.close()
}

fn add_done_callback_on_a_done_future_schedules_it() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<&str>();
    fut.set_result("ready")?;
    let log = Log::new();
    let l = log.clone();

    fut.add_done_callback(move |f| l.push(f.result().unwrap()));

    assert!(
        log.get().is_empty(),
        "not called synchronously even when done"
    );
    run_one_batch(&lp);
    assert_eq!(log.get(), ["ready"]);
    lp.close()
}

fn remove_done_callback_returns_the_count_and_the_callback_never_runs() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let log = Log::new();
    let ids: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| {
            let log = log.clone();
            fut.add_done_callback(move |_| log.push(name))
        })
        .collect();

    assert_eq!(fut.remove_done_callback(ids[1]), 1);
    assert_eq!(
        fut.remove_done_callback(ids[1]),
        0,
        "removing twice removes nothing"
    );
    fut.set_result(0)?;
    run_one_batch(&lp);

    assert_eq!(log.get(), ["a", "c"]);
    assert_eq!(
        fut.remove_done_callback(ids[0]),
        0,
        "a scheduled callback is gone"
    );
    lp.close()
}

fn done_callback_runs_in_the_context_current_at_registration() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let var = Rc::new(ContextVar::new("request", None::<&str>));
    let fut = lp.create_future::<()>();
    let log = Log::new();
    let registering = Context::new();
    registering.run(|| {
        let _ = var.set("registered");
        let (log, var) = (log.clone(), var.clone());
        fut.add_done_callback(move |_| log.push(var.get().unwrap_or("unset")));
    });

    // The result is set from another context: the callback still sees the registering one.
    Context::new().run(|| {
        let _ = var.set("setter");
        fut.set_result(())
    })?;
    run_one_batch(&lp);

    assert_eq!(log.get(), ["registered"]);
    lp.close()
}

fn done_callback_with_context_runs_in_that_context() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let var = Rc::new(ContextVar::new("color", None::<&str>));
    let ctx = Context::new();
    let _ = ctx.run(|| var.set("blue"));
    let fut = lp.create_future::<()>();
    let log = Log::new();
    let (l, v) = (log.clone(), var.clone());

    fut.add_done_callback_with_context(
        move |_| {
            l.push(v.get().unwrap_or("unset"));
            let _ = v.set("green");
        },
        &ctx,
    );
    fut.set_result(())?;
    run_one_batch(&lp);

    assert_eq!(log.get(), ["blue"]);
    assert_eq!(
        ctx.run(|| var.get()),
        Some("green"),
        "sets persist in the given context"
    );
    assert_eq!(var.get(), None, "the outer context is untouched");
    lp.close()
}

fn awaiting_a_future_gets_the_result_set_later_by_a_callback() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<String>();
    let setter = fut.clone();
    lp.call_later(Duration::from_millis(5), move || {
        setter.set_result("late".into())
    });

    let got = lp.run_until_complete(fut)?;

    assert_eq!(got, "late");
    lp.close()
}

fn awaiting_a_future_gets_the_exception_set_later() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let setter = fut.clone();
    lp.call_soon(move || setter.set_exception(boom()));

    let got = lp.run_until_complete(fut.clone());

    assert_eq!(got.unwrap_err().to_string(), "boom");
    lp.close()
}

fn awaiting_a_cancelled_future_gives_cancelled() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    let other = fut.clone();
    lp.call_soon(move || {
        other.cancel_with_message("no more");
    });

    let got = lp.run_until_complete(fut);

    assert!(matches!(got, Err(Error::Cancelled(Some(m))) if m == "no more"));
    lp.close()
}

fn many_tasks_awaiting_one_future_all_get_the_result() -> Result<()> {
    let got = sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let fut = lp.create_future::<u32>();
        let waiters: Vec<_> = (0..3).map(|_| lp.create_task(fut.clone())).collect();
        sandloop::sleep(Duration::ZERO).await?;
        fut.set_result(9)?;
        let mut results = Vec::new();
        for w in waiters {
            results.push(w.await?);
        }
        Ok::<_, Error>(results)
    })?;

    assert_eq!(got, [9, 9, 9]);
    Ok(())
}

fn unretrieved_future_exception_is_reported_when_dropped() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);
    let fut = lp.create_future::<i32>();
    fut.set_exception(boom())?;
    let clone = fut.clone();

    drop(fut);
    assert!(
        log.get().is_empty(),
        "reported only when the last reference goes"
    );
    drop(clone);

    assert_eq!(log.get(), ["Future exception was never retrieved"]);
    lp.close()
}

fn retrieved_future_exception_is_not_reported() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);

    let by_exception = lp.create_future::<i32>();
    by_exception.set_exception(boom())?;
    assert!(by_exception.exception()?.is_some());
    drop(by_exception);

    let by_result = lp.create_future::<i32>();
    by_result.set_exception(boom())?;
    assert!(by_result.result().is_err());
    drop(by_result);

    let by_await = lp.create_future::<i32>();
    by_await.set_exception(boom())?;
    assert!(lp.run_until_complete(by_await).is_err());

    let cancelled = lp.create_future::<i32>();
    cancelled.cancel();
    drop(cancelled);

    assert!(
        log.get().is_empty(),
        "nothing reported, got {:?}",
        log.get()
    );
    lp.close()
}

fn unretrieved_future_exception_reaches_the_default_handler_on_stderr() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let fut = lp.create_future::<i32>();
    fut.set_exception(Error::other("lost error"))?;
    drop(fut);
    lp.close()
}

test_programs::cases!(
    new_future_is_pending_and_has_no_result,
    set_result_makes_the_result_available,
    setting_a_done_future_again_is_invalid_state,
    set_exception_makes_result_fail_and_exception_available,
    cancel_marks_the_future_cancelled_once,
    cancel_after_set_result_returns_false,
    cancel_with_message_carries_the_message,
    done_callbacks_are_scheduled_in_registration_order,
    done_callbacks_run_after_set_exception,
    done_callbacks_run_after_cancel,
    add_done_callback_on_a_done_future_schedules_it,
    remove_done_callback_returns_the_count_and_the_callback_never_runs,
    done_callback_runs_in_the_context_current_at_registration,
    done_callback_with_context_runs_in_that_context,
    awaiting_a_future_gets_the_result_set_later_by_a_callback,
    awaiting_a_future_gets_the_exception_set_later,
    awaiting_a_cancelled_future_gives_cancelled,
    many_tasks_awaiting_one_future_all_get_the_result,
    unretrieved_future_exception_is_reported_when_dropped,
    retrieved_future_exception_is_not_reported;
    // Run by tests in host/tests/futures.rs that check what they print.
    checked:
    unretrieved_future_exception_reaches_the_default_handler_on_stderr,
);
