//! The signal registry, without sending any signal: deliveries are handed to `deliver`
//! directly (a real signal would reach the whole test process). The signals used here
//! (SIGWINCH, SIGURG, SIGPWR) are ignored by default, so even a stray delivery is harmless,
//! and each test uses its own, as tests run in parallel in one process.

use wasmtime::component::{Resource, ResourceTable};

use super::{deliver, on_unclaimed, subscriber_count};
use crate::bindings::reactor::{Host as _, Interest};
use crate::bindings::signal::Host as _;
use crate::bindings::signal::HostSubscription;
use crate::bindings::types::ErrorKind;
use crate::policy::Policy;
use crate::reactor::Reactor;
use crate::state::{ReactorView, SignalView};
use crate::stats::Counters;
use crate::testing::Event;

struct Fixture {
    reactor: Reactor,
    table: ResourceTable,
    policy: Policy,
    stats: Counters,
}

impl Fixture {
    fn new(policy: Policy) -> Fixture {
        Fixture {
            reactor: Reactor::new().expect("create reactor"),
            table: ResourceTable::new(),
            policy,
            stats: Counters::new(),
        }
    }

    fn view(&mut self) -> SignalView<'_> {
        SignalView {
            table: &mut self.table,
            reactor: &self.reactor,
            policy: &self.policy,
        }
    }

    fn wait(&mut self, timeout_ns: u64) -> Vec<Event> {
        Event::split(
            ReactorView {
                reactor: &mut self.reactor,
                table: &mut self.table,
                stats: &self.stats,
            }
            .wait(Vec::new(), Vec::new(), Some(timeout_ns))
            .expect("no trap"),
        )
    }
}

fn granting(signum: i32) -> Policy {
    Policy::new()
        .allow_signal(signum)
        .expect("a signal workloads can handle")
}

fn kind_and_message(mut fx: Fixture, signum: u32) -> (ErrorKind, String) {
    match fx.view().subscribe(signum, 1).expect("no trap") {
        Ok(_) => panic!("subscribing to {signum} should fail"),
        Err(err) => (err.kind, err.message),
    }
}

#[test]
fn invalid_and_uncatchable_signals_are_invalid_input() {
    // Granted through the public field, past the builder's refusal: subscribing checks
    // again.
    let all = || {
        let mut policy = Policy::new();
        policy.allow_signals = vec![9, 11];
        Fixture::new(policy)
    };
    let (kind, message) = kind_and_message(all(), 0);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(message.contains("out of range"), "{message}");
    let (kind, message) = kind_and_message(all(), 65);
    assert_eq!(kind, ErrorKind::InvalidInput);
    assert!(message.contains("out of range"), "{message}");
    for signum in [9, 19, 11, 4, 8, 7] {
        let (kind, message) = kind_and_message(all(), signum);
        assert_eq!(kind, ErrorKind::InvalidInput);
        assert!(message.contains("cannot be caught"), "{message}");
    }
}

#[test]
fn a_signal_the_policy_does_not_grant_is_denied() {
    let (kind, message) = kind_and_message(Fixture::new(granting(15)), 10);
    assert_eq!(kind, ErrorKind::Denied);
    assert_eq!(message, "policy denies handling signal SIGUSR1");
}

#[test]
fn a_delivery_reports_every_subscriber_and_dropping_unsubscribes() {
    let signum = libc::SIGWINCH;
    let policy = granting(signum);
    let mut a = Fixture::new(policy.clone());
    let mut b = Fixture::new(policy);
    let sub_a = a
        .view()
        .subscribe(signum as u32, 7)
        .expect("no trap")
        .expect("subscribe");
    let _sub_b = b
        .view()
        .subscribe(signum as u32, 9)
        .expect("no trap")
        .expect("subscribe");
    assert_eq!(subscriber_count(signum), 2);
    assert_eq!(
        a.view()
            .signum(Resource::new_borrow(sub_a.rep()))
            .expect("no trap"),
        signum as u32
    );

    deliver(signum);
    let events = a.wait(1_000_000_000);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].token, events[0].readiness),
        (7, Interest::READABLE)
    );
    let events = b.wait(1_000_000_000);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].token, 9);
    assert!(a.wait(0).is_empty(), "one delivery, one event");

    HostSubscription::drop(&mut a.view(), sub_a).expect("no trap");
    assert_eq!(subscriber_count(signum), 1);
    deliver(signum);
    assert!(
        a.wait(0).is_empty(),
        "an unsubscribed instance hears nothing"
    );
    assert_eq!(b.wait(1_000_000_000).len(), 1);
    drop(b);
    assert_eq!(
        subscriber_count(signum),
        0,
        "an ended instance leaves no subscription"
    );
}

#[test]
fn an_ended_instance_leaves_no_subscription() {
    let signum = libc::SIGURG;
    let mut fx = Fixture::new(granting(signum));
    for token in 0..3 {
        fx.view()
            .subscribe(signum as u32, token)
            .expect("no trap")
            .expect("subscribe");
    }
    assert_eq!(subscriber_count(signum), 3);
    drop(fx);
    assert_eq!(subscriber_count(signum), 0);
}

#[test]
fn a_delivery_no_workload_claims_runs_the_embeddings_action() {
    // A real-time signal no other test uses; deliveries are simulated, never sent.
    let signum = libc::SIGRTMIN() + 6;
    let (claimed, unclaimed) = std::sync::mpsc::channel();
    on_unclaimed(&[signum], move |delivered| {
        let _ = claimed.send(delivered);
    })
    .expect("claim the signal");
    deliver(signum);
    assert_eq!(unclaimed.try_recv(), Ok(signum));

    let mut fx = Fixture::new(granting(signum));
    let _sub = fx
        .view()
        .subscribe(signum as u32, 3)
        .expect("no trap")
        .expect("subscribe");
    deliver(signum);
    assert_eq!(fx.wait(1_000_000_000).len(), 1);
    assert!(
        unclaimed.try_recv().is_err(),
        "a subscribed workload claims the delivery"
    );

    let refused = on_unclaimed(&[libc::SIGKILL], |_| {}).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::InvalidInput);
}
