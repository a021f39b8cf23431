//! The portable build's networking (`sandloop` without `host-reactor`), run by
//! `host/tests/portable_hosts.rs` on WASI 0.2 hosts nobody here wrote (the wasmtime CLI
//! with `-S inherit-network=y`, and jco): connections to a native peer through `wasi:sockets`, a
//! server closed with `Server::close`/`wait_closed`, refusals, the `sock_*` coroutines and
//! `add_reader`, datagrams, lookups, and what the portable build refuses.
//!
//! Built twice: portable by tests/artifacts (the build the host tests run), and with the
//! default features as every program is, where it only has to compile.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use sandloop::net::{Address, Family, Socket, SocketType};
use sandloop::streams::{StreamReader, StreamWriter, open_connection, start_server};
use sandloop::{
    AddrInfoHints, ConnectOptions, DatagramOptions, DatagramProtocol, Error, Event, Protocol,
    Result, ServerOptions, get_running_loop,
};
use test_programs::cases;

fn arg(n: usize) -> String {
    std::env::args()
        .nth(n)
        .unwrap_or_else(|| panic!("argument {n} missing"))
}

fn port_arg() -> u16 {
    arg(2).parse().expect("a port")
}

/// A line to a native echo peer and its echo back, through `open_connection`; then EOF
/// both ways.
fn client_echoes_with_a_native_peer() -> Result<()> {
    sandloop::run(async {
        let (reader, writer) =
            open_connection("127.0.0.1", port_arg(), ConnectOptions::default()).await?;
        writer.write(b"hello from the portable build\n");
        writer.drain().await?;
        let line = reader.readline().await?;
        print!("echo: {}", String::from_utf8_lossy(&line));
        writer.write_eof();
        let rest = reader.read_to_end().await?;
        println!("eof after {} more bytes", rest.len());
        writer.close();
        writer.wait_closed().await
    })
}

/// A connect to a port nobody listens on fails with `ConnectionRefused`, an error the
/// caller can match on.
fn connect_refused_is_an_error() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        struct Nothing;
        impl Protocol for Nothing {}
        let err = lp
            .create_connection(
                || Nothing,
                "127.0.0.1",
                port_arg(),
                ConnectOptions::default(),
            )
            .await
            .map(|_| ())
            .expect_err("nobody listens there");
        println!("kind {:?}", err.kind());
        println!("message {err}");
        Ok::<_, Error>(())
    })
}

/// A streams server on a free port echoing lines; once a client has come and gone, the
/// server closes (`close`, then `wait_closed`) and says so.
fn server_closes_after_one_client() -> Result<()> {
    sandloop::run(async {
        let served = Event::new();
        let done = served.clone();
        let server = start_server(
            async move |r: StreamReader, w: StreamWriter| {
                while let Some(line) = r.next_line().await? {
                    w.write(&line);
                    w.drain().await?;
                }
                w.close();
                let closed = w.wait_closed().await;
                done.set();
                closed
            },
            "127.0.0.1",
            0,
            ServerOptions::default(),
        )
        .await?;
        println!("port {}", server.port()?);
        served.wait().await?;
        server.close();
        server.wait_closed().await;
        println!("closed, serving {}", server.is_serving());
        Ok::<_, Error>(())
    })
}

/// `sock_connect`, `sock_sendall` and `sock_recv` on a `net::Socket`, then `add_reader`
/// on the same socket to see the peer's next reply arrive.
fn sock_calls_and_add_reader() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let sock = Socket::new(Family::Inet, SocketType::Stream)?;
        let peer: SocketAddr = format!("127.0.0.1:{}", port_arg()).parse().unwrap();
        lp.sock_connect(&sock, peer).await?;
        lp.sock_sendall(&sock, b"ping\n").await?;
        let mut got = Vec::new();
        while !got.ends_with(b"\n") {
            let chunk = lp.sock_recv(&sock, 1024).await?;
            assert!(!chunk.is_empty(), "the peer closed early");
            got.extend_from_slice(&chunk);
        }
        print!("sock_recv: {}", String::from_utf8_lossy(&got));

        let arrived = Event::new();
        let received = Rc::new(RefCell::new(Vec::new()));
        {
            let (sock2, arrived, received) = (sock.clone(), arrived.clone(), received.clone());
            lp.add_reader(&sock, move || {
                match sock2.recv(1024) {
                    Ok(data) => {
                        received.borrow_mut().extend_from_slice(&data);
                        if received.borrow().ends_with(b"\n") || data.is_empty() {
                            arrived.set();
                        }
                    }
                    Err(Error::Os(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
                Ok(())
            })?;
        }
        lp.sock_sendall(&sock, b"pong\n").await?;
        arrived.wait().await?;
        println!("removed {}", lp.remove_reader(&sock));
        print!(
            "add_reader: {}",
            String::from_utf8_lossy(&received.borrow())
        );
        sock.close();
        Ok::<_, Error>(())
    })
}

/// `getaddrinfo` of a numeric address answers at once; `localhost` goes to the host's
/// `ip-name-lookup`.
fn lookups() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let stream = AddrInfoHints {
            socktype: Some(SocketType::Stream),
            ..AddrInfoHints::default()
        };
        let numeric = lp
            .getaddrinfo(Some("127.0.0.1"), Some("80"), stream)
            .await?;
        println!("numeric {}", numeric[0].address);
        let named = lp
            .getaddrinfo(Some("localhost"), Some("8080"), stream)
            .await?;
        let v4 = named
            .iter()
            .any(|i| i.address.to_string() == "127.0.0.1:8080");
        println!("localhost has 127.0.0.1:8080 {v4}");
        let service = lp
            .getaddrinfo(Some("127.0.0.1"), Some("http"), stream)
            .await
            .map(|_| ())
            .expect_err("no service names in WASI 0.2");
        println!("service name: {service}");
        Ok::<_, Error>(())
    })
}

