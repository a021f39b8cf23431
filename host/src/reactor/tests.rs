//! The reactor through the same trait methods the guest calls, on real Unix sockets.

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use wasmtime::component::{Resource, ResourceTable};

use super::token::WAKER_TOKEN;
use super::{Reactor, Source, TokenKind, decode, token};
use crate::bindings::reactor::{ErrorCode, Host as _, HostSource as _, Interest};
use crate::net::Socket;
use crate::state::ReactorView;
use crate::stats::Counters;
use crate::testing::Event;

/// Long enough never to expire on a loaded machine; the events come much sooner.
const PATIENCE_NS: u64 = 5_000_000_000;

struct Fixture {
    reactor: Reactor,
    table: ResourceTable,
    stats: Counters,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            reactor: Reactor::new().expect("create reactor"),
            table: ResourceTable::new(),
            stats: Counters::new(),
        }
    }

    fn view(&mut self) -> ReactorView<'_> {
        ReactorView {
            reactor: &mut self.reactor,
            table: &mut self.table,
            stats: &self.stats,
        }
    }

    /// One end of a fresh socket pair as a guest-owned source, and the peer end.
    fn socket_source(&mut self) -> (Resource<Source>, UnixStream) {
        let (ours, peer) = UnixStream::pair().expect("socket pair");
        ours.set_nonblocking(true).expect("non-blocking");
        let source = self.table.push(Source::from_fd(ours)).expect("push source");
        (source, peer)
    }

    fn register(&mut self, src: &Resource<Source>, token: u64, interest: Interest) {
        self.view()
            .register(borrow(src), token, interest)
            .expect("no trap")
            .expect("register");
    }

    fn wait(&mut self, timeout_ns: Option<u64>) -> Vec<Event> {
        Event::split(
            self.view()
                .wait(Vec::new(), Vec::new(), timeout_ns)
                .expect("no trap"),
        )
    }
}

/// A borrow of `src`, as the guest passes it to `register` and friends.
fn borrow(src: &Resource<Source>) -> Resource<Source> {
    Resource::new_borrow(src.rep())
}

fn tokens_and_readiness(events: &[Event]) -> Vec<(u64, Interest)> {
    events.iter().map(|e| (e.token, e.readiness)).collect()
}

#[test]
fn readable_source_is_reported_under_the_guest_token() {
    let mut fx = Fixture::new();
    let (src, mut peer) = fx.socket_source();
    fx.register(&src, u64::MAX, Interest::READABLE);

    peer.write_all(b"ping").unwrap();
    let events = fx.wait(Some(PATIENCE_NS));

    assert_eq!(
        tokens_and_readiness(&events),
        [(u64::MAX, Interest::READABLE)]
    );
}

#[test]
fn undrained_source_is_reported_again_and_drained_one_is_not() {
    let mut fx = Fixture::new();
    let (ours, mut peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    // A second descriptor of our end, to read through while the source holds the first.
    let mut reader = ours.try_clone().unwrap();
    let src = fx.table.push(Source::from_fd(ours)).unwrap();
    fx.register(&src, 7, Interest::READABLE);
    peer.write_all(b"ping").unwrap();
    assert_eq!(fx.wait(Some(PATIENCE_NS)).len(), 1);

    // Nothing was read: still readable, so reported again (level-triggered).
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(0))),
        [(7, Interest::READABLE)]
    );

    let mut buf = [0; 16];
    assert_eq!(reader.read(&mut buf).unwrap(), 4);
    assert!(fx.wait(Some(0)).is_empty());
}

