//! `Task<T>`, asyncio's `test_tasks.py`: running, names, contexts, cancellation (drop
//! guards, messages, the awaited task), exceptions and their reports, task factories,
//! `current_task`, `all_tasks`, done callbacks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use sandloop::context::{Context, ContextVar};
use sandloop::{
    Error, EventLoop, ExceptionContext, Result, TaskFactory, TaskOptions, TaskRef, sleep,
};
use test_programs::{DropGuard, Log};

/// Sends the messages of the loop's exception handler to `log`, with the `future` field.
fn record_exceptions(lp: &EventLoop, log: &Log) {
    let log = log.clone();
    lp.set_exception_handler(Some(move |_: &EventLoop, ctx: &ExceptionContext| {
        log.push(format!(
            "{} | {}",
            ctx.message,
            ctx.future.clone().unwrap_or_default()
        ));
    }));
}

/// `log` holds one report, of an exception never retrieved from the task named `name`.
fn assert_one_unretrieved_report(log: &Log, name: &str) {
    let reports = log.get();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with("Task exception was never retrieved | "),
        "{reports:?}"
    );
    assert!(
        reports[0].contains(&format!("name='{name}'")),
        "{reports:?}"
    );
}

fn boom() -> Error {
    Error::other("boom")
}

fn long() -> Duration {
    Duration::from_secs(10)
}

fn create_task_runs_the_coroutine_and_await_gives_its_result() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    let got = sandloop::run(async move {
        let task = sandloop::create_task(async move {
            l.push("running");
            Ok::<_, Error>(6 * 7)
        });
        assert!(!task.done(), "a new task has not run yet");
        assert!(matches!(task.result(), Err(Error::InvalidState(_))));
        let v = task.clone().await?;
        assert!(task.done());
        assert_eq!(task.result()?, 42);
        assert!(task.exception()?.is_none());
        Ok::<_, Error>(v)
    })?;

    assert_eq!(got, 42);
    assert_eq!(log.get(), ["running"]);
    Ok(())
}

fn task_awaiting_another_task_gets_its_result() -> Result<()> {
    let got = sandloop::run(async {
        let inner = sandloop::create_task(async {
            sleep(Duration::from_millis(5)).await?;
            Ok::<_, Error>("inner result")
        });
        let outer = sandloop::create_task(async move {
            let v = inner.await?;
            Ok::<_, Error>(format!("outer got {v}"))
        });
        outer.await
    })?;

    assert_eq!(got, "outer got inner result");
    Ok(())
}

fn default_task_names_count_up() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let first = lp.create_task(async {});
        let named = lp.create_task_with(
            async {},
            TaskOptions {
                name: Some("named".into()),
                ..Default::default()
            },
        );
        let second = lp.create_task(async {});

        let n: u64 = first
            .get_name()
            .strip_prefix("Task-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("default name {:?} is not Task-N", first.get_name()));
        assert_eq!(named.get_name(), "named");
        assert_eq!(
            second.get_name(),
            format!("Task-{}", n + 1),
            "a named task does not use up a number"
        );
        Ok::<_, Error>(())
    })
}

fn task_options_name_names_the_task() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let task = lp.create_task_with(
            async { Ok::<_, Error>(sandloop::current_task().unwrap().get_name()) },
            TaskOptions {
                name: Some("worker-1".into()),
                ..Default::default()
            },
        );
        assert_eq!(task.get_name(), "worker-1");
        assert_eq!(task.await?, "worker-1", "the task sees its own name");
        Ok::<_, Error>(())
    })
}

fn set_name_renames_the_task() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(async {});
        task.set_name("renamed");
        assert_eq!(task.get_name(), "renamed");
        assert_eq!(task.as_ref().get_name(), "renamed");
        task.as_ref().set_name(String::from("again"));
        assert_eq!(task.get_name(), "again");
        assert!(format!("{task:?}").contains("name='again'"), "{task:?}");
        task.await
    })
}

