//! Scheduling callbacks (test_base_events.py / test_events.py: call_soon, call_later,
//! call_at, handles, contexts, time).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::context::{Context, ContextVar};
use test_programs::{Log, cases};

cases!(
    call_soon_runs_callbacks_in_fifo_order,
    cancelled_handle_never_runs,
    handle_cancel_is_idempotent,
    call_later_runs_timers_in_order_of_delay,
    call_at_runs_ties_in_scheduling_order,
    timer_handle_when_is_the_scheduled_time,
    cancelled_timer_never_runs,
    call_later_never_runs_early,
    time_is_monotonic,
    timers_due_together_run_in_one_batch_after_ready_callbacks,
    call_soon_threadsafe_schedules_like_call_soon,
    callback_runs_in_a_copy_of_the_scheduling_context,
    call_soon_with_context_runs_in_that_context,
    handle_get_context_returns_the_given_context,
    timer_with_context_runs_in_that_context,
    many_cancelled_timers_are_purged,
    callback_returning_ok_is_not_reported;
    // Run by tests in host/tests/scheduling.rs that check what they print.
    checked:
    entering_an_entered_context_panics,
);

fn run(lp: &sandloop::EventLoop) -> sandloop::Result<()> {
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(200), move || stopper.stop());
    lp.run_forever()
}

fn call_soon_runs_callbacks_in_fifo_order() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    for i in 0..10 {
        let l = log.clone();
        lp.call_soon(move || l.push(i.to_string()));
    }
    let stopper = lp.clone();
    lp.call_soon(move || stopper.stop());
    lp.run_forever()?;
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
    assert_eq!(log.get(), expected);
    lp.close()
}

fn cancelled_handle_never_runs() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    let h = lp.call_soon(move || l.push("cancelled one"));
    let l = log.clone();
    lp.call_soon(move || l.push("kept"));
    assert!(!h.cancelled());
    h.cancel();
    assert!(h.cancelled());
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.get(), ["kept"]);
    lp.close()
}

fn handle_cancel_is_idempotent() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let t = lp.call_later(Duration::from_secs(1), || ());
    t.cancel();
    t.cancel();
    assert!(t.cancelled());
    assert!(format!("{t:?}").contains("cancelled"));
    lp.close()
}

fn call_later_runs_timers_in_order_of_delay() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    for ms in [30u64, 10, 20] {
        let l = log.clone();
        lp.call_later(Duration::from_millis(ms), move || l.push(format!("{ms}")));
    }
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(40), move || stopper.stop());
    lp.run_forever()?;
    assert_eq!(log.get(), ["10", "20", "30"]);
    lp.close()
}

fn call_at_runs_ties_in_scheduling_order() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let when = lp.time() + 0.01;
    for name in ["a", "b", "c", "d"] {
        let l = log.clone();
        lp.call_at(when, move || l.push(name));
    }
    let l = log.clone();
    lp.call_at(when - 0.005, move || l.push("earlier"));
    run(&lp)?;
    assert_eq!(log.get(), ["earlier", "a", "b", "c", "d"]);
    lp.close()
}

fn timer_handle_when_is_the_scheduled_time() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let when = lp.time() + 12.5;
    let t = lp.call_at(when, || ());
    assert_eq!(t.when(), when);
    let before = lp.time();
    let t2 = lp.call_later(Duration::from_secs(3), || ());
    let after = lp.time();
    assert!(t2.when() >= before + 3.0 && t2.when() <= after + 3.0);
    lp.close()
}

fn cancelled_timer_never_runs() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    let t = lp.call_later(Duration::from_millis(5), move || l.push("cancelled timer"));
    let l = log.clone();
    lp.call_later(Duration::from_millis(10), move || l.push("kept timer"));
    t.cancel();
    run(&lp)?;
    assert_eq!(log.get(), ["kept timer"]);
    lp.close()
}

/// Lower bound only: a timer never fires before its time (upper bounds are the machine's).
fn call_later_never_runs_early() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let fired_at = Rc::new(Cell::new(0.0));
    let start = lp.time();
    let (f, lp2) = (fired_at.clone(), lp.clone());
    lp.call_later(Duration::from_millis(50), move || {
        f.set(lp2.time());
        lp2.stop();
    });
    lp.run_forever()?;
    assert!(
        fired_at.get() - start >= 0.05,
        "fired after {}",
        fired_at.get() - start
    );
    lp.close()
}

fn time_is_monotonic() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let mut last = lp.time();
    for _ in 0..1000 {
        let now = lp.time();
        assert!(now >= last);
        last = now;
    }
    lp.close()
}

