//! Sockets through the same trait methods the guest calls, on real loopback sockets.

use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use wasmtime::component::Resource;

use super::{MAX_RECV, Socket};
use crate::bindings::net::{Host as _, HostSocket as _, OptionName, SocketOption, SocketType};
use crate::bindings::reactor::{Host as _, Interest};
use crate::bindings::types::{Address, AddressFamily, ErrorKind};
use crate::policy::Policy;
use crate::testing::{Fixture, borrow};

fn inet(text: &str) -> Address {
    Address::Inet(text.to_owned())
}

impl Fixture {
    fn socket(&mut self, family: AddressFamily, ty: SocketType) -> Resource<Socket> {
        self.net()
            .create(family, ty)
            .expect("no trap")
            .expect("create")
    }

    /// A listening TCP socket on 127.0.0.1 and its address.
    fn listener(&mut self) -> (Resource<Socket>, String) {
        let listener = self.socket(AddressFamily::Ipv4, SocketType::Stream);
        self.net()
            .bind(borrow(&listener), inet("127.0.0.1:0"))
            .unwrap()
            .expect("bind");
        self.net()
            .listen(borrow(&listener), 16)
            .unwrap()
            .expect("listen");
        let Address::Inet(addr) = self
            .net()
            .local_address(borrow(&listener))
            .unwrap()
            .unwrap()
        else {
            panic!("an IPv4 socket has an inet address");
        };
        (listener, addr)
    }

    /// Puts one end of a native unix socket pair into the table as a guest socket.
    fn unix_socket(&mut self) -> (Resource<Socket>, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let socket = Socket::new(
            socket2::Socket::from(OwnedFd::from(ours)),
            AddressFamily::Unix.into(),
        );
        (self.table.push(socket).unwrap(), peer)
    }
}

#[test]
fn connect_to_a_denied_address_is_denied_and_names_it() {
    let mut fx = Fixture::new(Policy::new().allow_connect("127.0.0.1:80").unwrap());
    let socket = fx.socket(AddressFamily::Ipv4, SocketType::Stream);

    let err = fx
        .net()
        .connect(borrow(&socket), inet("10.1.2.3:80"))
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::Denied);
    assert_eq!(err.message, "policy denies connect to 10.1.2.3:80");
}

#[test]
fn default_policy_denies_bind_and_connect() {
    let mut fx = Fixture::new(Policy::default());
    let socket = fx.socket(AddressFamily::Ipv4, SocketType::Datagram);

    let bind = fx
        .net()
        .bind(borrow(&socket), inet("0.0.0.0:8080"))
        .unwrap();
    let connect = fx
        .net()
        .connect(borrow(&socket), inet("127.0.0.1:53"))
        .unwrap();

    let bind = bind.unwrap_err();
    assert_eq!(bind.kind, ErrorKind::Denied);
    assert_eq!(bind.message, "policy denies udp bind to 0.0.0.0:8080");
    assert_eq!(connect.unwrap_err().kind, ErrorKind::Denied);
}

#[test]
fn listen_is_checked_with_the_port_the_kernel_picked() {
    // Port 0 may be bound, but only port 0 may be listened on: never the real one.
    let mut fx = Fixture::new(Policy::new().allow_listen("127.0.0.1:0").unwrap());
    let socket = fx.socket(AddressFamily::Ipv4, SocketType::Stream);
    fx.net()
        .bind(borrow(&socket), inet("127.0.0.1:0"))
        .unwrap()
        .expect("bind to port 0 is allowed");

    let err = fx.net().listen(borrow(&socket), 8).unwrap().unwrap_err();

    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(
        err.message
            .starts_with("policy denies listen on 127.0.0.1:"),
        "{}",
        err.message
    );
}

#[test]
fn malformed_and_mismatched_addresses_are_invalid_input() {
    let mut fx = Fixture::loopback();
    let socket = fx.socket(AddressFamily::Ipv4, SocketType::Stream);

    let malformed = fx
        .net()
        .connect(borrow(&socket), inet("localhost:80"))
        .unwrap()
        .unwrap_err();
    let mismatched = fx
        .net()
        .bind(borrow(&socket), inet("[::1]:0"))
        .unwrap()
        .unwrap_err();

    assert_eq!(malformed.kind, ErrorKind::InvalidInput);
    assert!(
        malformed.message.contains("\"localhost:80\""),
        "{}",
        malformed.message
    );
    assert_eq!(mismatched.kind, ErrorKind::InvalidInput);
    assert!(
        mismatched.message.contains("[::1]:0"),
        "{}",
        mismatched.message
    );
}