fn renamed_task_is_reported_under_its_new_name() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);
    let task = lp.create_task(async { Err::<(), _>(boom()) });
    task.set_name("renamed");
    let waiter = task.clone();
    lp.run_until_complete(async move {
        sandloop::wait(vec![waiter], None, sandloop::ReturnWhen::AllCompleted).await?;
        Ok::<_, Error>(())
    })?;

    drop(task);

    assert_one_unretrieved_report(&log, "renamed");
    lp.close()
}

fn task_runs_in_the_context_given_in_options() -> Result<()> {
    let var = Rc::new(ContextVar::new("user", None::<&str>));
    let ctx = Context::new();
    let _ = ctx.run(|| var.set("alice"));
    let (v, outer) = (var.clone(), var.clone());
    let task_ctx = ctx.clone();
    let seen = sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let task = lp.create_task_with(
            async move {
                let seen = v.get();
                let _ = v.set("bob");
                Ok::<_, Error>(seen)
            },
            TaskOptions {
                context: Some(task_ctx),
                ..Default::default()
            },
        );
        let seen = task.await?;
        assert_eq!(outer.get(), None, "the creator's context is not the task's");
        Ok::<_, Error>(seen)
    })?;

    assert_eq!(seen, Some("alice"));
    assert_eq!(
        ctx.run(|| var.get()),
        Some("bob"),
        "what the task sets stays in its context"
    );
    Ok(())
}

/// A task's context is made only when asked for (`get_context`): before the task runs,
/// while it runs, or after it ended, it holds what the task set.
fn task_context_holds_what_the_task_set() -> Result<()> {
    let var = Rc::new(ContextVar::new("step", Some(0u32)));
    let (v, w) = (var.clone(), var.clone());
    sandloop::run(async move {
        // Asked for after the task ended.
        let inner = v.clone();
        let task = sandloop::create_task(async move {
            let _ = inner.set(1);
            Ok::<_, Error>(())
        });
        task.clone().await?;
        assert_eq!(task.get_context().run(|| v.get()), Some(1));

        // Asked for while the task runs: it counts as entered, and gets what is set later.
        let inner = w.clone();
        let task = sandloop::create_task(async move {
            let _ = inner.set(2);
            let ctx = sandloop::current_task()
                .expect("inside a task")
                .get_context();
            let _ = inner.set(3);
            Ok::<_, Error>(ctx)
        });
        let ctx = task.clone().await?;
        assert_eq!(ctx.run(|| w.get()), Some(3));

        // Asked for before the task runs: the task runs in that very context.
        let inner = w.clone();
        let task = sandloop::create_task(async move {
            let _ = inner.set(4);
            Ok::<_, Error>(())
        });
        let early = task.get_context();
        task.clone().await?;
        assert_eq!(early.run(|| w.get()), Some(4));
        Ok::<_, Error>(())
    })?;
    assert_eq!(var.get(), Some(0), "nothing leaked to the outer context");
    Ok(())
}

fn task_sets_do_not_leak_to_the_creator() -> Result<()> {
    let var = Rc::new(ContextVar::new("depth", Some(0u32)));
    let v = var.clone();
    sandloop::run(async move {
        let _ = v.set(1);
        let inner = v.clone();
        let task = sandloop::create_task(async move {
            let seen = inner.get();
            let _ = inner.set(2);
            Ok::<_, Error>((seen, inner.get()))
        });
        let (seen, after_set) = task.await?;
        assert_eq!(
            seen,
            Some(1),
            "the task starts with a copy of the creator's context"
        );
        assert_eq!(after_set, Some(2));
        assert_eq!(
            v.get(),
            Some(1),
            "the task's set does not leak to the creator"
        );
        Ok::<_, Error>(())
    })?;
    assert_eq!(var.get(), Some(0));
    Ok(())
}

fn task_cancelled_before_its_first_step_never_runs() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let guard = DropGuard {
            log: l.clone(),
            name: "captured",
        };
        let task = sandloop::create_task(async move {
            let _guard = guard;
            l.push("coroutine ran");
        });
        assert!(task.cancel());
        assert!(!task.done(), "cancellation happens at the next step");
        let got = task.clone().await;
        assert!(matches!(got, Err(Error::Cancelled(None))), "{got:?}");
        assert!(task.cancelled());
        assert!(task.done());
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["captured dropped"]);
    Ok(())
}

