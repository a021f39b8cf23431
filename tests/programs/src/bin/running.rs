//! Running and stopping the loop (test_base_events.py / test_events.py: run_until_complete,
//! run_forever, stop, is_running, close).

use std::rc::Rc;
use std::time::Duration;

use sandloop::{Error, EventLoop};
use test_programs::{Log, cases};

cases!(
    run_until_complete_returns_the_result,
    run_until_complete_returns_the_error,
    run_until_complete_errors_when_stopped_first,
    run_until_complete_inside_the_running_loop_is_an_error,
    run_forever_inside_another_running_loop_is_an_error,
    stop_before_run_forever_runs_one_batch,
    stop_before_run_forever_polls_with_zero_timeout,
    stop_during_run_forever_finishes_the_current_batch,
    callbacks_scheduled_by_the_last_batch_run_next_time,
    is_running_is_true_only_inside_the_loop,
    close_while_running_is_an_error,
    close_is_idempotent_and_drops_pending_callbacks,
    closed_loop_refuses_to_run,
    run_forever_can_run_again_after_stop;
    // Run by tests in host/tests/running.rs that check what they print.
    checked:
    call_soon_on_a_closed_loop_panics,
);

fn run_until_complete_returns_the_result() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let v = lp.run_until_complete(async {
        sandloop::sleep(Duration::from_millis(1)).await?;
        Ok::<_, Error>(42)
    })?;
    assert_eq!(v, 42);
    assert!(!lp.is_running());
    lp.close()
}

fn run_until_complete_returns_the_error() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let r: sandloop::Result<()> =
        lp.run_until_complete(async { Err(Error::InvalidState("boom".into())) });
    assert!(matches!(r, Err(Error::InvalidState(m)) if m == "boom"));
    lp.close()
}

fn run_until_complete_errors_when_stopped_first() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let stopper = lp.clone();
    lp.call_soon(move || stopper.stop());
    let r = lp.run_until_complete(sandloop::sleep(Duration::from_secs(60)));
    match r {
        Err(Error::Runtime(m)) => assert_eq!(m, "Event loop stopped before Future completed."),
        other => panic!("expected a RuntimeError, got {other:?}"),
    }
    lp.close()
}

fn run_until_complete_inside_the_running_loop_is_an_error() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let inner = lp.clone();
    let seen = Log::new();
    let log = seen.clone();
    lp.run_until_complete(async move {
        match inner.run_until_complete(async {}) {
            Err(Error::Runtime(m)) => log.push(m),
            other => log.push(format!("unexpected {other:?}")),
        }
    })?;
    assert_eq!(seen.get(), ["This event loop is already running"]);
    lp.close()
}

fn run_forever_inside_another_running_loop_is_an_error() -> sandloop::Result<()> {
    let outer = sandloop::new_event_loop();
    let other = sandloop::new_event_loop();
    let seen = Log::new();
    let log = seen.clone();
    let stopper = outer.clone();
    outer.call_soon(move || {
        match other.run_forever() {
            Err(Error::Runtime(m)) => log.push(m),
            r => log.push(format!("unexpected {r:?}")),
        }
        stopper.stop();
    });
    outer.run_forever()?;
    assert_eq!(
        seen.get(),
        ["Cannot run the event loop while another loop is running"]
    );
    outer.close()
}

/// asyncio: stop() before run_forever() polls once with a zero timeout, runs the ready
/// callbacks, then exits; callbacks they schedule wait for the next run.
fn stop_before_run_forever_runs_one_batch() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        l.push("first");
        let l2 = l.clone();
        lp2.call_soon(move || l2.push("scheduled by first"));
    });
    let l = log.clone();
    lp.call_soon(move || l.push("second"));
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.take(), ["first", "second"]);
    assert_eq!(lp.ready_count(), 1);
    lp.stop();
    lp.run_forever()?;
    assert_eq!(log.take(), ["scheduled by first"]);
    lp.close()
}

/// The zero-timeout poll does not wait for a timer that is not due.
fn stop_before_run_forever_polls_with_zero_timeout() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    lp.call_later(Duration::from_secs(30), move || l.push("timer"));
    let started = lp.time();
    lp.stop();
    lp.run_forever()?;
    assert!(log.get().is_empty());
    assert!(
        lp.time() - started < 25.0,
        "run_forever waited for the timer"
    );
    lp.close()
}

fn stop_during_run_forever_finishes_the_current_batch() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        l.push("a: stop");
        lp2.stop();
    });
    let l = log.clone();
    lp.call_soon(move || l.push("b: same batch"));
    lp.run_forever()?;
    assert_eq!(log.take(), ["a: stop", "b: same batch"]);
    lp.close()
}

fn callbacks_scheduled_by_the_last_batch_run_next_time() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let (l, lp2) = (log.clone(), lp.clone());
    lp.call_soon(move || {
        lp2.stop();
        let l2 = l.clone();
        lp2.call_soon(move || l2.push("next run"));
    });
    lp.run_forever()?;
    assert!(log.get().is_empty());
    lp.run_until_complete(async {})?;
    assert_eq!(log.take(), ["next run"]);
    lp.close()
}

fn is_running_is_true_only_inside_the_loop() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    assert!(!lp.is_running());
    let inner = lp.clone();
    let during = lp.run_until_complete(async move { Ok::<_, Error>(inner.is_running()) })?;
    assert!(during);
    assert!(!lp.is_running());
    lp.close()
}

fn close_while_running_is_an_error() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let inner = lp.clone();
    let r = lp.run_until_complete(async move { Ok::<_, Error>(inner.close()) })?;
    assert!(matches!(r, Err(Error::Runtime(m)) if m == "Cannot close a running event loop"));
    assert!(!lp.is_closed());
    lp.close()
}

/// Dropped means dropped: what a pending callback captured is released by close().
fn close_is_idempotent_and_drops_pending_callbacks() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let captured = Rc::new(());
    let (a, b) = (captured.clone(), captured.clone());
    lp.call_soon(move || drop(a));
    lp.call_later(Duration::from_secs(10), move || drop(b));
    assert_eq!(Rc::strong_count(&captured), 3);
    lp.close()?;
    assert!(lp.is_closed());
    assert_eq!(Rc::strong_count(&captured), 1);
    assert_eq!(lp.ready_count(), 0);
    assert_eq!(lp.scheduled_timer_count(), 0);
    lp.close()?;
    assert!(lp.is_closed());
    Ok(())
}

fn closed_loop_refuses_to_run() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.close()?;
    let closed = |r: sandloop::Result<()>| matches!(r, Err(Error::Runtime(m)) if m == "Event loop is closed");
    assert!(closed(lp.run_forever()));
    assert!(closed(lp.run_until_complete(async {})));
    Ok(())
}

/// asyncio raises RuntimeError; a sandloop guest panics (the host reports the trap).
fn call_soon_on_a_closed_loop_panics() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.close()?;
    lp.call_soon(|| ());
    println!("not reached");
    Ok(())
}

fn run_forever_can_run_again_after_stop() -> sandloop::Result<()> {
    let lp: EventLoop = sandloop::new_event_loop();
    for round in 0..3 {
        let (l, lp2) = (Log::new(), lp.clone());
        let l2 = l.clone();
        lp.call_soon(move || {
            l2.push(format!("round {round}"));
            lp2.stop();
        });
        lp.run_forever()?;
        assert_eq!(l.get(), [format!("round {round}")]);
    }
    lp.close()
}