/// What WASI 0.2 cannot do is an `Unsupported` error naming the operation, never a trap.
fn unsupported_operations_are_errors() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let report = |what: &str, err: Error| {
            println!("{what}: {:?}: {err}", err.kind());
        };
        report("pipe", sandloop::os::pipe().map(|_| ()).unwrap_err());
        report(
            "unix socket",
            Socket::new(Family::Unix, SocketType::Stream)
                .map(|_| ())
                .unwrap_err(),
        );
        report(
            "socketpair",
            sandloop::net::socketpair().map(|_| ()).unwrap_err(),
        );
        report(
            "file",
            Error::Os(
                sandloop::fs::File::open("/index.html")
                    .map(|_| ())
                    .unwrap_err(),
            ),
        );
        struct Nothing;
        impl Protocol for Nothing {}
        let unix = lp
            .create_unix_connection(|| Nothing, "/tmp/x.sock", Default::default())
            .await
            .map(|_| ())
            .unwrap_err();
        report("create_unix_connection", unix);
        Ok::<_, Error>(())
    })
}

/// A datagram endpoint connected to a native UDP echo peer: three datagrams out, their
/// echoes back, in order.
fn datagrams_echo_with_a_native_peer() -> Result<()> {
    struct Pinger {
        echoes: Rc<RefCell<Vec<String>>>,
        done: Rc<Event>,
    }
    impl DatagramProtocol for Pinger {
        fn datagram_received(&mut self, data: &[u8], addr: &Address) {
            let mut echoes = self.echoes.borrow_mut();
            echoes.push(format!("{} from {addr}", String::from_utf8_lossy(data)));
            if echoes.len() == 3 {
                self.done.set();
            }
        }
    }
    sandloop::run(async {
        let lp = get_running_loop()?;
        let echoes = Rc::new(RefCell::new(Vec::new()));
        let done = Rc::new(Event::new());
        let (transport, _protocol) = {
            let (echoes, done) = (echoes.clone(), done.clone());
            lp.create_datagram_endpoint(
                move || Pinger { echoes, done },
                DatagramOptions {
                    remote_addr: Some(("127.0.0.1", port_arg()).into()),
                    ..DatagramOptions::default()
                },
            )
            .await?
        };
        for n in 1..=3 {
            transport.sendto(format!("ping {n}").as_bytes(), None)?;
        }
        done.wait().await?;
        for echo in echoes.borrow().iter() {
            println!("{echo}");
        }
        println!("peername {}", transport.peername().expect("connected"));
        transport.close();
        Ok::<_, Error>(())
    })
}

/// `sock_sendto` from a socket never bound (bound implicitly, as POSIX does) and
/// `sock_recvfrom` of the native peer's echo.
fn sock_sendto_and_recvfrom() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
        let peer: SocketAddr = format!("127.0.0.1:{}", port_arg()).parse().unwrap();
        let sent = lp.sock_sendto(&sock, b"hello udp", peer).await?;
        let (data, from) = lp.sock_recvfrom(&sock, 1024).await?;
        println!(
            "sent {sent}, got {} from {}",
            String::from_utf8_lossy(&data),
            from
        );
        sock.close();
        Ok::<_, Error>(())
    })
}

/// A protocol that counts what it receives, for the flow-control case.
struct Counter {
    received: Rc<Cell<usize>>,
    eof: Rc<Event>,
}

impl Protocol for Counter {
    fn data_received(&mut self, data: &[u8]) {
        self.received.set(self.received.get() + data.len());
    }

    fn eof_received(&mut self) -> bool {
        self.eof.set();
        false
    }
}

/// Writes `argv[3]` MiB to a native peer that reads slowly at first: the transport's
/// buffer passes its high-water mark (the protocol is paused) and drains again; the peer
/// echoes what it read, counted here.
fn large_write_to_a_native_peer() -> Result<()> {
    sandloop::run(async {
        let lp = get_running_loop()?;
        let mib: usize = arg(3).parse().expect("MiB");
        let received = Rc::new(Cell::new(0));
        let eof = Rc::new(Event::new());
        let (transport, _protocol) = {
            let (received, eof) = (received.clone(), eof.clone());
            lp.create_connection(
                move || Counter { received, eof },
                "127.0.0.1",
                port_arg(),
                ConnectOptions::default(),
            )
            .await?
        };
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut max_buffered = 0;
        for _ in 0..mib * 16 {
            transport.write(&chunk);
            max_buffered = max_buffered.max(transport.get_write_buffer_size());
        }
        transport.write_eof();
        eof.wait().await?;
        println!("buffered past 1 MiB {}", max_buffered > 1 << 20);
        println!("echoed {}", received.get());
        transport.close();
        Ok::<_, Error>(())
    })
}

cases!(
    ; checked:
    client_echoes_with_a_native_peer,
    connect_refused_is_an_error,
    server_closes_after_one_client,
    sock_calls_and_add_reader,
    lookups,
    unsupported_operations_are_errors,
    large_write_to_a_native_peer,
    datagrams_echo_with_a_native_peer,
    sock_sendto_and_recvfrom,
);