fn cancelling_a_sleeping_task_runs_its_drop_guards() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let task = sandloop::create_task(async move {
            let _guard = DropGuard {
                log: l.clone(),
                name: "sleeper",
            };
            l.push("sleeping");
            sleep(long()).await?;
            l.push("woke up");
            Ok::<_, Error>(())
        });
        sleep(Duration::from_millis(1)).await?;
        assert!(task.cancel());
        let got = task.clone().await;
        assert!(matches!(got, Err(Error::Cancelled(None))), "{got:?}");
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["sleeping", "sleeper dropped"]);
    Ok(())
}

fn cancelled_task_drop_guards_run_inside_the_task() -> Result<()> {
    struct Probe {
        var: Rc<ContextVar<&'static str>>,
        log: Log,
    }
    impl Drop for Probe {
        fn drop(&mut self) {
            let task = sandloop::current_task().map(|t| t.get_name());
            self.log.push(format!("{:?} {:?}", task, self.var.get()));
        }
    }
    let log = Log::new();
    let l = log.clone();
    let var = Rc::new(ContextVar::new("var", None::<&'static str>));
    sandloop::run(async move {
        let lp = sandloop::get_running_loop()?;
        let v = var.clone();
        let task = lp.create_task_with(
            async move {
                let _ = v.set("inside");
                let _probe = Probe { var: v, log: l };
                sleep(long()).await
            },
            TaskOptions {
                name: Some("probed".into()),
                ..Default::default()
            },
        );
        sleep(Duration::from_millis(1)).await?;
        task.cancel();
        assert!(task.await.is_err());
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), [r#"Some("probed") Some("inside")"#]);
    Ok(())
}

fn cancel_with_message_is_carried_by_the_cancelled_error() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(sleep(long()));
        sleep(Duration::ZERO).await?;
        assert!(task.cancel_with_message("shutting down"));
        match task.clone().await {
            Err(Error::Cancelled(Some(msg))) => assert_eq!(msg, "shutting down"),
            other => panic!("expected Cancelled(Some(msg)), got {other:?}"),
        }
        assert!(matches!(task.result(), Err(Error::Cancelled(Some(m))) if m == "shutting down"));
        Ok::<_, Error>(())
    })
}

fn cancelling_a_task_cancels_the_task_it_awaits() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let inner = sandloop::create_task(async move {
            let _guard = DropGuard {
                log: l,
                name: "inner",
            };
            sleep(long()).await
        });
        let inner_handle = inner.clone();
        let outer = sandloop::create_task(inner);
        sleep(Duration::from_millis(1)).await?;

        assert!(outer.cancel());
        assert!(outer.clone().await.is_err());

        sleep(Duration::ZERO).await?;
        assert!(
            inner_handle.cancelled(),
            "the awaited task is cancelled too"
        );
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["inner dropped"]);
    Ok(())
}

fn task_awaiting_a_cancelled_future_ends_cancelled() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let fut = lp.create_future::<i32>();
        let awaited = fut.clone();
        let task = lp.create_task(awaited);
        sleep(Duration::ZERO).await?;
        fut.cancel();
        assert!(matches!(task.clone().await, Err(Error::Cancelled(None))));
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
}

fn task_returning_err_has_that_exception() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(async { Err::<i32, _>(boom()) });
        let got = task.clone().await;
        assert_eq!(got.unwrap_err().to_string(), "boom");
        assert!(task.done());
        assert!(!task.cancelled());
        assert_eq!(task.exception()?.expect("an exception").to_string(), "boom");
        assert_eq!(task.result().unwrap_err().to_string(), "boom");
        Ok::<_, Error>(())
    })
}

fn task_of_a_plain_value_gives_that_value() -> Result<()> {
    let got = sandloop::run(async {
        let five = sandloop::create_task(async { 5 });
        let name = sandloop::create_task(async { String::from("sandloop") });
        let pair = sandloop::create_task(async { (1u8, vec!["a"]) });
        Ok::<_, Error>((five.await?, name.await?, pair.await?))
    })?;
    assert_eq!(got, (5, "sandloop".to_string(), (1, vec!["a"])));
    assert_eq!(sandloop::run(async { "done" })?, "done");
    Ok(())
}