#[test]
fn stream_socket_emptied_by_recv_is_not_rearmed_until_new_bytes_arrive() {
    let mut fx = Fixture::new();
    let (ours, theirs) = Socket::pair().unwrap();
    let src = fx.table.push(ours.source()).unwrap();
    fx.register(&src, 7, Interest::READABLE);
    theirs.send(b"ping").unwrap();
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(PATIENCE_NS))),
        [(7, Interest::READABLE)]
    );

    // A read that took less than it asked for emptied the socket: no re-arm, no event.
    assert_eq!(ours.recv(16).unwrap(), b"ping");
    assert!(fx.wait(Some(0)).is_empty());

    // New bytes are an edge of their own.
    theirs.send(b"pong").unwrap();
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(PATIENCE_NS))),
        [(7, Interest::READABLE)]
    );
    // A read that filled what it asked for may have left bytes: re-armed, so the rest
    // is reported again, level-triggered.
    assert_eq!(ours.recv(2).unwrap(), b"po");
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(0))),
        [(7, Interest::READABLE)]
    );
    assert_eq!(ours.recv(16).unwrap(), b"ng");
    assert!(fx.wait(Some(0)).is_empty());

    // Bytes and the end of the stream reported together: a short read takes the bytes,
    // and the end, which no edge announces again, must still be reported.
    theirs.send(b"bye").unwrap();
    drop(theirs);
    assert_eq!(fx.wait(Some(PATIENCE_NS)).len(), 1);
    assert_eq!(ours.recv(16).unwrap(), b"bye");
    assert_eq!(fx.wait(Some(0)).len(), 1);
    // The end of the stream is not "emptied": it stays reported while watched, as a
    // level-triggered selector reports it.
    assert!(ours.recv(16).unwrap().is_empty());
    assert_eq!(fx.wait(Some(0)).len(), 1);
}

#[test]
fn reregister_changes_token_and_interest() {
    let mut fx = Fixture::new();
    let (src, _peer) = fx.socket_source();
    fx.register(&src, 1, Interest::READABLE);
    assert!(fx.wait(Some(0)).is_empty());

    fx.view()
        .reregister(borrow(&src), 2, Interest::WRITABLE)
        .unwrap()
        .unwrap();

    // A fresh socket has room in its send buffer: writable at once.
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(PATIENCE_NS))),
        [(2, Interest::WRITABLE)]
    );
}

#[test]
fn deregistered_source_reports_nothing() {
    let mut fx = Fixture::new();
    let (src, mut peer) = fx.socket_source();
    fx.register(&src, 3, Interest::READABLE);
    peer.write_all(b"ping").unwrap();

    fx.view().deregister(borrow(&src)).unwrap().unwrap();

    assert!(fx.wait(Some(0)).is_empty());
    assert_eq!(
        fx.view().deregister(borrow(&src)).unwrap(),
        Err(ErrorCode::NotRegistered)
    );
}

#[test]
fn registering_twice_is_already_registered() {
    let mut fx = Fixture::new();
    let (src, _peer) = fx.socket_source();
    fx.register(&src, 1, Interest::READABLE);

    let again = fx.view().register(borrow(&src), 2, Interest::WRITABLE);

    assert_eq!(again.unwrap(), Err(ErrorCode::AlreadyRegistered));
}

#[test]
fn empty_interest_is_refused() {
    let mut fx = Fixture::new();
    let (src, _peer) = fx.socket_source();

    let register = fx.view().register(borrow(&src), 1, Interest::empty());
    assert_eq!(register.unwrap(), Err(ErrorCode::EmptyInterest));

    fx.register(&src, 1, Interest::READABLE);
    let reregister = fx.view().reregister(borrow(&src), 1, Interest::empty());
    assert_eq!(reregister.unwrap(), Err(ErrorCode::EmptyInterest));
}

#[test]
fn reregister_of_unregistered_source_is_not_registered() {
    let mut fx = Fixture::new();
    let (src, _peer) = fx.socket_source();

    let result = fx.view().reregister(borrow(&src), 1, Interest::READABLE);

    assert_eq!(result.unwrap(), Err(ErrorCode::NotRegistered));
}

#[test]
fn closed_peer_is_reported_as_hangup() {
    let mut fx = Fixture::new();
    let (src, peer) = fx.socket_source();
    fx.register(&src, 5, Interest::READABLE);

    drop(peer);
    let events = fx.wait(Some(PATIENCE_NS));

    assert_eq!(events.len(), 1);
    assert_eq!(events[0].token, 5);
    assert!(events[0].readiness.contains(Interest::HANGUP));
}

#[test]
fn hangup_only_registration_ignores_data_and_reports_hangup() {
    let mut fx = Fixture::new();
    let (src, mut peer) = fx.socket_source();
    fx.register(&src, 9, Interest::HANGUP);

    peer.write_all(b"ignored").unwrap();
    assert!(fx.wait(Some(0)).is_empty());

    drop(peer);
    assert_eq!(
        tokens_and_readiness(&fx.wait(Some(PATIENCE_NS))),
        [(9, Interest::HANGUP)]
    );
}

