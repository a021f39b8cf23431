//! The inbox through its WIT functions and the public [`Poster`]: posts, events, closing.

use crate::bindings::inbox::{Host as _, Message};
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
    let taken = fx.inbox.take().unwrap();

    assert_eq!(names(&taken), ["first", "second"]);
    assert_eq!(taken[0].payload, b"1");
    assert!(fx.inbox.take().unwrap().is_empty(), "take drains");
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
    let taken = fx.inbox.take().unwrap();
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
    assert_eq!(names(&fx.inbox.take().unwrap()), ["early"]);
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
    assert_eq!(names(&fx.inbox.take().unwrap()), ["from-thread"]);
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
    assert!(fx.inbox.take().unwrap().is_empty());
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
    assert_eq!(names(&fx.inbox.take().unwrap()), ["second loop"]);
}