fn cancelling_a_task_of_a_plain_value_ends_it_cancelled() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(async {
            sleep(long())
                .await
                .expect("the sleep is dropped, not failed");
            5
        });
        sleep(Duration::ZERO).await?;
        assert!(task.cancel());
        assert!(matches!(task.clone().await, Err(Error::Cancelled(_))));
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
}

/// `spawn` takes any output, even a `Result` whose error is not a sandloop error: the
/// output is the task's value, not its exception.
fn spawn_gives_the_output_as_it_is() -> Result<()> {
    #[derive(Debug, PartialEq)]
    struct Reply(u16);
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let reply = lp.spawn(async { Reply(204) }).join().await?;
        assert_eq!(reply, Reply(204));
        let parsed = sandloop::spawn(async { "x".parse::<u8>() });
        let value = parsed.clone().join().await?;
        assert!(value.is_err(), "the parse error is the value");
        assert!(
            parsed.exception()?.is_none(),
            "and not the task's exception"
        );
        let sleeper = sandloop::spawn(async { sleep(long()).await.is_ok() });
        sleep(Duration::ZERO).await?;
        assert!(sleeper.cancel());
        assert!(matches!(sleeper.join().await, Err(Error::Cancelled(_))));
        Ok::<_, Error>(())
    })
}

/// An `anyhow::Result` coroutine: its `Err` reaches `run`'s caller with anyhow's message
/// and causes; a sandloop error carried by `?` comes back as itself.
fn anyhow_result_err_reaches_the_caller_with_its_message() -> Result<()> {
    use anyhow::Context as _;
    let err = sandloop::run(async {
        let n: u16 = "70000".parse().context("parsing the port")?;
        Ok::<_, anyhow::Error>(n)
    })
    .unwrap_err();
    assert!(matches!(err, Error::Other(_)), "{err:#?}");
    assert_eq!(err.to_string(), "parsing the port");
    assert_eq!(
        format!("{err:?}"),
        "parsing the port: number too large to fit in target type"
    );
    let timeout = sandloop::run(async {
        sandloop::wait_for(sleep(long()), Duration::from_millis(1)).await?;
        Ok::<_, anyhow::Error>(())
    })
    .unwrap_err();
    assert!(matches!(timeout, Error::Timeout), "{timeout:#?}");
    assert_eq!(timeout.kind(), std::io::ErrorKind::TimedOut);
    Ok(())
}

/// An `anyhow` `Err` is still the task's exception: `exception()` has it, and unretrieved
/// it reaches the loop's exception handler.
fn anyhow_err_is_the_task_exception() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);
    let watched = lp.create_task(async { Err::<(), _>(anyhow::anyhow!("no quorum")) });
    let unwatched = lp.create_task_with(
        async { Err::<(), _>(anyhow::anyhow!("never read")) },
        TaskOptions {
            name: Some("anyhow".into()),
            ..Default::default()
        },
    );
    let both = vec![watched.clone(), unwatched.clone()];
    lp.run_until_complete(async move {
        sandloop::wait(both, None, sandloop::ReturnWhen::AllCompleted).await?;
        Ok::<_, Error>(())
    })?;
    assert!(!watched.cancelled());
    let exc = watched.exception()?.expect("an exception");
    assert_eq!(exc.to_string(), "no quorum");
    drop(watched);
    drop(unwatched);
    assert_one_unretrieved_report(&log, "anyhow");
    lp.close()
}

/// A oneshot channel whose sender is dropped: `?` converts its `Canceled` into an ordinary
/// error of the task, not a cancellation of the task.
fn oneshot_canceled_is_an_error_of_the_task() -> Result<()> {
    sandloop::run(async {
        let (tx, rx) = futures_channel::oneshot::channel::<u8>();
        drop(tx);
        let task = sandloop::create_task(async move { Ok::<_, Error>(rx.await?) });
        let err = task.clone().await.unwrap_err();
        assert!(!err.is_cancelled(), "{err:#?}");
        assert!(!task.cancelled());
        assert_eq!(err.to_string(), "oneshot canceled");
        Ok::<_, Error>(())
    })
}

