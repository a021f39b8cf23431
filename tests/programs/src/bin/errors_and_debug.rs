//! The exception handler and debug mode (test_base_events.py: exception handler cases,
//! debug, slow callbacks).

use std::time::Duration;

use sandloop::{Error, EventLoop, ExceptionContext};
use test_programs::{Log, busy, cases};

cases!(
    callback_error_reaches_the_custom_handler,
    get_exception_handler_returns_what_was_set,
    set_debug_toggles_debug_mode;
    // Run by tests in host/tests/errors_and_debug.rs that check what they print.
    checked:
    callback_error_without_handler_is_logged,
    handler_error_is_logged_by_the_default_handler,
    call_exception_handler_without_custom_handler_logs,
    default_exception_handler_can_be_called_by_a_custom_one,
    debug_follows_the_environment,
    slow_callback_is_logged_with_where_it_was_scheduled,
    fast_callbacks_are_not_logged,
    slow_callbacks_are_not_logged_without_debug,
    slow_task_step_is_logged,
);

fn callback_error_reaches_the_custom_handler() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let reports = Log::new();
    let r = reports.clone();
    lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
        r.push(ctx.message.clone());
        r.push(format!("{}", ctx.exception.as_ref().expect("exception")));
        r.push(format!("handle set: {}", ctx.handle.is_some()));
    }));
    lp.call_soon(|| Err::<(), _>(Error::Runtime("callback failed".into())));
    let l = reports.clone();
    lp.call_soon(move || l.push("next callback still runs"));
    lp.stop();
    lp.run_forever()?;
    let got = reports.get();
    assert!(
        got[0].starts_with("Exception in callback <Handle created at "),
        "{got:?}"
    );
    assert!(got[0].contains("errors_and_debug.rs"), "{got:?}");
    assert_eq!(
        &got[1..],
        [
            "callback failed",
            "handle set: true",
            "next callback still runs"
        ]
    );
    lp.close()
}

fn callback_error_without_handler_is_logged() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.call_soon(|| Err::<(), _>(std::io::Error::other("disk on fire")));
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

fn handler_error_is_logged_by_the_default_handler() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_exception_handler(Some(|_: &EventLoop, _: &ExceptionContext| {
        Err::<(), _>(Error::Runtime("handler broke".into()))
    }));
    lp.call_soon(|| Err::<(), _>(Error::Runtime("original".into())));
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

fn get_exception_handler_returns_what_was_set() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    assert!(lp.get_exception_handler().is_none());
    let calls = Log::new();
    let c = calls.clone();
    lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
        c.push(ctx.message.clone())
    }));
    let h = lp.get_exception_handler().expect("handler set");
    h(&lp, &ExceptionContext::new("direct"))?;
    assert_eq!(calls.get(), ["direct"]);
    lp.set_exception_handler(None::<fn(&EventLoop, &ExceptionContext)>);
    assert!(lp.get_exception_handler().is_none());
    lp.close()
}

fn call_exception_handler_without_custom_handler_logs() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.call_exception_handler(&ExceptionContext {
        message: "custom report".into(),
        exception: Some(Error::Timeout),
        socket: Some("<socket fd=3>".into()),
        ..Default::default()
    });
    lp.close()
}

fn default_exception_handler_can_be_called_by_a_custom_one() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_exception_handler(Some(|lp: &EventLoop, ctx: &ExceptionContext| {
        let mut ctx = ctx.clone();
        ctx.message = format!("wrapped: {}", ctx.message);
        lp.default_exception_handler(&ctx);
    }));
    lp.call_exception_handler(&ExceptionContext::new("inner message"));
    lp.close()
}

fn debug_follows_the_environment() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    println!("debug={}", lp.get_debug());
    lp.close()
}

fn set_debug_toggles_debug_mode() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    assert!(!lp.get_debug());
    lp.set_debug(true);
    assert!(lp.get_debug());
    assert_eq!(lp.slow_callback_duration(), Duration::from_millis(100));
    lp.set_slow_callback_duration(Duration::from_millis(5));
    assert_eq!(lp.slow_callback_duration(), Duration::from_millis(5));
    lp.set_debug(false);
    assert!(!lp.get_debug());
    lp.close()
}

fn slow_callback_is_logged_with_where_it_was_scheduled() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(10));
    let h = lp.call_soon(|| busy(Duration::from_millis(30)));
    println!("scheduled at {}", h.location());
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

fn fast_callbacks_are_not_logged() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_secs(5));
    lp.call_soon(|| ());
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

fn slow_callbacks_are_not_logged_without_debug() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_debug(false);
    lp.set_slow_callback_duration(Duration::from_millis(1));
    lp.call_soon(|| busy(Duration::from_millis(10)));
    lp.stop();
    lp.run_forever()?;
    lp.close()
}

fn slow_task_step_is_logged() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    lp.set_debug(true);
    lp.set_slow_callback_duration(Duration::from_millis(10));
    lp.run_until_complete(async {
        busy(Duration::from_millis(30));
    })?;
    lp.close()
}
