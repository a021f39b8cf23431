//! Getting a loop (test_events.py: get_running_loop, get_event_loop, set_event_loop,
//! new_event_loop, policies; asyncio.run; SelectorEventLoop).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::{
    DefaultEventLoopPolicy, Error, EventLoop, EventLoopPolicy, SelectorEventLoop, WasiPollSelector,
};
use test_programs::cases;

cases!(
    get_running_loop_outside_a_loop_is_an_error,
    get_running_loop_inside_a_callback_is_that_loop,
    get_event_loop_inside_a_coroutine_is_the_running_loop,
    get_event_loop_outside_returns_the_current_loop,
    get_event_loop_creates_a_loop_when_none_is_set,
    new_event_loop_returns_distinct_loops,
    custom_policy_decides_the_loops,
    run_returns_the_value_and_closes_its_loop,
    run_from_a_running_loop_is_an_error,
    run_cancels_tasks_left_pending,
    run_returns_the_error_of_main,
    selector_event_loop_over_wasi_poll_runs_timers,
    shutdown_asyncgens_closes_registered_generators,
);

fn get_running_loop_outside_a_loop_is_an_error() -> sandloop::Result<()> {
    match sandloop::get_running_loop() {
        Err(Error::Runtime(m)) => assert_eq!(m, "no running event loop"),
        other => panic!("expected RuntimeError, got {other:?}"),
    }
    Ok(())
}

fn get_running_loop_inside_a_callback_is_that_loop() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let seen = Rc::new(Cell::new(false));
    let (s, expected) = (seen.clone(), lp.clone());
    lp.call_soon(move || {
        let running = sandloop::get_running_loop().expect("running loop");
        s.set(running == expected);
        running.stop();
    });
    lp.run_forever()?;
    assert!(seen.get());
    assert!(sandloop::get_running_loop().is_err());
    lp.close()
}

fn get_event_loop_inside_a_coroutine_is_the_running_loop() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    let other = sandloop::new_event_loop();
    sandloop::set_event_loop(Some(other.clone()));
    let expected = lp.clone();
    let same =
        lp.run_until_complete(
            async move { Ok::<_, Error>(sandloop::get_event_loop() == expected) },
        )?;
    assert!(same);
    assert!(sandloop::get_event_loop() == other);
    sandloop::set_event_loop(None);
    other.close()?;
    lp.close()
}

fn get_event_loop_outside_returns_the_current_loop() -> sandloop::Result<()> {
    let lp = sandloop::new_event_loop();
    sandloop::set_event_loop(Some(lp.clone()));
    assert!(sandloop::get_event_loop() == lp);
    assert!(sandloop::get_event_loop() == lp);
    sandloop::set_event_loop(None);
    lp.close()
}

fn get_event_loop_creates_a_loop_when_none_is_set() -> sandloop::Result<()> {
    sandloop::set_event_loop(None);
    let a = sandloop::get_event_loop();
    let b = sandloop::get_event_loop();
    assert!(a == b, "the created loop becomes the current one");
    assert!(!a.is_closed());
    a.close()
}

fn new_event_loop_returns_distinct_loops() -> sandloop::Result<()> {
    let a = sandloop::new_event_loop();
    let b = sandloop::new_event_loop();
    assert!(a != b);
    a.close()?;
    assert!(!b.is_closed());
    b.close()
}

struct CountingPolicy {
    inner: DefaultEventLoopPolicy,
    created: Cell<u32>,
}

impl EventLoopPolicy for CountingPolicy {
    fn get_event_loop(&self) -> EventLoop {
        self.inner.get_event_loop()
    }
    fn set_event_loop(&self, lp: Option<EventLoop>) {
        self.inner.set_event_loop(lp)
    }
    fn new_event_loop(&self) -> EventLoop {
        self.created.set(self.created.get() + 1);
        EventLoop::new()
    }
}

fn custom_policy_decides_the_loops() -> sandloop::Result<()> {
    let policy = Rc::new(CountingPolicy {
        inner: DefaultEventLoopPolicy::default(),
        created: Cell::new(0),
    });
    sandloop::set_event_loop_policy(Some(policy.clone()));
    let lp = sandloop::new_event_loop();
    assert_eq!(policy.created.get(), 1);
    sandloop::set_event_loop(Some(lp.clone()));
    assert!(sandloop::get_event_loop() == lp);
    sandloop::set_event_loop_policy(None);
    lp.close()
}

fn run_returns_the_value_and_closes_its_loop() -> sandloop::Result<()> {
    let (value, lp) = sandloop::run(async {
        sandloop::sleep(Duration::from_millis(1)).await?;
        Ok::<_, Error>((7, sandloop::get_running_loop()?))
    })?;
    assert_eq!(value, 7);
    assert!(lp.is_closed());
    Ok(())
}

fn run_from_a_running_loop_is_an_error() -> sandloop::Result<()> {
    let r = sandloop::run(async { Ok::<_, Error>(sandloop::run(async {})) })?;
    assert!(matches!(r, Err(Error::Runtime(_))), "{r:?}");
    Ok(())
}

fn run_cancels_tasks_left_pending() -> sandloop::Result<()> {
    let leftover = sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        Ok::<_, Error>(lp.create_task(sandloop::sleep(Duration::from_secs(60))))
    })?;
    assert!(leftover.cancelled());
    Ok(())
}

fn run_returns_the_error_of_main() -> sandloop::Result<()> {
    let r: sandloop::Result<()> = sandloop::run(async { Err(Error::Timeout) });
    assert!(matches!(r, Err(Error::Timeout)));
    Ok(())
}

fn selector_event_loop_over_wasi_poll_runs_timers() -> sandloop::Result<()> {
    let lp = SelectorEventLoop::new(WasiPollSelector::new());
    let start = lp.time();
    lp.run_until_complete(sandloop::sleep(Duration::from_millis(20)))?;
    assert!(lp.time() - start >= 0.02);
    lp.close()
}

struct Gen {
    closed: Rc<Cell<bool>>,
}

impl sandloop::AsyncGen for Gen {
    fn describe(&self) -> String {
        "<gen>".into()
    }
    fn aclose(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = sandloop::Result<()>>>> {
        let closed = self.closed.clone();
        Box::pin(async move {
            closed.set(true);
            Ok(())
        })
    }
}

fn shutdown_asyncgens_closes_registered_generators() -> sandloop::Result<()> {
    let closed = Rc::new(Cell::new(false));
    let c = closed.clone();
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        lp.register_asyncgen(Rc::new(Gen { closed: c }));
        Ok::<_, Error>(())
    })?;
    assert!(
        closed.get(),
        "sandloop::run closes async generators at the end"
    );
    Ok(())
}