fn cancel_on_a_done_task_returns_false() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(async { Ok::<_, Error>(1) });
        assert_eq!(task.clone().await?, 1);
        assert!(!task.cancel());
        assert!(!task.cancelled());
        assert_eq!(task.result()?, 1);
        Ok::<_, Error>(())
    })
}

fn task_cancelling_itself_ends_cancelled() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let task = sandloop::create_task(async move {
            let me = sandloop::current_task().expect("inside a task");
            assert!(me.cancel());
            l.push("cancel requested");
            sleep(Duration::ZERO).await?;
            l.push("still running");
            Ok::<_, Error>(())
        });
        assert!(matches!(task.clone().await, Err(Error::Cancelled(_))));
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["cancel requested"]);
    Ok(())
}

fn task_cancelling_itself_then_returning_ends_cancelled() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(async {
            sandloop::current_task()
                .expect("inside a task")
                .cancel_with_message("changed my mind");
            Ok::<_, Error>("returned anyway")
        });
        let got = task.clone().await;
        assert!(
            matches!(&got, Err(Error::Cancelled(Some(m))) if m == "changed my mind"),
            "{got:?}"
        );
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
}

fn task_context_is_copied_at_creation() -> Result<()> {
    let var = Rc::new(ContextVar::new("cvar", Some("nope")));
    let v = var.clone();
    sandloop::run(async move {
        let inner = v.clone();
        let sub = sandloop::create_task(async move {
            sleep(Duration::from_millis(1)).await?;
            let seen = inner.get();
            let _ = inner.set("something else");
            Ok::<_, Error>(seen)
        });
        let _ = v.set("yes"); // after the task was created: it does not see this
        assert_eq!(sub.await?, Some("nope"));
        assert_eq!(v.get(), Some("yes"), "the task's set stays in the task");
        Ok::<_, Error>(())
    })
}

fn cancelling_a_task_cancels_the_future_it_awaits() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let fut = lp.create_future::<i32>();
        let awaited = fut.clone();
        let task = lp.create_task(awaited);
        sleep(Duration::ZERO).await?;

        task.cancel_with_message("bye");
        assert!(matches!(task.await, Err(Error::Cancelled(_))));
        assert!(fut.cancelled(), "the awaited future is cancelled too");
        assert!(matches!(fut.result(), Err(Error::Cancelled(Some(m))) if m == "bye"));
        Ok::<_, Error>(())
    })
}

fn current_task_follows_interleaving_tasks() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let fut1 = lp.create_future::<()>();
        let fut2 = lp.create_future::<()>();
        let me = || sandloop::current_task().unwrap().get_name();
        let (f1, f2) = (fut1.clone(), fut2.clone());
        let task1 = lp.create_task_with(
            async move {
                assert_eq!(me(), "one");
                f1.await?;
                assert_eq!(me(), "one");
                f2.set_result(())
            },
            TaskOptions {
                name: Some("one".into()),
                ..Default::default()
            },
        );
        let (f1, f2) = (fut1.clone(), fut2.clone());
        let task2 = lp.create_task_with(
            async move {
                assert_eq!(me(), "two");
                f1.set_result(())?;
                f2.await?;
                assert_eq!(me(), "two");
                Ok::<_, Error>(())
            },
            TaskOptions {
                name: Some("two".into()),
                ..Default::default()
            },
        );
        task1.await?;
        task2.await
    })
}

fn task_awaiting_itself_gets_a_runtime_error() -> Result<()> {
    sandloop::run(async {
        let me: Rc<std::cell::RefCell<Option<sandloop::Task<u32>>>> = Rc::default();
        let m = me.clone();
        let task = sandloop::create_task(async move {
            sleep(Duration::ZERO).await?;
            let this = m.borrow_mut().take().expect("handle set by the creator");
            this.await
        });
        *me.borrow_mut() = Some(task.clone());

        match wait_for_result(task).await {
            Err(Error::Runtime(msg)) => assert!(msg.contains("cannot await on itself"), "{msg}"),
            other => panic!("expected a RuntimeError, got {other:?}"),
        }
        Ok::<_, Error>(())
    })
}

