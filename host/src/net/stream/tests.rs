//! Completion-mode streams through the trait methods the guest calls and the reactor's
//! `wait`, on real sockets.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use wasmtime::component::Resource;

use super::{MAX_BATCH_DATA, MAX_READ_BUDGET, Stream};
use crate::bindings::net::{HostSocket as _, HostStream as _};
use crate::bindings::reactor::{Host as _, Interest, StreamWrite};
use crate::bindings::types::{AddressFamily, ErrorKind};
use crate::net::Socket;
use crate::testing::{Event, Fixture, PATIENCE_NS, borrow, grow_send_buffer};

const TOKEN: u64 = 77;

impl Fixture {
    /// A stream over one end of a unix socket pair, and the (blocking) peer end.
    fn unix_stream(&mut self, read_budget: u32) -> (Resource<Stream>, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let stream = self.open(OwnedFd::from(ours), AddressFamily::Unix, read_budget);
        (stream, peer)
    }

    /// A stream over the accepted end of a loopback TCP connection, and the client end.
    fn tcp_stream(&mut self, read_budget: u32) -> (Resource<Stream>, TcpStream) {
        self.tcp_stream_as(TOKEN, read_budget)
    }

    /// [`Fixture::tcp_stream`] with its events under `token`.
    fn tcp_stream_as(&mut self, token: u64, read_budget: u32) -> (Resource<Stream>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        ours.set_nonblocking(true).unwrap();
        let stream = self.open_as(token, OwnedFd::from(ours), AddressFamily::Ipv4, read_budget);
        (stream, peer)
    }

    fn open(&mut self, fd: OwnedFd, family: AddressFamily, read_budget: u32) -> Resource<Stream> {
        self.open_as(TOKEN, fd, family, read_budget)
    }

    fn open_as(
        &mut self,
        token: u64,
        fd: OwnedFd,
        family: AddressFamily,
        read_budget: u32,
    ) -> Resource<Stream> {
        let socket = self
            .table
            .push(Socket::new(socket2::Socket::from(fd), family.into()))
            .unwrap();
        self.net()
            .open(socket, token, read_budget)
            .expect("no trap")
            .expect("open")
    }
}

fn has(event: &Event, interest: Interest) -> bool {
    event.readiness & interest == interest
}

#[test]
fn data_arrives_inside_the_events_of_wait() {
    let mut fx = Fixture::loopback();
    let (_stream, mut peer) = fx.tcp_stream(64 << 10);

    peer.write_all(b"hello, stream").unwrap();
    let event = fx.next_event(TOKEN);

    assert_eq!(event.data, b"hello, stream");
    assert_eq!(event.readiness, Interest::READABLE);
    assert_eq!(event.write_buffered, 0);
    assert!(event.error.is_none());
}

#[test]
fn data_then_the_peers_end_both_arrive_though_a_short_read_ends_reading() {
    let mut fx = Fixture::loopback();
    let (_stream, mut peer) = fx.tcp_stream(64 << 10);

    peer.write_all(b"last words").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let mut data = Vec::new();
    let mut ended = false;
    for _ in 0..10 {
        for event in fx.wait(Some(PATIENCE_NS)) {
            data.extend_from_slice(&event.data);
            ended |= has(&event, Interest::HANGUP);
        }
        if ended {
            break;
        }
    }

    assert_eq!(data, b"last words");
    assert!(ended, "the end of stream is reported");
}

#[test]
fn read_budget_limits_each_event_and_the_rest_comes_in_the_next_waits() {
    let mut fx = Fixture::loopback();
    let (_stream, mut peer) = fx.unix_stream(4);

    peer.write_all(b"0123456789").unwrap();

    assert_eq!(fx.next_event(TOKEN).data, b"0123");
    // The read stopped at the budget, not at "would block": the stream is re-armed, so
    // even a non-blocking wait reports the rest.
    let events = fx.wait(Some(0));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, b"4567");
    assert_eq!(fx.wait(Some(0))[0].data, b"89");
    assert!(fx.wait(Some(0)).is_empty());
}

#[test]
fn read_budget_is_clamped_to_one_byte_and_one_mebibyte() {
    let mut fx = Fixture::loopback();
    let (zero, mut peer) = fx.unix_stream(0);
    let (huge, _peer) = fx.unix_stream(u32::MAX);

    assert_eq!(fx.table.get(&zero).unwrap().read_budget, 1);
    assert_eq!(fx.table.get(&huge).unwrap().read_budget, MAX_READ_BUDGET);
    peer.write_all(b"ab").unwrap();
    assert_eq!(fx.next_event(TOKEN).data, b"a");
}

