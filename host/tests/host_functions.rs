//! Host functions (guest program `host_functions`): the embedding application's functions,
//! called by a workload under its policy and answered from any thread, while its loop
//! keeps serving; failures of the functions, endings of the run with calls pending, and
//! the handle limit.

mod common;

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sandloop_host::{ExitStatus, HostFunctions, Policy, Reply, RunOptions, Runtime};
use serde::{Deserialize, Serialize};

const PROGRAM: &str = "host_functions";

#[derive(Serialize, Deserialize)]
struct Order {
    item: String,
    quantity: u32,
}

/// What the test's functions saw and hold, shared with the test.
#[derive(Default)]
struct Probe {
    /// "secret" ran (it must not: it is never granted).
    secret_ran: AtomicBool,
    /// The reply of the "gate" call, answered by "open".
    gate: Mutex<Option<Reply>>,
    /// The replies of "hold" calls, never answered by the functions themselves.
    held: Mutex<Vec<Reply>>,
    /// Lets the "block" calls return.
    unblock: Mutex<Option<mpsc::Receiver<()>>>,
    /// A "block" call runs.
    block_started: AtomicBool,
    /// Told when a thread that ran "block" ends.
    thread_ended: Mutex<Option<mpsc::Sender<()>>>,
}

/// Sends on its channel when dropped: kept in a thread-local, it tells when its thread
/// ended.
struct OnThreadEnd(mpsc::Sender<()>);

impl Drop for OnThreadEnd {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

thread_local! {
    static ON_THREAD_END: RefCell<Option<OnThreadEnd>> = const { RefCell::new(None) };
}

/// Every function the guest's cases call (the policy decides which they may).
fn functions(probe: &Arc<Probe>) -> HostFunctions {
    let secret = Arc::clone(probe);
    let gate = Arc::clone(probe);
    let open = Arc::clone(probe);
    let hold = Arc::clone(probe);
    let block = Arc::clone(probe);
    let started = Arc::clone(probe);
    HostFunctions::new()
        .add("echo", |args, reply| reply.answer(Ok(args)))
        .add_json("add", |(a, b): (i64, i64), reply| {
            std::thread::spawn(move || reply.answer_json(Ok::<_, String>(a + b)));
        })
        .add_blocking_json("double_order", |order: Order| {
            if order.quantity == 0 {
                return Err("cannot double nothing");
            }
            Ok(Order {
                quantity: order.quantity * 2,
                ..order
            })
        })
        .add("secret", move |_args, reply| {
            secret.secret_ran.store(true, Ordering::SeqCst);
            reply.answer(Ok(b"the secret".to_vec()));
        })
        .add("gate", move |_args, reply| {
            *gate.gate.lock().unwrap() = Some(reply);
        })
        .add("open", move |_args, reply| {
            let gated = open.gate.lock().unwrap().take();
            // The gated call is answered from another thread, the opener at once.
            std::thread::spawn(move || {
                if let Some(gated) = gated {
                    gated.answer(Ok(b"opened".to_vec()));
                }
            });
            reply.answer(Ok(Vec::new()));
        })
        .add_json("echo_later", |n: u32, reply| {
            std::thread::spawn(move || reply.answer_json(Ok::<_, String>(n)));
        })
        .add_blocking_json("echo_blocking", |n: u32| Ok::<_, String>(n))
        .add("panics", |_args, _reply| panic!("a host function panics"))
        .add("panics_later", |_args, reply| {
            std::thread::spawn(move || {
                let _reply = reply;
                panic!("a host function panics on its own thread");
            });
        })
        .add_blocking("panics_blocking", |_args| {
            panic!("a blocking host function panics")
        })
        .add("forgets", |_args, reply| drop(reply))
        .add("hold", move |_args, reply| {
            hold.held.lock().unwrap().push(reply)
        })
        .add_blocking("block", move |_args| {
            if let Some(ended) = block.thread_ended.lock().unwrap().clone() {
                ON_THREAD_END.with(|slot| *slot.borrow_mut() = Some(OnThreadEnd(ended)));
            }
            block.block_started.store(true, Ordering::SeqCst);
            if let Some(unblock) = block.unblock.lock().unwrap().as_ref() {
                let _ = unblock.recv_timeout(common::PATIENCE);
            }
            Ok(b"unblocked".to_vec())
        })
        .add_json("block_started", move |(): (), reply| {
            reply.answer_json(Ok::<_, String>(
                started.block_started.load(Ordering::SeqCst),
            ));
        })
}

/// Grants every name the cases call, except "secret" (provided, never granted) and
/// "nothing" (neither); "missing" is granted but not provided.
fn policy() -> Policy {
    [
        "echo",
        "add",
        "double_order",
        "missing",
        "gate",
        "open",
        "echo_later",
        "echo_blocking",
        "panics",
        "panics_later",
        "panics_blocking",
        "forgets",
        "hold",
        "block",
        "block_started",
    ]
    .iter()
    .fold(Policy::new(), |policy, name| {
        policy.allow_host_function(name).expect("a valid name")
    })
}

fn options(probe: &Arc<Probe>) -> RunOptions {
    RunOptions {
        policy: policy(),
        host_functions: functions(probe),
        ..Default::default()
    }
}

fn run_case(case: &str) -> (common::Outcome, Arc<Probe>) {
    let probe = Arc::new(Probe::default());
    let out = common::run_case_with_options(PROGRAM, case, options(&probe));
    (out, probe)
}

/// Waits until `cond` holds, at most `common::PATIENCE`.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + common::PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within the patience");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn a_granted_call_is_answered() {
    let (out, _) = run_case("a_granted_call_is_answered");
    out.assert_ok().assert_lines(&["echo answered"]);
}