/// Awaits a task with a deadline, so a bug that makes it wait forever fails the case.
async fn wait_for_result<T: Clone + 'static>(task: sandloop::Task<T>) -> Result<T> {
    match sandloop::wait_for(task, Duration::from_secs(2)).await {
        Err(Error::Timeout) => panic!("the task never finished"),
        other => other,
    }
}

fn unretrieved_task_exception_is_reported_when_the_task_is_dropped() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);
    let task = lp.create_task_with(
        async { Err::<(), _>(boom()) },
        TaskOptions {
            name: Some("failing".into()),
            ..Default::default()
        },
    );
    let t = task.clone();
    lp.run_until_complete(async move {
        sandloop::wait(vec![t], None, sandloop::ReturnWhen::AllCompleted).await?;
        Ok::<_, Error>(())
    })?;
    assert!(task.done());
    assert!(
        log.get().is_empty(),
        "not reported while the task is referenced"
    );

    drop(task);

    assert_one_unretrieved_report(&log, "failing");
    lp.close()
}

/// The host checks stderr for the default handler's line.
fn unretrieved_task_exception_is_logged_by_the_default_handler() -> Result<()> {
    let lp = sandloop::new_event_loop();
    lp.run_until_complete(async {
        let task = sandloop::create_task(async { Err::<(), _>(Error::other("nobody looked")) });
        sleep(Duration::from_millis(1)).await?;
        assert!(task.done());
        Ok::<_, Error>(())
    })?;
    lp.close()
}

fn retrieved_task_exception_is_not_reported() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    record_exceptions(&lp, &log);
    lp.run_until_complete(async {
        let awaited = sandloop::create_task(async { Err::<(), _>(boom()) });
        assert!(awaited.await.is_err());
        let asked = sandloop::create_task(async { Err::<(), _>(boom()) });
        sleep(Duration::from_millis(1)).await?;
        assert!(asked.exception()?.is_some());
        Ok::<_, Error>(())
    })?;
    let returned = lp.run_until_complete(async { Err::<(), _>(boom()) });
    assert!(returned.is_err());

    assert!(log.get().is_empty(), "{:?}", log.get());
    lp.close()
}

fn task_factory_is_used_by_create_task_and_run_until_complete() -> Result<()> {
    let lp = sandloop::new_event_loop();
    assert!(lp.get_task_factory().is_none(), "no factory by default");
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let factory: TaskFactory = Rc::new(move |lp: &EventLoop, coro, mut options: TaskOptions| {
        c.set(c.get() + 1);
        options.name = Some(format!("made-{}", c.get()));
        TaskRef::new(lp, coro, options)
    });
    lp.set_task_factory(Some(factory.clone()));
    let got = lp.get_task_factory().expect("the factory just set");
    assert!(Rc::ptr_eq(&got, &factory));

    let names = lp.run_until_complete(async {
        let main = sandloop::current_task().unwrap().get_name();
        let child = sandloop::create_task(async {
            Ok::<_, Error>(sandloop::current_task().unwrap().get_name())
        });
        assert_eq!(child.get_name(), "made-2");
        Ok::<_, Error>((main, child.await?))
    })?;

    assert_eq!(names, ("made-1".to_string(), "made-2".to_string()));
    assert_eq!(calls.get(), 2);

    lp.set_task_factory(None);
    assert!(lp.get_task_factory().is_none());
    let name = lp.run_until_complete(async {
        Ok::<_, Error>(sandloop::current_task().unwrap().get_name())
    })?;
    assert!(name.starts_with("Task-"), "{name}");
    assert_eq!(calls.get(), 2, "the factory is no longer called");
    lp.close()
}

fn task_factory_may_wrap_the_coroutine() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    lp.set_task_factory(Some(Rc::new(
        move |lp: &EventLoop, coro: sandloop::Coroutine, options: TaskOptions| {
            let l = l.clone();
            let coro = coro.wrap(|fut| {
                Box::pin(async move {
                    l.push("before");
                    fut.await;
                    l.push("after");
                })
            });
            TaskRef::new(lp, coro, options)
        },
    )));

    let v = lp.run_until_complete(async { Ok::<_, Error>(3) })?;

    assert_eq!(v, 3);
    assert_eq!(log.get(), ["before", "after"]);
    lp.close()
}

