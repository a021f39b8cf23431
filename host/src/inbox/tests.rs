//! The inbox through its WIT functions and the public [`Poster`]: posts, events, closing.

use crate::CallError;
use crate::bindings::inbox::{CallError as WitCallError, Host as _, Message};
use crate::calls::Caller;
use crate::calls::error::Ending;
use crate::inbox::{PostError, Poster};
use crate::testing::{Fixture, PATIENCE_NS};

fn names(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.name.as_str()).collect()
}

fn poster(fx: &Fixture) -> Poster {
    fx.inbox.poster()
}

impl Fixture {
    /// The tokens of the next batch of events.
    fn tokens(&mut self) -> Vec<u64> {
        self.wait(Some(PATIENCE_NS))
            .iter()
            .map(|e| e.token)
            .collect()
    }
}

#[test]
fn posted_messages_are_taken_oldest_first_with_their_payloads() {
    let mut fx = Fixture::loopback();
    let poster = poster(&fx);

    poster.post("first", *b"1").unwrap();
    poster.post("second", b"2".to_vec()).unwrap();
    let taken = fx.inbox.take().unwrap().messages;

    assert_eq!(names(&taken), ["first", "second"]);
    assert_eq!(taken[0].payload, b"1");
    assert!(fx.inbox.take().unwrap().messages.is_empty(), "take drains");
}

#[test]
fn a_watched_inbox_reports_once_per_batch_of_posts() {
    let mut fx = Fixture::loopback();
    let poster = poster(&fx);
    fx.inbox.watch(5).unwrap();

    poster.post("a", b"").unwrap();
    poster.post("b", b"").unwrap();
    let first = fx.wait(Some(PATIENCE_NS));
    poster.post("c", b"").unwrap();
    let before_take = fx.wait(Some(0));
    let taken = fx.inbox.take().unwrap().messages;
    poster.post("d", b"").unwrap();
    let after_take = fx.wait(Some(PATIENCE_NS));

    assert_eq!(first.iter().map(|e| e.token).collect::<Vec<_>>(), [5]);
    assert!(
        before_take.is_empty(),
        "the guest was told and has not taken yet"
    );
    assert_eq!(names(&taken), ["a", "b", "c"]);
    assert_eq!(
        after_take.iter().map(|e| e.token).collect::<Vec<_>>(),
        [5],
        "the token stays watched across takes"
    );
}

#[test]
fn watching_reports_at_once_when_messages_already_wait() {
    let mut fx = Fixture::loopback();
    poster(&fx).post("early", b"").unwrap();

    fx.inbox.watch(3).unwrap();

    fx.next_event(3);
    assert_eq!(names(&fx.inbox.take().unwrap().messages), ["early"]);
}

#[test]
fn an_unwatched_inbox_reports_nothing() {
    let mut fx = Fixture::loopback();

    poster(&fx).post("quiet", b"").unwrap();

    assert!(fx.wait(Some(0)).is_empty());
}

#[test]
fn a_post_from_another_thread_wakes_a_blocked_wait() {
    let mut fx = Fixture::loopback();
    fx.inbox.watch(8).unwrap();
    let poster = poster(&fx);

    let thread = std::thread::spawn(move || poster.post("from-thread", *b"x"));
    fx.next_event(8);

    thread.join().unwrap().unwrap();
    assert_eq!(names(&fx.inbox.take().unwrap().messages), ["from-thread"]);
}

