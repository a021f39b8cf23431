//! Replies and the blocking pool without a guest: what lands where, what is dropped
//! quietly, and that the pool's threads go with it. The guest's side (policy, handle
//! limit, the loop kept running) is covered by `tests/host_functions.rs`.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{CallError, Calls, HostFunctions};
use crate::reactor::Reactor;

fn calls(functions: HostFunctions) -> (Reactor, Calls) {
    let reactor = Reactor::new().expect("a reactor");
    let calls = Calls::new(functions, reactor.completer());
    (reactor, calls)
}

/// Polls `cond` until it holds, for at most 10 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 10 s");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_answer_lands_once() {
    let (_reactor, calls) = calls(HostFunctions::new());
    let (call, reply) = calls.pending("f", 7);
    assert!(call.take_answer().is_none());
    assert!(!reply.is_abandoned());
    reply.answer(Ok(b"yes".to_vec()));
    assert_eq!(call.take_answer(), Some(Ok(b"yes".to_vec())));
    assert_eq!(call.take_answer(), None);
}

#[test]
fn a_reply_dropped_unanswered_says_so() {
    let (_reactor, calls) = calls(HostFunctions::new());
    let (call, reply) = calls.pending("f", 7);
    drop(reply);
    assert_eq!(
        call.take_answer(),
        Some(Err(CallError::NoAnswer(
            "host function \"f\" dropped its reply without answering".into()
        )))
    );
}

#[test]
fn a_reply_to_a_dropped_call_is_dropped_quietly() {
    let (_reactor, calls) = calls(HostFunctions::new());
    let (call, reply) = calls.pending("f", 7);
    drop(call);
    assert!(reply.is_abandoned());
    reply.answer(Ok(b"late".to_vec()));
    // And one kept after the instance's reactor is gone holds nothing of it.
    let (call, reply) = calls.pending("f", 8);
    drop(call);
    drop(calls);
    assert!(reply.is_abandoned());
    drop(reply);
}

#[test]
fn a_panicking_function_fails_its_call() {
    let functions = HostFunctions::new()
        .add("boom", |_args, _reply| panic!("replying function panics"))
        .add_blocking("blocking_boom", |_args| panic!("blocking function panics"));
    let (_reactor, calls) = calls(functions);
    let (call, reply) = calls.pending("boom", 1);
    calls.start("boom", Vec::new(), reply);
    assert_eq!(
        call.take_answer(),
        Some(Err(CallError::NoAnswer(
            "host function \"boom\" panicked".into()
        )))
    );
    let (call, reply) = calls.pending("blocking_boom", 2);
    calls.start("blocking_boom", Vec::new(), reply);
    let mut answer = None;
    eventually("the blocking call's answer", || {
        answer = call.take_answer();
        answer.is_some()
    });
    assert_eq!(
        answer,
        Some(Err(CallError::NoAnswer(
            "host function \"blocking_boom\" panicked".into()
        )))
    );
}

#[test]
fn the_blocking_threads_are_bounded_and_end_with_the_instance() {
    let (release, released) = mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let (started, starts) = mpsc::channel::<()>();
    let started = std::sync::Mutex::new(started);
    let functions = HostFunctions::new().add_blocking("wait", move |_args| {
        let _ = started.lock().unwrap().send(());
        let _ = released.lock().unwrap().recv();
        Ok(Vec::new())
    });
    let (_reactor, calls) = calls(functions);
    let pending: Vec<_> = (0..super::BLOCKING_THREADS as u64 + 3)
        .map(|token| {
            let (call, reply) = calls.pending("wait", token);
            calls.start("wait", Vec::new(), reply);
            call
        })
        .collect();
    for _ in 0..super::BLOCKING_THREADS {
        starts
            .recv_timeout(Duration::from_secs(10))
            .expect("a call starts");
    }
    let threads = calls.blocking_threads().expect("the pool started");
    assert_eq!(threads(), super::BLOCKING_THREADS);
    // Only as many run as there are threads: the others wait queued.
    assert!(starts.recv_timeout(Duration::from_millis(50)).is_err());
    drop(pending);
    drop(calls);
    for _ in 0..super::BLOCKING_THREADS {
        release.send(()).expect("a thread waits");
    }
    eventually("every blocking thread ends", || threads() == 0);
    // The queued calls never started.
    assert!(starts.try_recv().is_err());
}