fn current_task_is_the_running_task_and_none_outside() -> Result<()> {
    assert!(sandloop::current_task().is_none(), "no task outside a loop");
    let lp = sandloop::new_event_loop();
    let log = Log::new();
    let l = log.clone();
    lp.call_soon(move || {
        l.push(format!(
            "in callback: {}",
            sandloop::current_task().is_some()
        ))
    });
    lp.run_until_complete(async {
        let task = sandloop::create_task(async {
            Ok::<_, Error>(sandloop::current_task().expect("inside a task"))
        });
        let seen = task.clone().await?;
        assert!(
            seen.ptr_eq(&task.as_ref()),
            "current_task() is the task itself"
        );
        let main = sandloop::current_task().expect("the main coroutine is a task");
        assert!(!main.ptr_eq(&seen));
        Ok::<_, Error>(())
    })?;

    assert_eq!(log.get(), ["in callback: false"]);
    assert!(sandloop::current_task().is_none());
    lp.close()
}

fn all_tasks_lists_pending_tasks_only() -> Result<()> {
    sandloop::run(async {
        let lp = sandloop::get_running_loop()?;
        let main = sandloop::current_task().unwrap();
        let sleeper = lp.create_task(sleep(long()));
        let quick = lp.create_task(async {});
        sleep(Duration::from_millis(1)).await?;
        assert!(quick.done());

        let all = sandloop::all_tasks()?;
        assert_eq!(all.len(), 2, "{all:?}");
        assert!(all.iter().any(|t| t.ptr_eq(&main)));
        assert!(all.iter().any(|t| t.ptr_eq(&sleeper.as_ref())));
        assert_eq!(lp.all_tasks().len(), 2);

        sleeper.cancel();
        let _ = sleeper.await;
        let all = sandloop::all_tasks()?;
        assert_eq!(all.len(), 1);
        assert!(all[0].ptr_eq(&main));
        Ok::<_, Error>(())
    })
}

fn all_tasks_outside_a_running_loop_is_runtime_error() -> Result<()> {
    assert!(matches!(sandloop::all_tasks(), Err(Error::Runtime(_))));
    Ok(())
}

fn task_done_callback_receives_the_task() -> Result<()> {
    let log = Log::new();
    let l = log.clone();
    sandloop::run(async move {
        let task = sandloop::create_task(async { Ok::<_, Error>(5) });
        let expected = task.as_ref();
        let l2 = l.clone();
        task.add_done_callback(move |t| {
            assert!(t.as_ref().ptr_eq(&expected));
            l.push(format!("done {} {}", t.get_name(), t.result().unwrap()));
        });
        let removed = task.add_done_callback(move |_| l2.push("removed callback ran"));
        assert_eq!(task.remove_done_callback(removed), 1);
        let name = task.get_name();
        task.await?;
        sleep(Duration::ZERO).await?;
        Ok::<_, Error>(name)
    })
    .map(|name| assert_eq!(log.get(), [format!("done {name} 5")]))
}

fn cancelling_counts_cancel_requests() -> Result<()> {
    sandloop::run(async {
        let task = sandloop::create_task(sleep(long()));
        sleep(Duration::ZERO).await?;
        let t = task.as_ref();
        assert_eq!(t.cancelling(), 0);
        assert!(task.cancel());
        assert_eq!(t.cancelling(), 1);
        assert!(
            task.cancel(),
            "a second request before the task ends is accepted"
        );
        assert_eq!(t.cancelling(), 2);
        assert!(task.clone().await.is_err());
        assert!(task.cancelled());
        Ok::<_, Error>(())
    })
}

fn run_until_complete_returns_the_err_of_a_failing_coroutine() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let got = lp.run_until_complete(async { Err::<i32, _>(boom()) });
    assert_eq!(got.unwrap_err().to_string(), "boom");
    lp.close()
}

