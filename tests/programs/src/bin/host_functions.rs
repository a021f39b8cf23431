//! Host functions: the embedding application's functions called from the loop. Every case
//! needs the functions and grants its test in `host/tests/host_functions.rs` provides.

use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use sandloop::host_functions::{call, call_raw};
use sandloop::{Error, Result, create_task, gather, get_running_loop, run, sleep};
use serde::{Deserialize, Serialize};
use test_programs::cases;

cases!(
    ;
    checked:
    a_granted_call_is_answered,
    typed_calls_round_trip,
    a_denied_name_is_permission_denied,
    a_granted_name_not_provided_is_not_found,
    the_loop_keeps_serving_while_a_call_waits,
    many_calls_are_in_flight_at_once,
    a_function_that_panics_or_drops_its_reply_fails_the_call,
    a_call_pending_when_the_run_is_stopped,
    a_call_pending_when_the_workload_traps,
    pending_calls_count_against_the_handle_limit,
);

fn a_granted_call_is_answered() -> Result<()> {
    run(async {
        let answer = call_raw("echo", b"hello host").await?;
        assert_eq!(answer, b"hello host");
        println!("echo answered");
        Ok::<_, Error>(())
    })
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Order {
    item: String,
    quantity: u32,
}

fn typed_calls_round_trip() -> Result<()> {
    run(async {
        // Answered later from another thread (`add_json` + `answer_json`).
        let sum: i64 = call("add", &(40, 2)).await?;
        assert_eq!(sum, 42);
        // Answered on a blocking thread (`add_blocking_json`).
        let order = Order {
            item: "tea".into(),
            quantity: 3,
        };
        let doubled: Order = call("double_order", &order).await?;
        assert_eq!(
            doubled,
            Order {
                item: "tea".into(),
                quantity: 6
            }
        );
        // The function's own error, and arguments it cannot decode.
        let err = call::<_, Order>(
            "double_order",
            &Order {
                item: "tea".into(),
                quantity: 0,
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::Other(_)), "{err:#?}");
        assert_eq!(err.to_string(), "cannot double nothing");
        let err = call::<_, i64>("add", "not a pair").await.unwrap_err();
        assert!(
            err.to_string().contains("cannot decode its arguments"),
            "{err}"
        );
        println!("typed calls round trip");
        Ok::<_, Error>(())
    })
}

fn a_denied_name_is_permission_denied() -> Result<()> {
    run(async {
        // "secret" is provided by the application but not granted; "nothing" is neither:
        // both read the same.
        for name in ["secret", "nothing"] {
            let err = call_raw(name, b"").await.unwrap_err();
            assert!(matches!(err, Error::PermissionDenied(_)), "{err:#?}");
            assert_eq!(
                err.to_string(),
                format!("permission denied: policy denies calling host function {name:?}")
            );
        }
        println!("denied");
        Ok::<_, Error>(())
    })
}

fn a_granted_name_not_provided_is_not_found() -> Result<()> {
    run(async {
        let err = call_raw("missing", b"").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err:#?}");
        assert!(
            err.to_string()
                .contains("no host function named \"missing\""),
            "{err}"
        );
        println!("not found");
        Ok::<_, Error>(())
    })
}

fn the_loop_keeps_serving_while_a_call_waits() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        // "gate" answers only once "open" was called: while it waits, timers fire and
        // another call is made and answered, all on this loop.
        let gate = create_task(async { call_raw("gate", b"").await });
        let ticks = Rc::new(Cell::new(0u32));
        for i in 1..=3u64 {
            let ticks = ticks.clone();
            lp.call_later(Duration::from_millis(5 * i), move || {
                ticks.set(ticks.get() + 1)
            });
        }
        sleep(Duration::from_millis(30)).await?;
        assert_eq!(ticks.get(), 3, "the timers fired while the call waited");
        assert!(!gate.done(), "the gated call waits for \"open\"");
        call_raw("open", b"").await?;
        let answer = gate.await?;
        assert_eq!(answer, b"opened");
        println!("timers fired: {}", ticks.get());
        Ok::<_, Error>(())
    })
}

fn many_calls_are_in_flight_at_once() -> Result<()> {
    run(async {
        let calls: Vec<_> = (0..200u32)
            .map(|i| {
                let name = if i % 2 == 0 {
                    "echo_later"
                } else {
                    "echo_blocking"
                };
                Box::pin(async move {
                    let answer: u32 = call(name, &i).await?;
                    assert_eq!(answer, i);
                    Ok::<_, Error>(())
                })
            })
            .collect();
        let results = gather(calls).await?;
        assert_eq!(results.len(), 200);
        println!("200 calls answered");
        Ok::<_, Error>(())
    })
}

fn a_function_that_panics_or_drops_its_reply_fails_the_call() -> Result<()> {
    run(async {
        for (name, words) in [
            ("panics", "host function \"panics\" panicked"),
            ("panics_later", "host function \"panics_later\" panicked"),
            (
                "panics_blocking",
                "host function \"panics_blocking\" panicked",
            ),
            (
                "forgets",
                "host function \"forgets\" dropped its reply without answering",
            ),
        ] {
            let err = call_raw(name, b"").await.unwrap_err();
            assert!(matches!(err, Error::Runtime(_)), "{err:#?}");
            assert!(err.to_string().contains(words), "{err}");
        }
        // The loop and the host go on.
        assert_eq!(call_raw("echo", b"still here").await?, b"still here");
        println!("failures reported");
        Ok::<_, Error>(())
    })
}

fn a_call_pending_when_the_run_is_stopped() -> Result<()> {
    run(async {
        let held = create_task(async { call_raw("hold", b"").await });
        // Tell the test the call is pending; it stops the run then.
        call_raw("echo", b"").await?;
        println!("holding");
        // Never answered: the test stops the run while this waits.
        held.await?;
        Ok::<_, Error>(())
    })
}

fn a_call_pending_when_the_workload_traps() -> Result<()> {
    run(async {
        let _held = create_task(async { call_raw("hold", b"").await });
        let _blocked = create_task(async { call_raw("block", b"").await });
        // Both calls are made once the tasks ran; the trap waits until the blocking one
        // runs on its thread.
        while !call::<_, bool>("block_started", &()).await? {
            sleep(Duration::from_millis(1)).await?;
        }
        trap("the workload traps with two calls pending")
    })
}

/// Panics (the instance traps), typed as a case's result.
fn trap(message: &str) -> Result<()> {
    panic!("{message}")
}

fn pending_calls_count_against_the_handle_limit() -> Result<()> {
    run(async {
        let refused = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let refused = refused.clone();
                create_task(async move {
                    match call_raw("hold", b"").await {
                        Err(err) if err.kind() == ErrorKind::QuotaExceeded => {
                            refused.set(refused.get() + 1);
                            Ok(())
                        }
                        other => other.map(drop),
                    }
                })
            })
            .collect();
        // Every task has made its call (or been refused) after a few loop turns.
        sleep(Duration::from_millis(50)).await?;
        let refused = refused.get();
        let pending = tasks.iter().filter(|task| !task.done()).count();
        println!("pending {pending} refused {refused}");
        assert_eq!(pending as u32 + refused, 100);
        assert!(refused > 0 && pending > 0);
        // Cancelling the pending calls releases their handles: calls work again.
        for task in &tasks {
            task.cancel();
        }
        sleep(Duration::from_millis(10)).await?;
        assert_eq!(call_raw("echo", b"again").await?, b"again");
        println!("released");
        Ok::<_, Error>(())
    })
}
