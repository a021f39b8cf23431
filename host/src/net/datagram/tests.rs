//! `recv-from`, `send-to`, `broadcast` and the udp rules, on real loopback sockets.

use wasmtime::component::Resource;

use super::MAX_DATAGRAM;
use crate::bindings::net::{HostSocket as _, OptionName, SocketOption, SocketType};
use crate::bindings::reactor::{Host as _, Interest};
use crate::bindings::types::{Address, AddressFamily, ErrorKind};
use crate::net::Socket;
use crate::policy::Policy;
use crate::testing::{Fixture, borrow};

fn inet(text: &str) -> Address {
    Address::Inet(text.to_owned())
}

/// Datagrams on loopback, both families, any port.
fn udp_loopback() -> Policy {
    Policy::new()
        .allow_udp_bind("127.0.0.1:*")
        .and_then(|p| p.allow_udp_bind("[::1]:*"))
        .and_then(|p| p.allow_udp_send("127.0.0.1:*"))
        .and_then(|p| p.allow_udp_send("[::1]:*"))
        .expect("valid rules")
}

impl Fixture {
    fn udp(&mut self, family: AddressFamily) -> Resource<Socket> {
        self.net()
            .create(family, SocketType::Datagram)
            .expect("no trap")
            .expect("create")
    }

    /// A datagram socket bound to `addr` and the address it got.
    fn bound_udp(&mut self, family: AddressFamily, addr: &str) -> (Resource<Socket>, String) {
        let socket = self.udp(family);
        self.net()
            .bind(borrow(&socket), inet(addr))
            .unwrap()
            .expect("bind");
        let Address::Inet(local) = self.net().local_address(borrow(&socket)).unwrap().unwrap()
        else {
            panic!("an IP socket has an inet address");
        };
        (socket, local)
    }

    /// Waits until `socket` is readable (its datagram has arrived).
    fn await_readable(&mut self, socket: &Resource<Socket>, token: u64) {
        let source = self.net().source(borrow(socket)).unwrap().unwrap();
        self.reactor()
            .register(borrow(&source), token, Interest::READABLE)
            .unwrap()
            .unwrap();
        self.next_event(token);
        self.reactor().deregister(borrow(&source)).unwrap().unwrap();
    }
}

#[test]
fn datagrams_round_trip_with_the_senders_address() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, a_addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    let (b, b_addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");

    let sent = fx
        .net()
        .send_to(borrow(&a), b"ping".to_vec(), inet(&b_addr))
        .unwrap()
        .unwrap();
    fx.await_readable(&b, 1);
    let (data, from) = fx.net().recv_from(borrow(&b), 100).unwrap().unwrap();

    assert_eq!(sent, 4);
    assert_eq!(data, b"ping");
    assert!(
        matches!(from, Address::Inet(ref text) if *text == a_addr),
        "{from:?}"
    );
    let again = fx.net().recv_from(borrow(&b), 100).unwrap().unwrap_err();
    assert_eq!(
        (again.kind, again.message.as_str()),
        (ErrorKind::WouldBlock, "")
    );
}

#[test]
fn a_64_kib_datagram_fits_whatever_the_guest_asks() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, _) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    let (b, b_addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    // The largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP).
    let big: Vec<u8> = (0..65507u32).map(|i| (i % 251) as u8).collect();

    fx.net()
        .send_to(borrow(&a), big.clone(), inet(&b_addr))
        .unwrap()
        .unwrap();
    fx.await_readable(&b, 1);
    let (data, _) = fx.net().recv_from(borrow(&b), u32::MAX).unwrap().unwrap();

    assert_eq!(data.len(), big.len());
    assert!(data == big, "the datagram came back altered");
    assert!(data.capacity() <= MAX_DATAGRAM);
    // A small datagram costs its size, not the most a datagram can be.
    fx.net()
        .send_to(borrow(&a), b"small".to_vec(), inet(&b_addr))
        .unwrap()
        .unwrap();
    fx.await_readable(&b, 2);
    let (small, _) = fx.net().recv_from(borrow(&b), u32::MAX).unwrap().unwrap();
    assert_eq!(small, b"small");
    assert!(small.capacity() < 64, "{}", small.capacity());
}