#[test]
fn posting_to_a_closed_inbox_fails_and_waiting_messages_are_dropped() {
    let mut fx = Fixture::loopback();
    let poster = poster(&fx);
    fx.inbox.watch(1).unwrap();
    poster.post("waiting", b"").unwrap();
    fx.next_event(1);

    fx.inbox.close().unwrap();
    let err = poster.post("late", b"").unwrap_err();

    assert_eq!(
        err,
        PostError::Closed {
            name: "late".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "post \"late\": the workload's loop is closed"
    );
    assert!(poster.is_closed());
    assert!(fx.inbox.take().unwrap().messages.is_empty());
}

#[test]
fn posting_after_the_instance_ended_fails() {
    let fx = Fixture::loopback();
    let poster = poster(&fx);
    let clone = poster.clone();

    drop(fx);

    assert!(poster.is_closed());
    assert!(matches!(
        clone.post("after", b""),
        Err(PostError::Closed { .. })
    ));
}

#[test]
fn the_next_loop_watching_opens_a_closed_inbox_again() {
    let mut fx = Fixture::loopback();
    let poster = poster(&fx);
    fx.inbox.watch(1).unwrap();
    fx.inbox.close().unwrap();
    assert!(poster.post("between loops", b"").is_err());

    fx.inbox.watch(2).unwrap();
    poster.post("second loop", b"").unwrap();

    assert_eq!(fx.tokens(), [2]);
    assert_eq!(names(&fx.inbox.take().unwrap().messages), ["second loop"]);
}

// Calls: messages that carry an id, answered through `answer`.

fn caller(fx: &Fixture) -> Caller {
    Caller::new(fx.inbox.poster())
}

#[test]
fn a_call_is_a_message_with_an_id_and_its_answer_completes_it() {
    let mut fx = Fixture::loopback();
    let call = caller(&fx).call_raw("echo", *b"args");

    let taken = fx.inbox.take().unwrap().messages;
    assert_eq!(names(&taken), ["echo"]);
    assert_eq!(taken[0].payload, b"args");
    let id = taken[0].call.expect("a call carries its id");
    fx.inbox.answer(id, Ok(b"answer".to_vec())).unwrap();

    assert_eq!(call.wait().unwrap(), b"answer");
}

#[test]
fn a_guest_failure_names_the_function() {
    let mut fx = Fixture::loopback();
    let call = caller(&fx).call::<u32>("parse", &"x");

    let id = fx.inbox.take().unwrap().messages[0].call.unwrap();
    fx.inbox
        .answer(id, Err(WitCallError::BadArguments("expected u32".into())))
        .unwrap();

    let err = call.wait().unwrap_err();
    assert_eq!(
        err,
        CallError::BadArguments {
            name: "parse".into(),
            message: "expected u32".into()
        }
    );
}

#[test]
fn answers_to_unknown_calls_are_ignored() {
    let mut fx = Fixture::loopback();
    fx.inbox.answer(12345, Ok(vec![1, 2, 3])).unwrap();
    fx.inbox
        .answer(u64::MAX, Err(WitCallError::Cancelled))
        .unwrap();
}

#[test]
fn a_call_given_up_before_the_guest_took_it_leaves_the_queue() {
    let mut fx = Fixture::loopback();
    let call = caller(&fx).call_raw("slow", *b"");

    drop(call);

    let batch = fx.inbox.take().unwrap();
    assert!(batch.messages.is_empty());
    assert!(batch.cancelled.is_empty());
}

#[test]
fn a_call_given_up_after_the_guest_took_it_is_reported_cancelled() {
    let mut fx = Fixture::loopback();
    fx.inbox.watch(4).unwrap();
    let call = caller(&fx).call_raw("slow", *b"");
    fx.next_event(4);
    let id = fx.inbox.take().unwrap().messages[0].call.unwrap();

    drop(call);

    assert_eq!(fx.tokens(), [4], "the cancellation wakes the loop");
    assert_eq!(fx.inbox.take().unwrap().cancelled, [id]);
}

#[test]
fn closing_the_loop_fails_waiting_calls_and_refuses_later_ones() {
    let mut fx = Fixture::loopback();
    let caller = caller(&fx);
    fx.inbox.watch(1).unwrap();
    let taken = caller.call_raw("running", *b"");
    let queued = caller.call_raw("queued", *b"");
    fx.next_event(1);
    let _ = fx.inbox.take().unwrap();

    fx.inbox.close().unwrap();

    for (call, name) in [(taken, "running"), (queued, "queued")] {
        assert_eq!(
            call.wait().unwrap_err(),
            CallError::Closed { name: name.into() }
        );
    }
    assert!(caller.is_closed());
    assert!(matches!(
        caller.call_raw("late", *b"").wait(),
        Err(CallError::Closed { .. })
    ));
}

#[test]
fn the_end_of_the_instance_fails_waiting_and_later_calls_with_its_reason() {
    let fx = Fixture::loopback();
    let caller = caller(&fx);
    let waiting = caller.call_raw("f", *b"");

    fx.inbox.end(Ending::Trapped("unreachable".into()));
    drop(fx);

    let trapped = CallError::Trapped {
        name: "f".into(),
        message: "unreachable".into(),
    };
    assert_eq!(waiting.wait().unwrap_err(), trapped);
    assert_eq!(caller.call_raw("f", *b"").wait().unwrap_err(), trapped);
}

#[test]
fn a_call_times_out_on_the_host_and_the_guest_is_told() {
    let mut fx = Fixture::loopback();
    fx.inbox.watch(2).unwrap();
    let call = caller(&fx)
        .call_raw("stuck", *b"")
        .timeout(std::time::Duration::from_millis(20));
    fx.next_event(2);
    let id = fx.inbox.take().unwrap().messages[0].call.unwrap();

    let err = call.wait().unwrap_err();

    assert!(matches!(err, CallError::TimedOut { .. }), "{err:?}");
    assert_eq!(fx.tokens(), [2]);
    assert_eq!(fx.inbox.take().unwrap().cancelled, [id]);
    // The late answer is ignored.
    fx.inbox.answer(id, Ok(vec![])).unwrap();
}

#[test]
fn one_take_hands_over_a_bounded_batch_and_reports_the_rest() {
    let mut fx = Fixture::loopback();
    let poster = poster(&fx);
    fx.inbox.watch(6).unwrap();
    let part = vec![0u8; super::TAKE_BUDGET / 2 + 1];
    for _ in 0..3 {
        poster.post("big", part.clone()).unwrap();
    }
    fx.next_event(6);

    assert_eq!(fx.inbox.take().unwrap().messages.len(), 1);
    assert_eq!(fx.tokens(), [6], "what is left is reported at once");
    assert_eq!(fx.inbox.take().unwrap().messages.len(), 1);
    assert_eq!(fx.inbox.take().unwrap().messages.len(), 1);
    assert!(fx.inbox.take().unwrap().messages.is_empty());
}