#[test]
fn peer_eof_is_reported_once_as_hangup_after_the_data() {
    let mut fx = Fixture::loopback();
    let (_stream, mut peer) = fx.tcp_stream(64 << 10);

    peer.write_all(b"last words").unwrap();
    peer.shutdown(Shutdown::Write).unwrap();
    let mut data = Vec::new();
    let hangup = loop {
        let event = fx.next_event(TOKEN);
        data.extend_from_slice(&event.data);
        if has(&event, Interest::HANGUP) {
            break event;
        }
    };

    assert_eq!(data, b"last words");
    assert!(hangup.error.is_none(), "{hangup:?}");
    assert!(
        fx.wait(Some(0)).is_empty(),
        "the end of stream is reported once"
    );
}

#[test]
fn writes_go_out_at_once_when_the_kernel_takes_them() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.tcp_stream(1024);

    let buffered = fx
        .net()
        .write(borrow(&stream), b"ping".to_vec())
        .unwrap()
        .unwrap()
        .buffered;

    assert_eq!(buffered, 0);
    let mut buf = [0; 4];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    assert!(
        fx.wait(Some(0)).is_empty(),
        "nothing was buffered: no writable event"
    );
}

#[test]
fn large_write_is_buffered_flushed_with_writable_events_and_ends_with_eof() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.tcp_stream(1024);
    let payload: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let reader = std::thread::spawn(move || {
        let mut received = Vec::new();
        peer.read_to_end(&mut received).unwrap();
        received
    });

    let buffered = fx
        .net()
        .write(borrow(&stream), payload.clone())
        .unwrap()
        .unwrap()
        .buffered;
    assert!(
        buffered > 0,
        "8 MiB do not fit a loopback socket's buffers at once"
    );
    assert_eq!(fx.net().write_buffered(borrow(&stream)).unwrap(), buffered);
    fx.net().write_eof(borrow(&stream)).unwrap().unwrap();
    let mut last = buffered;
    while last > 0 {
        let event = fx.next_event(TOKEN);
        assert!(event.error.is_none(), "{event:?}");
        assert!(has(&event, Interest::WRITABLE), "{event:?}");
        assert!(event.write_buffered < last, "each flush sends something");
        last = event.write_buffered;
    }
    let received = reader.join().unwrap();

    assert_eq!(received.len(), payload.len());
    assert!(received == payload, "every byte arrives, in order");
    // The reader closed its end after our end of stream: that is our end of stream too.
    let end = fx.next_event(TOKEN);
    assert!(
        has(&end, Interest::HANGUP) && end.error.is_none(),
        "{end:?}"
    );
}

/// The writes `wait` does for the guest: `n` copies of `data` to `stream`.
fn batched(fx: &mut Fixture, stream: &Resource<Stream>, data: &[u8], n: usize) -> Vec<Event> {
    let id = fx.net().id(borrow(stream)).unwrap();
    let writes = (0..n)
        .map(|_| StreamWrite {
            id,
            len: data.len() as u32,
        })
        .collect();
    fx.wait_after_writes(writes, data.repeat(n), Some(0))
}

#[test]
fn writes_handed_to_wait_are_sent_in_order_and_report_nothing_when_sent() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.unix_stream(1024);

    let events = batched(&mut fx, &stream, b"ab", 3);

    assert!(events.is_empty(), "all sent, nothing to report: {events:?}");
    let mut got = [0; 6];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ababab");
}

#[test]
fn a_write_handed_to_wait_that_stays_buffered_is_reported_in_the_same_batch() {
    let mut fx = Fixture::loopback();
    let (stream, peer) = fx.tcp_stream(1024);
    let payload = vec![7u8; 8 << 20];

    let events = batched(&mut fx, &stream, &payload, 1);

    let buffered = fx.net().write_buffered(borrow(&stream)).unwrap();
    assert!(
        buffered > 0,
        "8 MiB do not fit a loopback socket's buffers at once"
    );
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].token, TOKEN);
    assert_eq!(events[0].write_buffered, buffered);
    assert!(events[0].error.is_none());
    // Reported once: the next batch has nothing new to say about it.
    assert!(fx.wait(Some(0)).iter().all(|e| e.write_buffered < buffered));
    drop(peer);
}