fn run_until_complete_of_a_failing_task_returns_its_err() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let task = lp.create_task(async {
        sleep(Duration::from_millis(1)).await?;
        Err::<i32, _>(boom())
    });

    let got = lp.run_until_complete(task.clone());

    assert_eq!(got.unwrap_err().to_string(), "boom");
    assert_eq!(
        task.exception()?.expect("the task failed").to_string(),
        "boom"
    );
    lp.close()
}

/// `join` moves a result out, so it works for results that are not `Clone`.
fn join_takes_a_result_that_is_not_clone() -> sandloop::Result<()> {
    struct NotClone(u32);
    let lp = sandloop::new_event_loop();
    let v = lp.run_until_complete(async {
        let lp = sandloop::get_running_loop()?;
        let task = lp.create_task(async { Ok::<_, sandloop::Error>(NotClone(5)) });
        let probe = task.clone();
        let value = task.join().await?;
        assert!(matches!(probe.exception(), Ok(None)));
        Ok::<_, sandloop::Error>(value.0)
    })?;
    assert_eq!(v, 5);
    lp.close()
}

/// asyncio: "Task got Future attached to a different loop" (that loop may never run).
fn awaiting_a_future_of_another_loop_is_a_runtime_error() -> sandloop::Result<()> {
    let other = sandloop::new_event_loop();
    let foreign = other.create_future::<u32>();
    let lp = sandloop::new_event_loop();
    let got = lp.run_until_complete(async move { Ok::<_, Error>(foreign.await) })?;
    match got {
        Err(Error::Runtime(m)) => assert!(m.contains("attached to a different loop"), "{m}"),
        other => panic!("expected a RuntimeError, got {other:?}"),
    }
    other.close()?;
    lp.close()
}

test_programs::cases!(
    task_context_holds_what_the_task_set,
    awaiting_a_future_of_another_loop_is_a_runtime_error,
    join_takes_a_result_that_is_not_clone,
    create_task_runs_the_coroutine_and_await_gives_its_result,
    task_awaiting_another_task_gets_its_result,
    default_task_names_count_up,
    task_options_name_names_the_task,
    set_name_renames_the_task,
    renamed_task_is_reported_under_its_new_name,
    task_runs_in_the_context_given_in_options,
    task_sets_do_not_leak_to_the_creator,
    task_context_is_copied_at_creation,
    task_cancelled_before_its_first_step_never_runs,
    cancelling_a_sleeping_task_runs_its_drop_guards,
    cancelled_task_drop_guards_run_inside_the_task,
    cancel_with_message_is_carried_by_the_cancelled_error,
    cancelling_a_task_cancels_the_task_it_awaits,
    cancelling_a_task_cancels_the_future_it_awaits,
    task_awaiting_a_cancelled_future_ends_cancelled,
    task_returning_err_has_that_exception,
    task_of_a_plain_value_gives_that_value,
    cancelling_a_task_of_a_plain_value_ends_it_cancelled,
    spawn_gives_the_output_as_it_is,
    anyhow_result_err_reaches_the_caller_with_its_message,
    anyhow_err_is_the_task_exception,
    oneshot_canceled_is_an_error_of_the_task,
    cancel_on_a_done_task_returns_false,
    task_cancelling_itself_ends_cancelled,
    task_cancelling_itself_then_returning_ends_cancelled,
    unretrieved_task_exception_is_reported_when_the_task_is_dropped,
    retrieved_task_exception_is_not_reported,
    task_factory_is_used_by_create_task_and_run_until_complete,
    task_factory_may_wrap_the_coroutine,
    current_task_is_the_running_task_and_none_outside,
    current_task_follows_interleaving_tasks,
    task_awaiting_itself_gets_a_runtime_error,
    all_tasks_lists_pending_tasks_only,
    all_tasks_outside_a_running_loop_is_runtime_error,
    task_done_callback_receives_the_task,
    cancelling_counts_cancel_requests,
    run_until_complete_returns_the_err_of_a_failing_coroutine,
    run_until_complete_of_a_failing_task_returns_its_err;
    // Run by tests in host/tests/tasks.rs that check what they print.
    checked:
    unretrieved_task_exception_is_logged_by_the_default_handler,
);