#[test]
fn an_oversized_datagram_is_invalid_input_naming_its_size() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, _) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    let (_b, b_addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");

    let err = fx
        .net()
        .send_to(borrow(&a), vec![0; 70_000], inet(&b_addr))
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(
        err.message.contains("a datagram of 70000 bytes"),
        "{}",
        err.message
    );
}

#[test]
fn a_short_buffer_truncates_the_datagram() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, _) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    let (b, b_addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    fx.net()
        .send_to(borrow(&a), b"0123456789".to_vec(), inet(&b_addr))
        .unwrap()
        .unwrap();
    fx.await_readable(&b, 1);

    let (data, _) = fx.net().recv_from(borrow(&b), 4).unwrap().unwrap();

    assert_eq!(data, b"0123");
    // The rest of the datagram is gone, as with recvfrom(2).
    assert_eq!(
        fx.net()
            .recv_from(borrow(&b), 100)
            .unwrap()
            .unwrap_err()
            .kind,
        ErrorKind::WouldBlock
    );
}

#[test]
fn ipv6_datagrams_round_trip() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, a_addr) = fx.bound_udp(AddressFamily::Ipv6, "[::1]:0");
    let (b, b_addr) = fx.bound_udp(AddressFamily::Ipv6, "[::1]:0");

    fx.net()
        .send_to(borrow(&a), b"six".to_vec(), inet(&b_addr))
        .unwrap()
        .unwrap();
    fx.await_readable(&b, 1);
    let (data, from) = fx.net().recv_from(borrow(&b), 100).unwrap().unwrap();

    assert_eq!(data, b"six");
    assert!(
        matches!(from, Address::Inet(ref text) if *text == a_addr),
        "{from:?}"
    );
}

#[test]
fn connected_socket_gets_connection_refused_from_a_closed_port() {
    let mut fx = Fixture::new(udp_loopback());
    let (a, _) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
    // A port that was just free: nothing listens there now.
    let closed = {
        let (probe, addr) = fx.bound_udp(AddressFamily::Ipv4, "127.0.0.1:0");
        drop(fx.table.delete(probe).unwrap());
        addr
    };
    fx.net()
        .connect(borrow(&a), inet(&closed))
        .unwrap()
        .unwrap();

    fx.net()
        .send(borrow(&a), b"anyone?".to_vec())
        .unwrap()
        .unwrap();
    fx.await_readable(&a, 1);
    let err = fx.net().recv_from(borrow(&a), 100).unwrap().unwrap_err();

    assert_eq!(err.kind, ErrorKind::ConnectionRefused);
    assert!(err.message.contains(&closed), "{}", err.message);
}

#[test]
fn udp_bind_send_to_and_connect_are_checked_against_the_udp_rules() {
    // Stream rules for everything: they grant no datagram operation.
    let policy = Policy::new()
        .allow_listen("*:*")
        .and_then(|p| p.allow_connect("*:*"))
        .and_then(|p| p.allow_udp_bind("127.0.0.1:0"))
        .and_then(|p| p.allow_udp_send("127.0.0.1:53"))
        .unwrap();
    let mut fx = Fixture::new(policy);
    let socket = fx.udp(AddressFamily::Ipv4);

    let bind = fx
        .net()
        .bind(borrow(&socket), inet("127.0.0.1:9"))
        .unwrap()
        .unwrap_err();
    fx.net()
        .bind(borrow(&socket), inet("127.0.0.1:0"))
        .unwrap()
        .expect("port 0 is granted");
    let send = fx
        .net()
        .send_to(borrow(&socket), b"x".to_vec(), inet("10.0.0.1:53"))
        .unwrap()
        .unwrap_err();
    let connect = fx
        .net()
        .connect(borrow(&socket), inet("127.0.0.1:54"))
        .unwrap()
        .unwrap_err();

    assert_eq!(bind.kind, ErrorKind::Denied);
    assert_eq!(bind.message, "policy denies udp bind to 127.0.0.1:9");
    assert_eq!(send.kind, ErrorKind::Denied);
    assert_eq!(send.message, "policy denies udp send to 10.0.0.1:53");
    assert_eq!(connect.kind, ErrorKind::Denied);
    assert_eq!(connect.message, "policy denies udp send to 127.0.0.1:54");
    fx.net()
        .connect(borrow(&socket), inet("127.0.0.1:53"))
        .unwrap()
        .expect("the granted target");
}