#[test]
fn a_wait_a_signal_interrupts_still_reports_what_its_writes_left_buffered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // A realtime signal, so that no other test's signal sees it; the flag handler makes
    // its delivery interrupt `epoll_wait` instead of ending the process.
    let signum = libc::SIGRTMIN() + 3;
    signal_hook::flag::register(signum, Arc::new(AtomicBool::new(false))).unwrap();
    let mut fx = Fixture::loopback();
    let (stream, peer) = fx.tcp_stream(1024);
    let id = fx.net().id(borrow(&stream)).unwrap();
    let payload = vec![7u8; 8 << 20];
    let writes = vec![StreamWrite {
        id,
        len: payload.len() as u32,
    }];

    // Signals this thread until the wait returns: one of them lands inside it.
    let waiter = unsafe { libc::pthread_self() };
    let done = Arc::new(AtomicBool::new(false));
    let signaller = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(20));
                // SAFETY: the waiting thread outlives this loop (it joins it).
                unsafe { libc::pthread_kill(waiter, signum) };
            }
        })
    };
    let started = std::time::Instant::now();
    let events = fx.wait_after_writes(writes, payload, Some(60_000_000_000));
    done.store(true, Ordering::Release);
    signaller.join().unwrap();

    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the wait was interrupted, not timed out"
    );
    let buffered = fx.net().write_buffered(borrow(&stream)).unwrap();
    assert!(buffered > 0);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].token, TOKEN);
    assert_eq!(events[0].write_buffered, buffered);
    drop(peer);
}

#[test]
fn a_failed_write_handed_to_wait_ends_the_stream_with_an_error_event() {
    let mut fx = Fixture::loopback();
    let (stream, peer) = fx.unix_stream(1024);
    drop(peer);

    let events = batched(&mut fx, &stream, b"late", 1);

    assert_eq!(events.len(), 1, "{events:?}");
    assert!(has(&events[0], Interest::HANGUP), "{events:?}");
    let err = events[0].error.as_ref().expect("an error");
    assert_eq!(err.kind, ErrorKind::BrokenPipe, "{err:?}");
}

#[test]
fn a_write_to_an_id_that_names_no_stream_traps() {
    let mut fx = Fixture::loopback();
    let writes = vec![StreamWrite { id: 4242, len: 1 }];

    let trap = fx
        .reactor()
        .wait(writes, b"x".to_vec(), Some(0))
        .unwrap_err();

    assert!(trap.to_string().contains("stream id 4242"), "{trap:#}");
}

#[test]
fn write_lengths_beyond_the_write_data_trap() {
    let mut fx = Fixture::loopback();
    let (stream, _peer) = fx.unix_stream(1024);
    let id = fx.net().id(borrow(&stream)).unwrap();
    let writes = vec![StreamWrite { id, len: 2 }, StreamWrite { id, len: 2 }];

    let trap = fx
        .reactor()
        .wait(writes, b"abc".to_vec(), Some(0))
        .unwrap_err();

    assert!(
        trap.to_string().contains("3 bytes of write-data"),
        "{trap:#}"
    );
}

#[test]
fn writes_after_write_eof_are_refused() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.unix_stream(1024);

    fx.net().write_eof(borrow(&stream)).unwrap().unwrap();
    let err = fx
        .net()
        .write(borrow(&stream), b"late".to_vec())
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::BrokenPipe);
    assert!(err.message.contains("write-eof"), "{}", err.message);
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "the peer sees the end of stream at once");
}

#[test]
fn set_reading_false_holds_the_data_and_true_reports_it() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.unix_stream(1024);

    fx.net()
        .set_reading(borrow(&stream), false)
        .unwrap()
        .unwrap();
    // A unix socket write lands in our receive queue before it returns.
    peer.write_all(b"held").unwrap();
    assert!(
        fx.wait(Some(0)).is_empty(),
        "no data events while reading is off"
    );

    fx.net()
        .set_reading(borrow(&stream), true)
        .unwrap()
        .unwrap();
    let events = fx.wait(Some(PATIENCE_NS));

    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, b"held");
}

#[test]
fn peer_reset_is_an_error_with_hangup_and_ends_the_stream() {
    let mut fx = Fixture::loopback();
    let (stream, peer) = fx.tcp_stream(1024);

    // Closing with a zero linger time sends a reset instead of a FIN.
    let peer = socket2::Socket::from(OwnedFd::from(peer));
    peer.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(peer);
    let event = fx.next_event(TOKEN);

    let err = event.error.as_ref().expect("an error event");
    assert_eq!(err.kind, ErrorKind::ConnectionReset, "{err:?}");
    assert!(has(&event, Interest::HANGUP));
    let write = fx
        .net()
        .write(borrow(&stream), b"x".to_vec())
        .unwrap()
        .unwrap_err();
    assert_eq!(write.kind, ErrorKind::ConnectionReset);
    assert!(
        write.message.contains("already failed"),
        "{}",
        write.message
    );
    assert!(
        fx.wait(Some(0)).is_empty(),
        "a failed stream is no longer watched"
    );
}