#[test]
fn unix_paths_are_denied() {
    let mut fx = Fixture::loopback();
    let socket = fx.socket(AddressFamily::Unix, SocketType::Stream);

    let err = fx
        .net()
        .connect(borrow(&socket), Address::Unix(b"/run/docker.sock".to_vec()))
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::Denied);
    assert!(err.message.contains("/run/docker.sock"), "{}", err.message);
}

#[test]
fn refused_connect_is_reported_by_take_error() {
    let mut fx = Fixture::loopback();
    // A port nobody listens on: bind one, then close it.
    let (listener, addr) = fx.listener();
    fx.net().drop(listener).unwrap();
    let socket = fx.socket(AddressFamily::Ipv4, SocketType::Stream);
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 1, Interest::WRITABLE)
        .unwrap()
        .unwrap();

    let started = fx.net().connect(borrow(&socket), inet(&addr)).unwrap();
    if let Err(err) = &started {
        assert_eq!(err.kind, ErrorKind::InProgress, "{err:?}");
        fx.next_event(1);
    }
    let outcome = fx.net().take_error(borrow(&socket)).unwrap();

    let err = match (started, outcome) {
        (Err(_), Err(err)) => err,
        (Ok(()), _) | (_, Ok(())) => panic!("a connect to a closed port must fail"),
    };
    assert_eq!(err.kind, ErrorKind::ConnectionRefused);
    assert_eq!(
        err.message,
        format!("connect {addr}: Connection refused (os error 111)")
    );
}

#[test]
fn tcp_over_loopback_in_readiness_mode() {
    let mut fx = Fixture::loopback();
    let (listener, addr) = fx.listener();
    let listener_source = fx.net().source(borrow(&listener)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&listener_source), 1, Interest::READABLE)
        .unwrap()
        .unwrap();
    let client = fx.socket(AddressFamily::Ipv4, SocketType::Stream);
    let client_source = fx.net().source(borrow(&client)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&client_source), 2, Interest::WRITABLE)
        .unwrap()
        .unwrap();

    match fx.net().connect(borrow(&client), inet(&addr)).unwrap() {
        Ok(()) => {}
        Err(err) => assert_eq!(err.kind, ErrorKind::InProgress, "{err:?}"),
    }
    fx.next_event(1);
    let (server, peer) = fx.net().accept(borrow(&listener)).unwrap().unwrap();
    fx.next_event(2);
    fx.net().take_error(borrow(&client)).unwrap().unwrap();

    assert_eq!(
        format!(
            "{:?}",
            fx.net().peer_address(borrow(&server)).unwrap().unwrap()
        ),
        format!(
            "{:?}",
            fx.net().local_address(borrow(&client)).unwrap().unwrap()
        )
    );
    assert!(matches!(peer, Address::Inet(_)));
    assert_eq!(
        fx.net()
            .send(borrow(&client), b"ping".to_vec())
            .unwrap()
            .unwrap(),
        4
    );
    let server_source = fx.net().source(borrow(&server)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&server_source), 3, Interest::READABLE)
        .unwrap()
        .unwrap();
    fx.next_event(3);
    assert_eq!(
        fx.net().recv(borrow(&server), 100).unwrap().unwrap(),
        b"ping"
    );
    let again = fx.net().recv(borrow(&server), 100).unwrap().unwrap_err();
    assert_eq!(
        (again.kind, again.message.as_str()),
        (ErrorKind::WouldBlock, "")
    );
}

#[test]
fn recv_returns_at_most_one_mebibyte_whatever_the_guest_asks() {
    let mut fx = Fixture::loopback();
    let (ours, peer) = UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    peer.set_nonblocking(true).unwrap();
    // Let the kernel hold more than the cap in flight.
    let peer = socket2::Socket::from(OwnedFd::from(peer));
    crate::testing::grow_send_buffer(&peer, 8 << 20);
    let chunk = vec![7u8; 64 << 10];
    let mut queued = 0;
    while let Ok(n) = peer.send(&chunk) {
        queued += n;
    }
    assert!(
        queued > MAX_RECV,
        "the kernel took only {queued} bytes: this test needs root or net.core.wmem_max >= 2 MiB"
    );
    let socket = fx
        .table
        .push(Socket::new(
            socket2::Socket::from(OwnedFd::from(ours)),
            AddressFamily::Unix.into(),
        ))
        .unwrap();

    let data = fx.net().recv(borrow(&socket), u32::MAX).unwrap().unwrap();

    assert_eq!(data.len(), MAX_RECV);
}

