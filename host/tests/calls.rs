//! Calls into a running workload (`Caller`): the guest program `plugin` exports functions
//! on its loop, serves a TCP echo server and ticks a timer; these tests call it from host
//! threads and check every answer and every way a call can fail.

mod common;

use std::future::Future;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpStream;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use sandloop_host::{CallError, Caller, ExitStatus, RunOptions, RunningWorkload, Runtime};
use test_programs_artifacts::program;

fn runtime() -> &'static Runtime {
    static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| Runtime::new().expect("a runtime"));
    &RUNTIME
}

/// The plugin, serving, with the loopback policy and its output captured.
fn start_plugin() -> RunningWorkload {
    runtime()
        .load(program("plugin"))
        .expect("load the plugin")
        .start(RunOptions {
            args: vec!["serve".into()],
            capture_output: true,
            policy: common::loopback_policy(),
            ..Default::default()
        })
        .expect("start the plugin")
}

/// A caller whose calls cannot hang a test.
fn caller(running: &RunningWorkload) -> Caller {
    running.caller().with_timeout(common::PATIENCE)
}

/// Asks the plugin to quit and checks that it exits 0.
fn quit(running: RunningWorkload) {
    let bye: String = caller(&running).call("quit", &()).wait().expect("quit");
    assert_eq!(bye, "bye");
    let out = common::join_within(running, "the plugin");
    assert_eq!(
        out.status,
        ExitStatus::Exited(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `cond` every 5 ms until it holds; fails the test after [`common::PATIENCE`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within the patience");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_typed_call_and_a_raw_call_get_their_answers() {
    let running = start_plugin();
    let caller = caller(&running);

    let sum: i64 = caller.call("add", &(40, 2)).wait().unwrap();
    let reversed = caller.call_raw("reverse", *b"abc").wait().unwrap();
    let greeting: String = caller.call("greet", &"ada").wait().unwrap();

    assert_eq!(sum, 42);
    assert_eq!(reversed, b"cba");
    assert_eq!(greeting, "hello ada");
    quit(running);
}

#[test]
fn many_calls_in_flight_from_several_threads_each_get_their_own_answer() {
    let running = start_plugin();
    let threads: Vec<_> = (0..4u64)
        .map(|thread| {
            let caller = caller(&running);
            std::thread::spawn(move || {
                // All 250 in flight before the first answer is awaited; they finish out of
                // order (each sleeps 0-4 ms in the guest).
                let calls: Vec<_> = (0..250u64)
                    .map(|i| {
                        let value = thread * 1000 + i;
                        (value, caller.call::<u64>("sleep_then", &(i % 5, value)))
                    })
                    .collect();
                for (value, call) in calls {
                    assert_eq!(call.wait().unwrap(), value);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a calling thread");
    }
    quit(running);
}

#[test]
fn the_loop_serves_its_echo_server_and_timers_while_calls_are_in_flight() {
    let running = start_plugin();
    let caller = caller(&running);
    let port: u16 = caller.call("echo_port", &()).wait().unwrap();
    let ticks_before: u64 = caller.call("ticks", &()).wait().unwrap();
    let slow: Vec<_> = (0..50u64)
        .map(|i| caller.call::<u64>("sleep_then", &(300, i)))
        .collect();

    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(common::PATIENCE)).unwrap();
    stream.write_all(b"ping\n").unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    eventually("the timer ticks while the slow calls run", || {
        caller.call::<u64>("ticks", &()).wait().unwrap() > ticks_before
    });

    assert_eq!(line, "ping\n");
    for (i, call) in slow.into_iter().enumerate() {
        assert_eq!(call.wait().unwrap(), i as u64);
    }
    quit(running);
}

#[test]
fn a_call_of_a_function_the_workload_did_not_export_fails() {
    let running = start_plugin();

    let err = caller(&running).call::<()>("nope", &()).wait().unwrap_err();

    assert_eq!(
        err,
        CallError::NoSuchFunction {
            name: "nope".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "call nope: the workload exports no function of this name"
    );
    quit(running);
}

#[test]
fn arguments_the_function_cannot_decode_fail_with_bad_arguments() {
    let running = start_plugin();
    let caller = caller(&running);

    let typed = caller.call::<i64>("add", &"not a pair").wait().unwrap_err();
    let raw = caller.call_raw("add", *b"{not json").wait().unwrap_err();

    for err in [typed, raw] {
        assert!(
            matches!(&err, CallError::BadArguments { name, .. } if name == "add"),
            "{err:?}"
        );
    }
    quit(running);
}

#[test]
fn a_functions_error_fails_the_call_with_its_message() {
    let running = start_plugin();

    let err = caller(&running)
        .call::<()>("fail", &"boom")
        .wait()
        .unwrap_err();

    assert_eq!(
        err,
        CallError::Failed {
            name: "fail".into(),
            message: "boom".into()
        }
    );
    quit(running);
}

#[test]
fn an_answer_the_host_cannot_decode_is_an_encoding_error() {
    let running = start_plugin();

    let err = caller(&running)
        .call::<Vec<String>>("add", &(1, 2))
        .wait()
        .unwrap_err();

    assert!(
        matches!(&err, CallError::Encoding { message, .. } if message.starts_with("decode the answer")),
        "{err:?}"
    );
    quit(running);
}

#[test]
fn a_call_timeout_fails_the_call_and_cancels_its_task_in_the_guest() {
    let running = start_plugin();
    let caller = caller(&running);

    let started = Instant::now();
    let err = caller
        .call::<()>("stuck", &())
        .timeout(Duration::from_millis(100))
        .wait()
        .unwrap_err();

    assert_eq!(
        err,
        CallError::TimedOut {
            name: "stuck".into(),
            after: Duration::from_millis(100)
        }
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
    eventually("the guest cancels the timed-out call's task", || {
        caller.call::<u64>("cancelled", &()).wait().unwrap() == 1
    });
    quit(running);
}

#[test]
fn dropping_a_call_cancels_its_task_in_the_guest() {
    let running = start_plugin();
    let caller = caller(&running);
    let call = caller.call::<()>("stuck", &());
    // The guest has taken it once a later call is answered (calls run in order).
    let _: i64 = caller.call("add", &(1, 1)).wait().unwrap();

    drop(call);

    eventually("the guest cancels the dropped call's task", || {
        caller.call::<u64>("cancelled", &()).wait().unwrap() == 1
    });
    quit(running);
}

#[test]
fn a_trap_mid_call_fails_every_pending_call_and_later_calls_fail_fast() {
    let running = start_plugin();
    let caller = caller(&running);
    let stuck: Vec<_> = (0..10).map(|_| caller.call::<()>("stuck", &())).collect();

    let err = caller
        .call::<()>("panic", &"on purpose")
        .wait()
        .unwrap_err();

    assert!(
        matches!(&err, CallError::Trapped { name, .. } if name == "panic"),
        "{err:?}"
    );
    for call in stuck {
        let err = call.wait().unwrap_err();
        assert!(
            matches!(&err, CallError::Trapped { name, .. } if name == "stuck"),
            "{err:?}"
        );
    }
    let started = Instant::now();
    let later = caller.call::<i64>("add", &(1, 2)).wait().unwrap_err();
    assert!(matches!(later, CallError::Trapped { .. }), "{later:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "fails fast");
    let out = common::join_within(running, "the plugin");
    assert!(
        matches!(out.status, ExitStatus::Trapped(_)),
        "{:?}",
        out.status
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("on purpose"),
        "the panic's message is in stderr"
    );
}

#[test]
fn a_stop_during_calls_fails_them_with_stopped() {
    let running = start_plugin();
    let caller = caller(&running);
    let stuck: Vec<_> = (0..10).map(|_| caller.call::<()>("stuck", &())).collect();
    let _: i64 = caller.call("add", &(1, 1)).wait().unwrap();

    running.stop();

    for call in stuck {
        assert_eq!(
            call.wait().unwrap_err(),
            CallError::Stopped {
                name: "stuck".into()
            }
        );
    }
    assert_eq!(
        common::join_within(running, "the plugin").status,
        ExitStatus::Stopped
    );
    assert_eq!(
        caller.call::<i64>("add", &(1, 2)).wait().unwrap_err(),
        CallError::Stopped { name: "add".into() }
    );
}

#[test]
fn a_call_after_the_workload_exited_fails_with_its_exit_code() {
    let running = start_plugin();
    let caller = caller(&running);

    quit(running);

    assert!(caller.is_closed());
    assert_eq!(
        caller.call::<i64>("add", &(1, 2)).wait().unwrap_err(),
        CallError::Exited {
            name: "add".into(),
            code: 0
        }
    );
}

/// The smallest executor: polls on this thread, parking between wakes.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[test]
fn a_call_is_a_future_any_executor_can_await() {
    let running = start_plugin();
    let caller = caller(&running);

    let (sum, greeting) = block_on(async {
        let sum: i64 = caller.call("add", &(2, 3)).await?;
        let greeting: String = caller.call("greet", &"bob").await?;
        Ok::<_, CallError>((sum, greeting))
    })
    .unwrap();

    assert_eq!((sum, greeting.as_str()), (5, "hello bob"));
    quit(running);
}
