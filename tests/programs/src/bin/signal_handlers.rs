//! Signal handlers, after the signal cases of CPython's test_unix_events.py
//! (`SelectorEventLoopSignalTests`): `add_signal_handler` and `remove_signal_handler`
//! under the real host. The quiet cases check the errors and the bookkeeping; the checked
//! cases are run by `host/tests/signals.rs` through the CLI, which sends signals to the
//! CLI process (the host) after the case prints `ready PID`.
//!
//! The policy of the quiet cases grants SIGUSR2, SIGWINCH and SIGURG only.

use std::cell::Cell;
use std::io::{self, Write as _};
use std::rc::Rc;
use std::time::Duration;

use sandloop::signal::{
    SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGSEGV, SIGSTOP, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH,
    host_pid,
};
use sandloop::{Error, get_running_loop, run, sleep};
use test_programs::cases;

cases!(
    invalid_signals_are_out_of_range,
    uncatchable_signals_cannot_be_caught,
    a_signal_the_policy_does_not_grant_is_denied,
    add_twice_replaces_and_remove_reports_whether_one_was_there,
    close_removes_the_handlers,
    host_pid_is_not_zero;
    checked:
    trap_with_a_handler,
    end_with_a_handler,
    handle_sigusr1_and_sigterm,
    removed_handler_restores_the_default,
);

fn invalid_signals_are_out_of_range() -> sandloop::Result<()> {
    run(async {
        let lp = get_running_loop()?;
        for signum in [0, -1, 65, 1000] {
            let err = lp.add_signal_handler(signum, || ()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
            assert!(
                err.to_string()
                    .contains(&format!("sig {signum} out of range")),
                "{err}"
            );
            let err = lp.remove_signal_handler(signum).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        }
        Ok::<(), Error>(())
    })
}

fn uncatchable_signals_cannot_be_caught() -> sandloop::Result<()> {
    run(async {
        let lp = get_running_loop()?;
        for signum in [SIGKILL, SIGSTOP, SIGSEGV, SIGILL, SIGFPE, SIGBUS] {
            match lp.add_signal_handler(signum, || ()) {
                Err(Error::Runtime(msg)) => {
                    assert!(msg.contains(&format!("sig {signum}")), "{msg}");
                    assert!(msg.contains("cannot be caught"), "{msg}");
                }
                other => panic!("signal {signum}: {other:?}"),
            }
            assert!(!lp.remove_signal_handler(signum)?);
        }
        Ok::<(), Error>(())
    })
}

fn a_signal_the_policy_does_not_grant_is_denied() -> sandloop::Result<()> {
    run(async {
        let lp = get_running_loop()?;
        for (signum, name) in [(SIGUSR1, "SIGUSR1"), (SIGTERM, "SIGTERM")] {
            match lp.add_signal_handler(signum, || ()) {
                Err(Error::PermissionDenied(msg)) => {
                    assert_eq!(msg, format!("policy denies handling signal {name}"));
                }
                other => panic!("signal {signum}: {other:?}"),
            }
            assert!(
                !lp.remove_signal_handler(signum)?,
                "a denied add installs nothing"
            );
        }
        Ok::<(), Error>(())
    })
}

fn add_twice_replaces_and_remove_reports_whether_one_was_there() -> sandloop::Result<()> {
    run(async {
        let lp = get_running_loop()?;
        lp.add_signal_handler(SIGUSR2, || ())?;
        lp.add_signal_handler(SIGUSR2, || ())?;
        lp.add_signal_handler(SIGWINCH, || ())?;
        assert!(lp.remove_signal_handler(SIGUSR2)?);
        assert!(
            !lp.remove_signal_handler(SIGUSR2)?,
            "the replaced handler left nothing"
        );
        assert!(lp.remove_signal_handler(SIGWINCH)?);
        assert!(!lp.remove_signal_handler(SIGWINCH)?);
        Ok::<(), Error>(())
    })
}

fn close_removes_the_handlers() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.add_signal_handler(SIGUSR2, || ())?;
    lp.close()?;
    assert!(
        !lp.remove_signal_handler(SIGUSR2)?,
        "close removed the handler"
    );
    match lp.add_signal_handler(SIGUSR2, || ()) {
        Err(Error::Runtime(msg)) => assert_eq!(msg, "Event loop is closed"),
        other => panic!("{other:?}"),
    }
    Ok(())
}

fn host_pid_is_not_zero() -> sandloop::Result<()> {
    assert_ne!(host_pid(), 0);
    Ok(())
}

/// Adds a SIGURG handler, then traps (a panic): the host must drop the subscription.
fn trap_with_a_handler() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.add_signal_handler(sandloop::signal::SIGURG, || ())?;
    panic!("trapping with a signal handler installed");
}

/// Adds a SIGURG handler and ends without closing the loop: the host must drop the
/// subscription with the instance.
fn end_with_a_handler() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.add_signal_handler(sandloop::signal::SIGURG, || ())?;
    std::mem::forget(lp);
    Ok(())
}

/// Prints a line at once (the test reads it while the program runs).
fn say(line: &str) {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .expect("stdout");
}

/// SIGUSR1 (whose first handler is replaced by a second) and SIGTERM: each handler prints
/// a line; SIGTERM's stops the loop, which then exits 0.
fn handle_sigusr1_and_sigterm() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let first = Rc::new(Cell::new(0));
    let counter = first.clone();
    lp.add_signal_handler(SIGUSR1, move || counter.set(counter.get() + 1))?;
    lp.add_signal_handler(SIGUSR1, || say("got SIGUSR1 in the second handler"))?;
    let stopper = lp.clone();
    lp.add_signal_handler(SIGTERM, move || {
        say("got SIGTERM");
        stopper.stop();
    })?;
    // A timer, so that a host that never delivers ends the case (a failure, exit 3).
    lp.call_later(Duration::from_secs(30), || -> () { std::process::exit(3) });
    say(&format!("ready {}", host_pid()));
    lp.run_forever()?;
    assert_eq!(first.get(), 0, "the replaced handler never runs");
    lp.close()?;
    say("stopped");
    Ok(())
}

/// A SIGTERM handler added and removed: the host then dies of the SIGTERM the test sends.
fn removed_handler_restores_the_default() -> sandloop::Result<()> {
    run(async {
        let lp = get_running_loop()?;
        lp.add_signal_handler(SIGTERM, || say("the removed handler ran"))?;
        assert!(lp.remove_signal_handler(SIGTERM)?);
        say(&format!("ready {}", host_pid()));
        sleep(Duration::from_secs(30)).await?;
        say("still alive");
        Err::<(), Error>(Error::other("SIGTERM did not end the host"))
    })
}