#[test]
fn socketpair_sides_are_connected_and_unnamed() {
    let mut fx = Fixture::new(Policy::default());

    let (a, b) = fx.net().socketpair().unwrap().unwrap();

    assert_eq!(
        fx.net().send(borrow(&a), b"hi".to_vec()).unwrap().unwrap(),
        2
    );
    assert_eq!(fx.net().recv(borrow(&b), 16).unwrap().unwrap(), b"hi");
    assert!(matches!(
        fx.net().local_address(borrow(&a)).unwrap().unwrap(),
        Address::Unix(path) if path.is_empty()
    ));
    assert_eq!(fx.net().family(borrow(&a)).unwrap(), AddressFamily::Unix);
}

#[test]
fn send_to_a_closed_peer_is_broken_pipe_not_sigpipe() {
    let mut fx = Fixture::loopback();
    let (socket, peer) = fx.unix_socket();
    drop(peer);

    let err = fx
        .net()
        .send(borrow(&socket), b"x".to_vec())
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::BrokenPipe);
}

#[test]
fn options_are_set_and_read_back() {
    let mut fx = Fixture::loopback();
    let socket = fx.socket(AddressFamily::Ipv6, SocketType::Stream);

    fx.net()
        .set_option(borrow(&socket), SocketOption::NoDelay(true))
        .unwrap()
        .unwrap();
    fx.net()
        .set_option(borrow(&socket), SocketOption::ReuseAddress(true))
        .unwrap()
        .unwrap();

    let get = |fx: &mut Fixture, name| fx.net().get_option(borrow(&socket), name).unwrap().unwrap();
    assert!(matches!(
        get(&mut fx, OptionName::NoDelay),
        SocketOption::NoDelay(true)
    ));
    assert!(matches!(
        get(&mut fx, OptionName::ReuseAddress),
        SocketOption::ReuseAddress(true)
    ));
    assert!(matches!(
        get(&mut fx, OptionName::KeepAlive),
        SocketOption::KeepAlive(false)
    ));
    // TCP options on a unix socket: the OS's refusal, as a WIT error.
    let (unix, _peer) = fx.unix_socket();
    let err = fx
        .net()
        .set_option(borrow(&unix), SocketOption::NoDelay(true))
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

#[test]
fn source_duplicates_the_socket_for_the_reactor() {
    let mut fx = Fixture::loopback();
    let (socket, mut peer) = fx.unix_socket();
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 9, Interest::READABLE)
        .unwrap()
        .unwrap();

    // The socket stays open while the source lives, and the other way round.
    fx.net().drop(socket).unwrap();
    peer.write_all(b"x").unwrap();

    assert_eq!(fx.next_event(9).readiness, Interest::READABLE);
    let mut buf = [0; 1];
    peer.set_nonblocking(true).unwrap();
    assert!(peer.read(&mut buf).is_err(), "our end is still open");
}

#[test]
fn bad_socket_handles_trap_instead_of_panicking() {
    let mut fx = Fixture::loopback();
    let stale = Resource::<Socket>::new_borrow(4242);
    assert!(fx.net().recv(stale, 10).is_err());

    let (socket, _peer) = fx.unix_socket();
    fx.net().drop(Resource::new_own(socket.rep())).unwrap();
    assert!(fx.net().send(borrow(&socket), vec![1]).is_err());
    assert!(fx.net().drop(Resource::new_own(socket.rep())).is_err());
}

#[test]
fn sockets_and_streams_count_the_bytes_the_os_moved_and_wait_notes_the_handles() {
    use crate::bindings::net::HostStream;

    let mut fx = Fixture::loopback();
    let (socket, mut peer) = fx.unix_socket();
    let sent = fx.net().send(borrow(&socket), b"hello".to_vec()).unwrap();
    assert_eq!(sent.expect("send"), 5);
    peer.write_all(b"abc").unwrap();
    let received = fx.net().recv(borrow(&socket), 64).unwrap();
    assert_eq!(received.expect("recv"), b"abc");

    // A stream's writes, and its reads inside `wait`.
    let (other, mut stream_peer) = fx.unix_socket();
    let stream = HostStream::open(&mut fx.net(), other, 7, 1024)
        .unwrap()
        .expect("open a stream");
    let written = HostStream::write(&mut fx.net(), borrow(&stream), b"12345678".to_vec());
    assert_eq!(written.unwrap().expect("write").taken, 8);
    stream_peer.write_all(b"xyz").unwrap();
    let events = fx.wait(Some(crate::testing::PATIENCE_NS));
    assert_eq!(events[0].data, b"xyz");

    let stats = fx.stats.snapshot(false);
    assert_eq!((stats.bytes_in, stats.bytes_out), (3 + 3, 5 + 8));
    // The socket and the stream, noted as `wait` began.
    assert_eq!(stats.open_handles, 2);
    let mut echoed = [0; 13];
    peer.read_exact(&mut echoed[..5]).unwrap();
    stream_peer.read_exact(&mut echoed[5..]).unwrap();
    assert_eq!(&echoed, b"hello12345678");
}