#[test]
fn ready_streams_share_one_batch_cap_and_the_rest_comes_next_wait() {
    let mut fx = Fixture::loopback();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let (_stream, peer) = fx.unix_stream(u32::MAX);
        let peer = socket2::Socket::from(OwnedFd::from(peer));
        grow_send_buffer(&peer, 4 << 20);
        peer.set_nonblocking(true).unwrap();
        peers.push(peer);
    }
    let chunk = vec![1u8; 600 << 10];
    for peer in &peers {
        let queued = peer.send(&chunk).unwrap_or(0);
        assert_eq!(
            queued,
            chunk.len(),
            "this test needs root or net.core.wmem_max >= 4 MiB"
        );
    }

    let first: usize = fx
        .wait(Some(PATIENCE_NS))
        .iter()
        .map(|e| e.data.len())
        .sum();
    // The streams cut short by the cap were re-armed: a non-blocking wait gets the rest.
    let second: usize = fx.wait(Some(0)).iter().map(|e| e.data.len()).sum();

    assert_eq!(first, MAX_BATCH_DATA);
    assert_eq!(first + second, 3 * chunk.len());
    assert!(fx.wait(Some(0)).is_empty());
}

#[test]
fn dropping_a_stream_closes_the_socket() {
    let mut fx = Fixture::loopback();
    let (stream, mut peer) = fx.unix_stream(1024);

    crate::bindings::net::HostStream::drop(&mut fx.net(), stream).unwrap();

    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    assert!(fx.wait(Some(0)).is_empty());
}

#[test]
fn opening_an_unconnected_socket_fails_and_consumes_it() {
    let mut fx = Fixture::loopback();
    let socket = fx
        .net()
        .create(
            AddressFamily::Ipv4,
            crate::bindings::net::SocketType::Stream,
        )
        .unwrap()
        .unwrap();
    let rep = socket.rep();

    let err = fx.net().open(socket, TOKEN, 1024).unwrap().unwrap_err();

    assert_eq!(err.kind, ErrorKind::NotConnected, "{err:?}");
    assert!(fx.table.get(&Resource::<Socket>::new_borrow(rep)).is_err());
}

#[test]
fn an_accepted_connection_its_peer_reset_opens_and_reports_the_reset() {
    let mut fx = Fixture::loopback();
    let native = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = native.local_addr().unwrap();
    let listener = Socket::new(
        socket2::Socket::from(OwnedFd::from(native)),
        AddressFamily::Ipv4.into(),
    );
    let listener = fx.table.push(listener).unwrap();
    // Reset (zero linger time) while it waits in the accept queue.
    let peer = socket2::Socket::from(OwnedFd::from(TcpStream::connect(addr).unwrap()));
    peer.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(peer);
    let (conn, _) = fx.net().accept(borrow(&listener)).unwrap().expect("accept");

    let _stream = fx.net().open(conn, TOKEN, 1024).unwrap().expect("a stream");
    let event = fx.next_event(TOKEN);

    let err = event.error.as_ref().expect("an error event");
    assert_eq!(err.kind, ErrorKind::ConnectionReset, "{err:?}");
}

#[test]
fn bad_stream_handles_trap_instead_of_panicking() {
    let mut fx = Fixture::loopback();
    let stale = Resource::<Stream>::new_borrow(999);
    assert!(fx.net().write(stale, vec![1]).is_err());

    let (stream, _peer) = fx.unix_stream(16);
    // A stream handle passed where a socket is expected.
    let wrong = Resource::<Socket>::new_borrow(stream.rep());
    assert!(fx.net().recv(wrong, 16).is_err());
}

// The limit on host-buffered bytes (`Limits::buffered_bytes`, see `room.rs`).

/// What the limited fixtures let their streams buffer in all.
const LIMIT: u64 = 256 << 10;

/// More than a loopback socket's buffers take at once, so that the host must buffer.
const FLOOD: usize = 16 << 20;

/// A fixture whose streams may buffer [`LIMIT`] bytes in all.
fn limited() -> Fixture {
    let mut policy = crate::testing::loopback_policy();
    policy.limits.buffered_bytes = Some(LIMIT);
    Fixture::new(policy)
}

/// Bytes that show their order.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// Reads everything `peer` receives until its end, on a thread.
fn read_all(mut peer: TcpStream) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    })
}