/// asyncio's _run_once: callbacks ready before the poll run first, then the due timers, all
/// in one batch.
fn timers_due_together_run_in_one_batch_after_ready_callbacks() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let now = lp.time();
    for name in ["t1", "t2"] {
        let l = log.clone();
        lp.call_at(now - 1.0, move || l.push(name));
    }
    let l = log.clone();
    lp.call_soon(move || l.push("soon"));
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.get(), ["soon", "t1", "t2"]);
    lp.close()
}

fn call_soon_threadsafe_schedules_like_call_soon() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(move || l.push("soon"));
    let l = log.clone();
    lp.call_soon_threadsafe(move || l.push("threadsafe"));
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.get(), ["soon", "threadsafe"]);
    lp.close()
}

thread_local! {
    static VAR: ContextVar<&'static str> = ContextVar::new("var", Some("default"));
}

fn var_get() -> Option<&'static str> {
    VAR.with(|v| v.get())
}

fn callback_runs_in_a_copy_of_the_scheduling_context() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let token = VAR.with(|v| v.set("at scheduling"));
    let l = log.clone();
    lp.call_soon(move || {
        l.push(var_get().unwrap_or("none"));
        let _ = VAR.with(|v| v.set("set by callback"));
    });
    VAR.with(|v| v.reset(token))?;
    let l = log.clone();
    lp.call_soon(move || l.push(var_get().unwrap_or("none")));
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.get(), ["at scheduling", "default"]);
    assert_eq!(var_get(), Some("default"));
    lp.close()
}

fn call_soon_with_context_runs_in_that_context() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let ctx = Context::new();
    ctx.run(|| VAR.with(|v| v.set("in ctx")));
    let log = Log::new();
    let l = log.clone();
    lp.call_soon_with_context(
        move || {
            l.push(var_get().unwrap_or("none"));
            let _ = VAR.with(|v| v.set("changed by callback"));
        },
        &ctx,
    );
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.get(), ["in ctx"]);
    // Unlike a copied context, an explicit one keeps what the callback set.
    assert_eq!(ctx.run(var_get), Some("changed by callback"));
    assert_eq!(var_get(), Some("default"));
    lp.close()
}

fn handle_get_context_returns_the_given_context() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let ctx = Context::new();
    ctx.run(|| VAR.with(|v| v.set("mine")));
    let h = lp.call_soon_with_context(|| (), &ctx);
    assert_eq!(h.get_context().run(var_get), Some("mine"));
    let plain = lp.call_soon(|| ());
    assert_eq!(plain.get_context().run(var_get), Some("default"));
    lp.close()
}

fn timer_with_context_runs_in_that_context() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let ctx = Context::new();
    ctx.run(|| VAR.with(|v| v.set("timer ctx")));
    let log = Log::new();
    let l = log.clone();
    let t = lp.call_later_with_context(
        Duration::from_millis(1),
        move || l.push(var_get().unwrap_or("none")),
        &ctx,
    );
    assert_eq!(t.get_context().run(var_get), Some("timer ctx"));
    let l = log.clone();
    lp.call_at_with_context(lp.time() + 0.002, move || l.push("at"), &ctx);
    run(&lp)?;
    assert_eq!(log.get(), ["timer ctx", "at"]);
    lp.close()
}

/// asyncio drops cancelled timers from its heap once they are more than half of it.
fn many_cancelled_timers_are_purged() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let timers: Vec<_> = (0..1000)
        .map(|i| lp.call_later(Duration::from_secs(100 + i), || ()))
        .collect();
    assert_eq!(lp.scheduled_timer_count(), 1000);
    for t in &timers[..900] {
        t.cancel();
    }
    lp.stop();
    lp.run_forever()?;
    assert_eq!(lp.scheduled_timer_count(), 100);
    lp.close()
}

fn callback_returning_ok_is_not_reported() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let reports = Log::new();
    let r = reports.clone();
    lp.set_exception_handler(Some(
        move |_: &sandloop::EventLoop, ctx: &sandloop::ExceptionContext| {
            r.push(ctx.message.clone())
        },
    ));
    lp.call_soon(|| Ok::<(), sandloop::Error>(()));
    lp.stop();
    lp.run_forever()?;
    assert!(reports.get().is_empty());
    lp.close()
}

/// asyncio raises RuntimeError: the inner run's writes and the outer's would overwrite each
/// other. A sandloop guest panics with that message.
fn entering_an_entered_context_panics() -> sandloop::Result<()> {
    let ctx = Context::new();
    let again = ctx.clone();
    ctx.run(|| again.run(|| ()));
    println!("not reached");
    Ok(())
}