#[test]
fn typed_calls_round_trip() {
    let (out, _) = run_case("typed_calls_round_trip");
    out.assert_ok().assert_lines(&["typed calls round trip"]);
}

#[test]
fn a_denied_name_is_permission_denied_and_never_runs() {
    let (out, probe) = run_case("a_denied_name_is_permission_denied");
    out.assert_ok().assert_lines(&["denied"]);
    assert!(!probe.secret_ran.load(Ordering::SeqCst));
}

#[test]
fn a_granted_name_not_provided_is_not_found() {
    let (out, _) = run_case("a_granted_name_not_provided_is_not_found");
    out.assert_ok().assert_lines(&["not found"]);
}

#[test]
fn the_loop_keeps_serving_while_a_call_waits() {
    let (out, _) = run_case("the_loop_keeps_serving_while_a_call_waits");
    out.assert_ok().assert_lines(&["timers fired: 3"]);
}

#[test]
fn many_calls_are_in_flight_at_once() {
    let (out, _) = run_case("many_calls_are_in_flight_at_once");
    out.assert_ok().assert_lines(&["200 calls answered"]);
}

#[test]
fn a_function_that_panics_or_drops_its_reply_fails_the_call() {
    let (out, _) = run_case("a_function_that_panics_or_drops_its_reply_fails_the_call");
    out.assert_ok().assert_lines(&["failures reported"]);
}

#[test]
fn a_reply_after_the_run_was_stopped_is_dropped_quietly() {
    let probe = Arc::new(Probe::default());
    let workload = Runtime::new()
        .unwrap()
        .load(test_programs_artifacts::program(PROGRAM))
        .unwrap();
    let mut opts = options(&probe);
    opts.args = vec!["a_call_pending_when_the_run_is_stopped".into()];
    opts.capture_output = true;
    let running = workload.start(opts).unwrap();
    eventually("the held call", || !probe.held.lock().unwrap().is_empty());
    running.stop();
    let out = common::join_within(running, "the stopped run");
    assert_eq!(out.status, ExitStatus::Stopped);
    let reply = probe.held.lock().unwrap().pop().expect("the held reply");
    assert!(reply.is_abandoned());
    // Nobody waits: the answer goes nowhere, and nothing panics.
    reply.answer(Ok(b"too late".to_vec()));
}

#[test]
fn a_trap_with_calls_pending_leaves_no_thread_behind() {
    let probe = Arc::new(Probe::default());
    let (unblock, unblocked) = mpsc::channel();
    let (ended, thread_ended) = mpsc::channel();
    *probe.unblock.lock().unwrap() = Some(unblocked);
    *probe.thread_ended.lock().unwrap() = Some(ended);
    let out = common::run_case_with_options(
        PROGRAM,
        "a_call_pending_when_the_workload_traps",
        options(&probe),
    );
    match &out.status {
        ExitStatus::Trapped(_) => {}
        other => panic!("expected a trap, got {other:?}\n{}", out.stderr),
    }
    assert!(
        out.stderr
            .contains("the workload traps with two calls pending")
    );
    let held = probe.held.lock().unwrap().pop().expect("the held reply");
    assert!(held.is_abandoned());
    held.answer(Ok(b"too late".to_vec()));
    // The blocking call was running when the instance went: once it returns (its answer
    // dropped quietly), its thread ends.
    unblock.send(()).expect("the blocking call waits");
    thread_ended
        .recv_timeout(common::PATIENCE)
        .expect("the blocking thread ends after the run");
}

#[test]
fn pending_calls_count_against_the_handle_limit() {
    let probe = Arc::new(Probe::default());
    let mut opts = options(&probe);
    opts.policy.limits.handles = Some(40);
    let out = common::run_case_with_options(
        PROGRAM,
        "pending_calls_count_against_the_handle_limit",
        opts,
    );
    out.assert_ok();
    let lines = out.lines();
    let counts: Vec<u32> = lines[0]
        .split_whitespace()
        .filter_map(|word| word.parse().ok())
        .collect();
    let (pending, refused) = (counts[0], counts[1]);
    assert_eq!(pending + refused, 100, "{lines:?}");
    // Nothing else holds a handle when the calls are made: the limit is all theirs.
    assert!(pending <= 40 && refused >= 60, "{lines:?}");
    // Only the calls admitted ran: a refused call never reaches the application.
    assert_eq!(probe.held.lock().unwrap().len() as u32, pending);
    assert_eq!(lines[1], "released");
    assert!(
        probe.held.lock().unwrap().iter().all(Reply::is_abandoned),
        "the cancelled calls are abandoned"
    );
}