#[test]
fn wait_zero_returns_at_once_with_nothing_ready() {
    let mut fx = Fixture::new();
    let (src, _peer) = fx.socket_source();
    fx.register(&src, 1, Interest::READABLE);

    let start = Instant::now();
    let events = fx.wait(Some(0));

    assert!(events.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn waker_from_another_thread_interrupts_a_long_wait() {
    let mut fx = Fixture::new();
    let waker = fx.reactor.waker();

    let start = Instant::now();
    let thread = std::thread::spawn(move || waker.wake().expect("wake"));
    // A wake that lands before the wait starts is kept, so there is no race here.
    let events = fx.wait(Some(10_000_000_000));
    thread.join().unwrap();

    assert!(events.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_wake_before_any_wait_makes_the_first_blocking_wait_return_at_once() {
    // The eventfd does not exist yet (no wait has blocked): the wake is kept all the same.
    let mut fx = Fixture::new();
    fx.reactor.waker().wake().expect("wake");

    let start = Instant::now();
    let events = fx.wait(Some(10_000_000_000));

    assert!(events.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_wake_taken_by_a_wait_that_does_not_block_is_not_seen_again() {
    let mut fx = Fixture::new();
    fx.reactor.waker().wake().expect("wake");
    assert!(fx.wait(Some(0)).is_empty());

    let start = Instant::now();
    assert!(fx.wait(Some(50_000_000)).is_empty());

    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn dropping_a_source_deregisters_and_closes_it() {
    let mut fx = Fixture::new();
    let (src, mut peer) = fx.socket_source();
    fx.register(&src, 4, Interest::READABLE);
    peer.write_all(b"ping").unwrap();

    fx.view().drop(Resource::new_own(src.rep())).unwrap();

    assert!(fx.wait(Some(0)).is_empty());
    // Our end is closed: the peer sees EOF, or a reset because "ping" was never read.
    let mut buf = [0; 4];
    match peer.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0, "expected EOF"),
        Err(err) => assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn bad_handles_are_errors_not_panics() {
    let mut fx = Fixture::new();
    let stale = Resource::<Source>::new_borrow(12345);
    assert!(fx.view().register(stale, 1, Interest::READABLE).is_err());

    // A handle to a resource of another type.
    let other = fx.table.push(String::from("not a source")).unwrap();
    let wrong = Resource::<Source>::new_borrow(other.rep());
    assert!(fx.view().deregister(wrong).is_err());

    let (src, _peer) = fx.socket_source();
    fx.view().drop(Resource::new_own(src.rep())).unwrap();
    assert!(fx.view().drop(Resource::new_own(src.rep())).is_err());
}

#[test]
fn tokens_carry_the_kind_and_the_table_index() {
    let source = token(TokenKind::Source, 7);
    let stream = token(TokenKind::Stream, 7);

    assert_ne!(source, stream);
    assert_eq!(decode(source), Some((TokenKind::Source, 7)));
    assert_eq!(decode(stream), Some((TokenKind::Stream, 7)));
    assert_eq!(
        decode(token(TokenKind::Stream, u32::MAX)),
        Some((TokenKind::Stream, u32::MAX))
    );
    assert_eq!(decode(WAKER_TOKEN), None);
}

#[test]
fn completion_from_another_thread_is_a_readable_event() {
    let mut fx = Fixture::new();
    let completer = fx.reactor.completer();

    // The thread queues the token before it wakes the reactor: the wait sees both.
    let thread = std::thread::spawn(move || completer.complete(31));
    let events = fx.wait(Some(PATIENCE_NS));
    thread.join().unwrap();

    assert_eq!(tokens_and_readiness(&events), [(31, Interest::READABLE)]);
    assert!(fx.wait(Some(0)).is_empty(), "reported once");
}

#[test]
fn queued_completion_makes_wait_return_at_once() {
    let mut fx = Fixture::new();
    fx.reactor.completer().complete(1);
    // Swallow the wake so only the queue can end the next wait early.
    let _ = fx.wait(Some(0));
    fx.reactor.completer().complete(2);
    // The kernel's wait alone, which takes the eventfd's wake-up.
    fx.reactor.poll(Some(Duration::ZERO)).expect("poll");

    let start = Instant::now();
    let events = fx.wait(Some(10_000_000_000));

    assert_eq!(tokens_and_readiness(&events), [(2, Interest::READABLE)]);
    assert!(start.elapsed() < Duration::from_secs(5));
}