#[test]
fn stream_sockets_keep_the_stream_rules() {
    let mut fx = Fixture::new(udp_loopback());
    let socket = fx
        .net()
        .create(AddressFamily::Ipv4, SocketType::Stream)
        .unwrap()
        .unwrap();

    let bind = fx
        .net()
        .bind(borrow(&socket), inet("127.0.0.1:0"))
        .unwrap()
        .unwrap_err();

    assert_eq!(bind.message, "policy denies bind to 127.0.0.1:0");
}

#[test]
fn datagram_calls_on_a_stream_socket_are_unsupported() {
    let mut fx = Fixture::new(udp_loopback());
    let socket = fx
        .net()
        .create(AddressFamily::Ipv4, SocketType::Stream)
        .unwrap()
        .unwrap();

    let send = fx
        .net()
        .send_to(borrow(&socket), b"x".to_vec(), inet("127.0.0.1:9"))
        .unwrap()
        .unwrap_err();
    let recv = fx
        .net()
        .recv_from(borrow(&socket), 10)
        .unwrap()
        .unwrap_err();

    assert_eq!(send.kind, ErrorKind::Unsupported);
    assert_eq!(recv.kind, ErrorKind::Unsupported);
    assert!(send.message.starts_with("send-to: not a datagram socket"));
}

#[test]
fn send_to_refuses_malformed_and_mismatched_addresses() {
    let mut fx = Fixture::new(udp_loopback());
    let socket = fx.udp(AddressFamily::Ipv4);

    let malformed = fx
        .net()
        .send_to(borrow(&socket), b"x".to_vec(), inet("localhost:53"))
        .unwrap()
        .unwrap_err();
    let mismatched = fx
        .net()
        .send_to(borrow(&socket), b"x".to_vec(), inet("[::1]:53"))
        .unwrap()
        .unwrap_err();
    let unix = fx
        .net()
        .send_to(
            borrow(&socket),
            b"x".to_vec(),
            Address::Unix(b"/tmp/x".to_vec()),
        )
        .unwrap()
        .unwrap_err();

    assert_eq!(malformed.kind, ErrorKind::InvalidInput);
    assert_eq!(mismatched.kind, ErrorKind::InvalidInput);
    // A unix path on an IP socket: the family is wrong, whatever the unix rules say.
    assert_eq!(unix.kind, ErrorKind::InvalidInput);
}

#[test]
fn broadcast_is_set_and_read_back() {
    let mut fx = Fixture::new(udp_loopback());
    let socket = fx.udp(AddressFamily::Ipv4);
    let get = |fx: &mut Fixture| {
        fx.net()
            .get_option(borrow(&socket), OptionName::Broadcast)
            .unwrap()
            .unwrap()
    };

    assert!(matches!(get(&mut fx), SocketOption::Broadcast(false)));
    fx.net()
        .set_option(borrow(&socket), SocketOption::Broadcast(true))
        .unwrap()
        .unwrap();
    assert!(matches!(get(&mut fx), SocketOption::Broadcast(true)));
}
