//! Sockets through the same trait methods the guest calls, on real loopback sockets.

use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use mio::unix::SourceFd;
use wasmtime::component::Resource;

use super::{MAX_RECV, Socket};
use crate::bindings::net::{
    self as wit, Host as _, HostSocket as _, OptionName, SocketOption, SocketType,
};
use crate::bindings::reactor::{Host as _, HostSource as _, Interest};
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

/// What descriptor `fd` names now ("socket:[4242]"), `None` once it is closed. A socket's
/// inode number is not reused soon, so comparing the names tells the descriptor apart
/// from one that another test thread opened under the same number since.
fn open_file(fd: RawFd) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

impl Fixture {
    /// The raw descriptor of the socket at `socket`.
    fn raw_fd(&self, socket: &Resource<Socket>) -> RawFd {
        self.table.get(socket).unwrap().inner.as_raw_fd()
    }
}

#[test]
fn a_source_watches_its_sockets_own_descriptor() {
    let mut fx = Fixture::loopback();
    let (socket, _peer) = fx.unix_socket();
    let fd = fx.raw_fd(&socket);
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 9, Interest::READABLE)
        .unwrap()
        .unwrap();

    // epoll watches a descriptor once: the socket's own is taken, by the source.
    let again =
        fx.reactor
            .registry()
            .register(&mut SourceFd(&fd), mio::Token(1), mio::Interest::READABLE);

    assert_eq!(again.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
}

#[test]
fn a_source_outliving_its_socket_keeps_reporting() {
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
fn a_socket_outliving_its_registered_source_works_and_reports_nothing() {
    let mut fx = Fixture::loopback();
    let (socket, mut peer) = fx.unix_socket();
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 9, Interest::READABLE)
        .unwrap()
        .unwrap();

    fx.reactor().drop(source).unwrap();
    peer.write_all(b"x").unwrap();

    assert!(
        fx.wait(Some(50_000_000)).is_empty(),
        "no event outlives the source"
    );
    assert_eq!(fx.net().recv(borrow(&socket), 10).unwrap().unwrap(), b"x");
}

#[test]
fn the_descriptor_closes_when_the_socket_and_its_source_are_both_gone() {
    for source_first in [false, true] {
        let mut fx = Fixture::loopback();
        let (socket, _peer) = fx.unix_socket();
        let fd = fx.raw_fd(&socket);
        let ours = open_file(fd).expect("the socket is open");
        let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
        fx.reactor()
            .register(borrow(&source), 9, Interest::READABLE)
            .unwrap()
            .unwrap();

        let (source, socket) = (source.rep(), socket.rep());
        let drop_source = |fx: &mut Fixture| {
            fx.reactor().drop(Resource::new_own(source)).unwrap();
        };
        let drop_socket = |fx: &mut Fixture| {
            fx.net().drop(Resource::new_own(socket)).unwrap();
        };
        if source_first {
            drop_source(&mut fx);
        } else {
            drop_socket(&mut fx);
        }
        assert_eq!(
            open_file(fd).as_ref(),
            Some(&ours),
            "open while one holds it"
        );
        if source_first {
            drop_socket(&mut fx);
        } else {
            drop_source(&mut fx);
        }

        assert_ne!(
            open_file(fd).as_ref(),
            Some(&ours),
            "closed once both are gone"
        );
    }
}

#[test]
fn a_socket_whose_source_is_registered_cannot_become_a_stream() {
    let mut fx = Fixture::loopback();
    let (socket, mut peer) = fx.unix_socket();
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 9, Interest::READABLE)
        .unwrap()
        .unwrap();

    let err = wit::HostStream::open(&mut fx.net(), socket, 10, 1024)
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert_eq!(
        err.message,
        "open a stream: a reactor source of the same descriptor is still registered; \
         deregister or drop it first"
    );
    // The source still watches the descriptor, which it keeps open.
    peer.write_all(b"x").unwrap();
    assert_eq!(fx.next_event(9).readiness, Interest::READABLE);
}

#[test]
fn a_stream_outlives_the_source_its_socket_had() {
    let mut fx = Fixture::loopback();
    let (socket, mut peer) = fx.unix_socket();
    let fd = fx.raw_fd(&socket);
    let ours = open_file(fd).expect("the socket is open");
    let source = fx.net().source(borrow(&socket)).unwrap().unwrap();
    fx.reactor()
        .register(borrow(&source), 9, Interest::WRITABLE)
        .unwrap()
        .unwrap();
    fx.next_event(9);
    fx.reactor().deregister(borrow(&source)).unwrap().unwrap();

    let stream = wit::HostStream::open(&mut fx.net(), socket, 10, 1024)
        .unwrap()
        .expect("a stream");
    fx.reactor().drop(source).unwrap();
    peer.write_all(b"after").unwrap();

    assert_eq!(fx.next_event(10).data, b"after");
    wit::HostStream::drop(&mut fx.net(), stream).unwrap();
    assert_ne!(open_file(fd).as_ref(), Some(&ours), "the stream closed it");
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