#[test]
fn under_the_buffer_limit_a_write_takes_what_fits_and_the_rest_goes_later() {
    let mut fx = limited();
    let (stream, peer) = fx.tcp_stream(1024);
    let payload = pattern(FLOOD);

    let first = fx
        .net()
        .write(borrow(&stream), payload.clone())
        .unwrap()
        .unwrap();
    assert!(first.taken < FLOOD as u64, "{first:?}");
    assert_eq!(first.buffered, LIMIT, "the host buffers up to the limit");
    let again = fx
        .net()
        .write(borrow(&stream), payload[first.taken as usize..].to_vec())
        .unwrap()
        .unwrap();
    assert_eq!(again.taken, 0, "a full host takes nothing more");
    assert_eq!(again.buffered, LIMIT);

    // The peer reads; each `writable` event lets more in (written until the host cuts a
    // write short again), and no byte is lost.
    let reader = read_all(peer);
    let mut at = first.taken as usize;
    while at < FLOOD {
        let event = fx.next_event(TOKEN);
        assert!(event.error.is_none(), "{event:?}");
        assert!(event.write_buffered <= LIMIT, "{event:?}");
        if !has(&event, Interest::WRITABLE) {
            continue;
        }
        while at < FLOOD {
            let chunk = payload[at..FLOOD.min(at + (1 << 20))].to_vec();
            let len = chunk.len() as u64;
            let written = fx.net().write(borrow(&stream), chunk).unwrap().unwrap();
            assert!(written.buffered <= LIMIT, "{written:?}");
            at += written.taken as usize;
            if written.taken < len {
                break;
            }
        }
    }
    fx.net().write_eof(borrow(&stream)).unwrap().unwrap();
    while fx.net().write_buffered(borrow(&stream)).unwrap() > 0 {
        fx.next_event(TOKEN);
    }
    assert!(reader.join().unwrap() == payload, "every byte, in order");
}

#[test]
fn under_the_buffer_limit_a_wait_refuses_the_tail_of_a_streams_writes() {
    let mut fx = limited();
    let (stream, peer) = fx.tcp_stream(1024);
    let id = fx.net().id(borrow(&stream)).unwrap();
    // A flood the host cannot hold, then a small write that must not overtake its tail.
    let mut data = vec![1u8; FLOOD];
    data.extend_from_slice(&[2u8; 100]);
    let writes = vec![
        StreamWrite {
            id,
            len: FLOOD as u32,
        },
        StreamWrite { id, len: 100 },
    ];

    let events = fx.wait_after_writes(writes, data, Some(0));

    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.token, TOKEN);
    assert!(has(event, Interest::WRITABLE), "{event:?}");
    assert_eq!(event.write_buffered, LIMIT);
    assert!(
        event.write_refused > 100,
        "the flood's tail and the whole small write: {event:?}"
    );
    // What the host took is exactly what the peer gets: ones only.
    let taken = (FLOOD + 100) as u64 - event.write_refused;
    let reader = read_all(peer);
    while fx.net().write_buffered(borrow(&stream)).unwrap() > 0 {
        fx.next_event(TOKEN);
    }
    fx.net().write_eof(borrow(&stream)).unwrap().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len() as u64, taken);
    assert!(got.iter().all(|&b| b == 1));
}

#[test]
fn a_stream_starved_by_anothers_buffer_hears_when_there_is_room() {
    let mut fx = limited();
    let (full, full_peer) = fx.tcp_stream_as(1, 1024);
    let (starved, starved_peer) = fx.tcp_stream_as(2, 1024);
    let filled = fx
        .net()
        .write(borrow(&full), vec![1; FLOOD])
        .unwrap()
        .unwrap();
    assert_eq!(filled.buffered, LIMIT);

    // The kernel takes what it can for the second stream; the host has no room for more.
    let written = fx
        .net()
        .write(borrow(&starved), vec![2; FLOOD])
        .unwrap()
        .unwrap();
    assert!(written.taken < FLOOD as u64, "{written:?}");
    assert_eq!(
        written.buffered, 0,
        "nothing of its own to flush: {written:?}"
    );
    assert!(
        fx.wait(Some(0)).iter().all(|e| e.token != 2),
        "no room yet, nothing to say"
    );

    // The first stream's peer reads: its flush makes room, and the starved stream hears.
    let reader = read_all(full_peer);
    let mut heard = None;
    for _ in 0..1000 {
        if let Some(event) = fx
            .wait(Some(PATIENCE_NS))
            .into_iter()
            .find(|e| e.token == 2)
        {
            heard = Some(event);
            break;
        }
    }
    let event = heard.expect("the starved stream hears of room");
    assert!(has(&event, Interest::WRITABLE), "{event:?}");
    assert!(event.error.is_none(), "{event:?}");
    // Closing the instance's streams ends the reader.
    drop(fx);
    reader.join().unwrap();
    drop(starved_peer);
}
