//! The network section of the loop, after CPython's test_events.py, test_sock_lowlevel.py and
//! test_base_events.py: sockets and `sock_*`, `add_reader`/`add_writer`, lookups,
//! `create_connection` (with Happy Eyeballs), `create_server` and `Server`, transports and
//! protocols with flow control. Everything runs on loopback under the real host.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use sandloop::net::{
    self, Address, Family, NI_NUMERICHOST, NI_NUMERICSERV, SockOpt, SockOptName, Socket, SocketType,
};
use sandloop::{
    AddrInfoHints, BufferedProtocol, ConnectOptions, Error, EventLoop, Hosts, Protocol, Result,
    ServerOptions, Transport, get_running_loop, run, sleep,
};
use test_programs::{Log, cases, until};

cases!(
    socketpair_reader_runs_when_data_arrives,
    busy_loop_still_serves_io,
    add_writer_runs_while_writable,
    remove_reader_reports_whether_one_was_set,
    sock_ops_round_trip,
    sock_recv_into_fills_the_buffer,
    sock_connect_to_a_closed_port_is_refused,
    socket_options_round_trip,
    getaddrinfo_resolves_localhost,
    getaddrinfo_of_an_unknown_name_fails,
    getnameinfo_numeric,
    create_connection_echo_round_trip,
    protocol_callbacks_come_in_order,
    create_connection_refused,
    create_connection_all_errors_is_a_group,
    create_connection_local_addr,
    short_paths_for_addresses_ports_and_protocols,
    create_connection_with_a_connected_sock,
    connect_accepted_socket_serves_a_socket,
    extra_info_names_both_ends,
    tcp_nodelay_is_on_by_default,
    server_close_keeps_clients_until_close_clients,
    server_abort_clients,
    server_start_serving_later,
    a_server_not_yet_serving_refuses_connections,
    server_scope_closes_and_waits,
    serve_forever_ends_when_closed,
    server_on_many_hosts,
    server_reuse_port_shares_the_port,
    close_delivers_every_buffered_byte,
    abort_discards_what_is_buffered,
    mixed_writes_arrive_in_order,
    abort_after_a_small_write_still_sends_it,
    eof_and_half_close,
    pause_and_resume_reading,
    pause_writing_against_a_slow_reader,
    write_buffer_limits,
    ten_mib_both_directions,
    thousand_concurrent_connections,
    buffered_protocol_receives_into_its_buffer,
    write_after_close_is_ignored,
    listen_without_bind_is_denied_on_loopback_policy,
    server_keep_alive_sets_so_keepalive,
    portable_selector_cannot_watch_host_sockets;
    checked:
    listen_is_denied,
    connect_is_denied,
    happy_eyeballs_staggers_to_the_next_address,
    all_errors_over_several_addresses,
    server_on_all_interfaces,
);

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn inet(addr: &Address) -> SocketAddr {
    addr.as_inet().expect("an IP address")
}

/// A listening socket on 127.0.0.1 with a free port.
fn listener() -> Result<(Socket, SocketAddr)> {
    let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    sock.bind(localhost(0))?;
    sock.listen(100)?;
    let addr = inet(&sock.local_addr()?);
    Ok((sock, addr))
}

/// A port with nothing listening on it.
fn closed_port() -> Result<u16> {
    let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    sock.bind(localhost(0))?;
    let port = inet(&sock.local_addr()?).port();
    sock.close();
    Ok(port)
}

// ---- Raw sockets, readers and writers ---------------------------------------------------

fn socketpair_reader_runs_when_data_arrives() -> Result<()> {
    // The seed's example: a reader on one end of a socketpair stops the loop.
    let lp = sandloop::new_event_loop();
    let (rsock, wsock) = net::socketpair()?;
    let got = Rc::new(RefCell::new(Vec::new()));
    let (g, r, l) = (got.clone(), rsock.clone(), lp.clone());
    lp.add_reader(&rsock, move || {
        let data = r.recv(100)?;
        g.borrow_mut().extend(data);
        l.remove_reader(&r);
        l.stop();
        Ok::<_, Error>(())
    })?;
    lp.call_soon(move || {
        wsock.send(b"abc").unwrap();
    });
    lp.run_forever()?;
    assert_eq!(&*got.borrow(), b"abc");
    assert!(!lp.remove_reader(&rsock));
    lp.close()
}

/// A loop that always has callbacks ready polls for I/O every 61 callbacks rather than every
/// iteration (`EVENT_INTERVAL`): a reader still runs while a callback chain keeps it busy.
fn busy_loop_still_serves_io() -> Result<()> {
    fn spin(lp: EventLoop, steps: Rc<Cell<u32>>, done: Rc<Cell<bool>>) {
        if done.get() {
            return;
        }
        steps.set(steps.get() + 1);
        assert!(
            steps.get() < 10_000,
            "the reader never ran while the loop was busy"
        );
        let next = lp.clone();
        lp.call_soon(move || spin(next, steps, done));
    }
    let lp = sandloop::new_event_loop();
    let (rsock, wsock) = net::socketpair()?;
    wsock.send(b"x")?;
    let steps = Rc::new(Cell::new(0));
    let done = Rc::new(Cell::new(false));
    let (d, l, r) = (done.clone(), lp.clone(), rsock.clone());
    lp.add_reader(&rsock, move || {
        d.set(true);
        l.remove_reader(&r);
        l.stop();
    })?;
    spin(lp.clone(), steps.clone(), done);
    lp.run_forever()?;
    // The first poll comes within one interval of busy callbacks, not after the chain ends.
    assert!(
        steps.get() <= 2 * 61,
        "the reader ran after {} busy steps",
        steps.get()
    );
    lp.close()
}

fn add_writer_runs_while_writable() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let (a, b) = net::socketpair()?;
    let runs = Rc::new(Cell::new(0));
    let (n, l, a2) = (runs.clone(), lp.clone(), a.clone());
    lp.add_writer(&a, move || {
        n.set(n.get() + 1);
        if n.get() == 3 {
            assert!(l.remove_writer(&a2));
            l.stop();
        }
    })?;
    lp.run_forever()?;
    // Level-triggered: a writable socket is reported on every iteration.
    assert_eq!(runs.get(), 3);
    drop(b);
    lp.close()
}

fn remove_reader_reports_whether_one_was_set() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let (a, _b) = net::socketpair()?;
    assert!(!lp.remove_reader(&a));
    lp.add_reader(&a, || {})?;
    // A second reader replaces the first.
    lp.add_reader(&a, || {})?;
    assert!(lp.remove_reader(&a));
    assert!(!lp.remove_reader(&a));
    assert!(!lp.remove_writer(&a));
    lp.close()
}

fn sock_ops_round_trip() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let client = Socket::new(Family::Inet, SocketType::Stream)?;
        let accept = lp.create_task({
            let lp = lp.clone();
            async move {
                let (conn, peer) = lp.sock_accept(&srv).await?;
                let data = lp.sock_recv(&conn, 1024).await?;
                lp.sock_sendall(&conn, &data.to_ascii_uppercase()).await?;
                conn.shutdown(net::Shutdown::Write)?;
                Ok::<_, Error>(peer)
            }
        });
        lp.sock_connect(&client, addr).await?;
        lp.sock_sendall(&client, b"hello").await?;
        let mut reply = Vec::new();
        loop {
            let chunk = lp.sock_recv(&client, 1024).await?;
            if chunk.is_empty() {
                break;
            }
            reply.extend(chunk);
        }
        assert_eq!(reply, b"HELLO");
        let peer = accept.await?;
        assert_eq!(peer, client.local_addr()?);
        Ok::<_, Error>(())
    })
}

fn sock_recv_into_fills_the_buffer() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (a, b) = net::socketpair()?;
        lp.sock_sendall(&a, b"0123456789").await?;
        let mut buf = [0u8; 4];
        let n = lp.sock_recv_into(&b, &mut buf).await?;
        assert_eq!((n, &buf), (4, b"0123"));
        let mut rest = [0u8; 16];
        let n = lp.sock_recv_into(&b, &mut rest).await?;
        assert_eq!(&rest[..n], b"456789");
        Ok::<_, Error>(())
    })
}

fn sock_connect_to_a_closed_port_is_refused() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port = closed_port()?;
        let sock = Socket::new(Family::Inet, SocketType::Stream)?;
        let err = lp.sock_connect(&sock, localhost(port)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        Ok::<_, Error>(())
    })
}

fn socket_options_round_trip() -> Result<()> {
    let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    sock.set_option(SockOpt::ReuseAddress(true))?;
    assert_eq!(
        sock.get_option(SockOptName::ReuseAddress)?,
        SockOpt::ReuseAddress(true)
    );
    sock.set_option(SockOpt::KeepAlive(true))?;
    assert_eq!(
        sock.get_option(SockOptName::KeepAlive)?,
        SockOpt::KeepAlive(true)
    );
    sock.set_option(SockOpt::NoDelay(true))?;
    assert_eq!(
        sock.get_option(SockOptName::NoDelay)?,
        SockOpt::NoDelay(true)
    );
    sock.set_option(SockOpt::RecvBufferSize(65536))?;
    assert!(
        matches!(sock.get_option(SockOptName::RecvBufferSize)?, SockOpt::RecvBufferSize(n) if n >= 65536)
    );
    assert_eq!(sock.family()?, Family::Inet);
    sock.close();
    assert!(sock.is_closed());
    assert!(sock.local_addr().is_err());
    Ok(())
}

// ---- Lookups ------------------------------------------------------------------------------

fn getaddrinfo_resolves_localhost() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let hints = AddrInfoHints {
            family: Some(Family::Inet),
            socktype: Some(SocketType::Stream),
            ..Default::default()
        };
        let infos = lp.getaddrinfo(Some("localhost"), Some("80"), hints).await?;
        assert!(!infos.is_empty());
        for info in &infos {
            assert_eq!(info.family, Family::Inet);
            assert_eq!(info.socktype, SocketType::Stream);
            assert_eq!(info.address, Address::Inet(localhost(80)));
        }
        // A numeric host needs no resolver.
        let infos = lp
            .getaddrinfo(Some("::1"), Some("443"), AddrInfoHints::default())
            .await?;
        assert!(
            infos
                .iter()
                .all(|i| i.address == Address::Inet("[::1]:443".parse().unwrap()))
        );
        Ok::<_, Error>(())
    })
}

fn getaddrinfo_of_an_unknown_name_fails() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let err = lp
            .getaddrinfo(
                Some("no-such-host.invalid"),
                Some("80"),
                AddrInfoHints::default(),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
        Ok::<_, Error>(())
    })
}

fn getnameinfo_numeric() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (host, service) = lp
            .getnameinfo(localhost(8080), NI_NUMERICHOST | NI_NUMERICSERV)
            .await?;
        assert_eq!((host.as_str(), service.as_str()), ("127.0.0.1", "8080"));
        Ok::<_, Error>(())
    })
}

// ---- Protocols used by the transport cases ----------------------------------------------

/// Echoes everything back; logs its callbacks.
struct Echo {
    log: Log,
    transport: Option<Transport>,
}

impl Echo {
    fn new(log: &Log) -> Echo {
        Echo {
            log: log.clone(),
            transport: None,
        }
    }
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.push("server made");
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }
    fn eof_received(&mut self) -> bool {
        self.log.push("server eof");
        false
    }
    fn connection_lost(&mut self, exc: Option<Error>) {
        self.log.push(format!("server lost {}", exc.is_some()));
    }
}

/// Collects what it receives; completes `done` when the connection is lost.
#[derive(Default)]
struct Collect {
    log: Log,
    data: Vec<u8>,
    eof: bool,
    lost: Option<Option<String>>,
    transport: Option<Transport>,
    keep_open_on_eof: bool,
    paused: u32,
    resumed: u32,
}

impl Protocol for Collect {
    fn connection_made(&mut self, transport: &Transport) {
        self.log.push("made");
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if self.data.is_empty() {
            self.log.push("data");
        }
        self.data.extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        self.log.push("eof");
        self.eof = true;
        self.keep_open_on_eof
    }
    fn connection_lost(&mut self, exc: Option<Error>) {
        self.log.push("lost");
        self.lost = Some(exc.map(|e| e.to_string()));
    }
    fn pause_writing(&mut self) {
        self.paused += 1;
    }
    fn resume_writing(&mut self) {
        self.resumed += 1;
    }
}

impl std::fmt::Debug for Collect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collect")
    }
}

impl std::fmt::Debug for Echo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Echo")
    }
}

async fn echo_server(lp: &EventLoop, log: &Log) -> Result<sandloop::Server> {
    echo_server_with(lp, log, ServerOptions::default()).await
}

async fn echo_server_with(
    lp: &EventLoop,
    log: &Log,
    opts: ServerOptions,
) -> Result<sandloop::Server> {
    let log = log.clone();
    lp.create_server(move || Echo::new(&log), "127.0.0.1", 0, opts)
        .await
}

/// Options of a server that does not serve until `start_serving`.
fn not_serving() -> ServerOptions {
    ServerOptions {
        start_serving: false,
        ..Default::default()
    }
}

async fn connect_collect(lp: &EventLoop, port: u16) -> Result<(Transport, Rc<RefCell<Collect>>)> {
    lp.create_connection(
        Collect::default,
        "127.0.0.1",
        port,
        ConnectOptions::default(),
    )
    .await
}

/// Serves the protocols `factory` makes on a free port, connects a [`Collect`] client, and
/// waits until the connection is lost: what the server sent and how it ended.
async fn collect_from<P: Protocol + 'static>(
    factory: impl FnMut() -> P + 'static,
) -> Result<Rc<RefCell<Collect>>> {
    let lp = get_running_loop()?;
    let server = lp
        .create_server(factory, "127.0.0.1", 0, ServerOptions::default())
        .await?;
    let (_t, p) = connect_collect(&lp, server.port()?).await?;
    until(20, || p.borrow().lost.is_some()).await?;
    Ok(p)
}

// ---- create_connection ---------------------------------------------------------------------

fn create_connection_echo_round_trip() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (t, p) = connect_collect(&lp, server.port()?).await?;
        t.write(b"hello ");
        t.writelines([&b"wor"[..], b"ld"]);
        until(5, || p.borrow().data.len() == 11).await?;
        assert_eq!(p.borrow().data, b"hello world");
        t.close();
        until(5, || p.borrow().lost.is_some()).await?;
        until(5, || log.get().contains(&"server lost false".to_string())).await?;
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn protocol_callbacks_come_in_order() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let accept = lp.create_task({
            let lp = lp.clone();
            async move {
                let (conn, _) = lp.sock_accept(&srv).await?;
                lp.sock_sendall(&conn, b"hi").await?;
                conn.shutdown(net::Shutdown::Write)?;
                sleep(Duration::from_millis(50)).await?;
                Ok::<_, Error>(())
            }
        });
        let (_t, p) = connect_collect(&lp, addr.port()).await?;
        until(5, || p.borrow().lost.is_some()).await?;
        accept.await?;
        let p = p.borrow();
        assert_eq!(p.log.get(), ["made", "data", "eof", "lost"]);
        assert_eq!(p.data, b"hi");
        assert_eq!(p.lost, Some(None));
        Ok::<_, Error>(())
    })
}

fn create_connection_refused() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port = closed_port()?;
        let err = connect_collect(&lp, port).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn create_connection_all_errors_is_a_group() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port = closed_port()?;
        let opts = ConnectOptions {
            all_errors: true,
            ..Default::default()
        };
        let err = lp
            .create_connection(Collect::default, "127.0.0.1", port, opts)
            .await
            .unwrap_err();
        match err {
            Error::Group(errors) => {
                assert_eq!(errors.len(), 1);
                assert_eq!(errors[0].kind(), io::ErrorKind::ConnectionRefused);
            }
            other => panic!("expected a group, got {other}"),
        }
        Ok::<_, Error>(())
    })
}

fn create_connection_local_addr() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        // A free local port, then connect from it.
        let local_port = closed_port()?;
        let opts = ConnectOptions {
            local_addr: Some(localhost(local_port).into()),
            ..Default::default()
        };
        let (t, _p) = lp
            .create_connection(Collect::default, "127.0.0.1", server.port()?, opts)
            .await?;
        assert_eq!(t.sockname(), Some(Address::Inet(localhost(local_port))));
        t.close();
        Ok::<_, Error>(())
    })
}

/// The API's short paths: `Socket::bind` of a string, `Server::port`/`local_addr`,
/// `ConnectOptions::local_addr` parsed from a string, the typed protocol of a transport,
/// `ExtraInfo` equality.
fn short_paths_for_addresses_ports_and_protocols() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let port = server.port()?;
        assert_eq!(server.local_addr()?, Address::Inet(localhost(port)));
        assert_eq!(server.local_addr()?.port(), Some(port));

        let sock = Socket::new(Family::Inet, SocketType::Stream)?;
        sock.bind("127.0.0.1:0")?;
        let bound = sock.local_addr()?;
        assert_ne!(bound.port(), Some(0));
        sock.close();
        let bad = Socket::new(Family::Inet, SocketType::Stream)?;
        let err = bad.bind("localhost:0").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert!(err.to_string().contains("not a name"), "{err}");
        let err = bad.bind("127.0.0.1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        bad.close();

        let local_port = closed_port()?;
        let opts = ConnectOptions {
            local_addr: Some(format!("127.0.0.1:{local_port}").parse()?),
            ..Default::default()
        };
        let (t, _p) = lp
            .create_connection(Collect::default, "127.0.0.1", port, opts)
            .await?;
        assert_eq!(t.sockname(), Some(Address::Inet(localhost(local_port))));
        // A name as local_addr is resolved; the attempt binds to its address of the
        // attempt's family (localhost may also resolve to ::1).
        let by_name = ConnectOptions {
            local_addr: Some(("localhost", 0).into()),
            ..Default::default()
        };
        let (named, _) = lp
            .create_connection(Collect::default, "127.0.0.1", port, by_name)
            .await?;
        let sockname = named
            .sockname()
            .and_then(|a| a.as_inet())
            .expect("an IP address");
        assert_eq!(sockname.ip(), localhost(0).ip());
        named.close();
        t.write(b"typed");
        until(5, || {
            t.with_protocol(|c: &mut Collect| c.data.len()) == Some(5)
        })
        .await?;
        assert_eq!(
            t.with_protocol(|c: &mut Collect| c.data.clone()),
            Some(b"typed".to_vec())
        );
        assert_eq!(t.with_protocol(|_: &mut Echo| ()), None, "not an Echo");

        let peer = t.get_extra_info("peername");
        assert_eq!(
            peer,
            Some(sandloop::ExtraInfo::Address(Address::Inet(localhost(port))))
        );
        assert_eq!(t.get_extra_info("socket"), t.get_extra_info("socket"));
        assert_ne!(t.get_extra_info("socket"), peer);
        t.close();
        server.close();
        server.wait_closed().await;
        let err = server.port().unwrap_err();
        assert!(matches!(err, Error::InvalidState(_)), "{err:#?}");
        Ok::<_, Error>(())
    })
}

fn create_connection_with_a_connected_sock() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let sock = Socket::new(Family::Inet, SocketType::Stream)?;
        lp.sock_connect(&sock, localhost(server.port()?)).await?;
        let opts = ConnectOptions {
            sock: Some(sock.clone()),
            ..Default::default()
        };
        let (t, p) = lp.create_connection(Collect::default, "", 0, opts).await?;
        // The transport took the socket over.
        assert!(sock.is_closed());
        t.write(b"via sock");
        until(5, || p.borrow().data == b"via sock").await?;
        // Host and sock together is an error.
        let opts = ConnectOptions {
            sock: Some(Socket::new(Family::Inet, SocketType::Stream)?),
            ..Default::default()
        };
        let err = lp
            .create_connection(Collect::default, "127.0.0.1", 1, opts)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        t.close();
        Ok::<_, Error>(())
    })
}

fn connect_accepted_socket_serves_a_socket() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let client = Socket::new(Family::Inet, SocketType::Stream)?;
        lp.sock_connect(&client, addr).await?;
        let (conn, _) = lp.sock_accept(&srv).await?;
        let log = Log::new();
        let (_t, _p) = lp
            .connect_accepted_socket(|| Echo::new(&log), conn, Default::default())
            .await?;
        lp.sock_sendall(&client, b"ping").await?;
        assert_eq!(lp.sock_recv(&client, 100).await?, b"ping");
        Ok::<_, Error>(())
    })
}

fn extra_info_names_both_ends() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let port = server.port()?;
        let (t, _p) = connect_collect(&lp, port).await?;
        assert_eq!(t.peername(), Some(Address::Inet(localhost(port))));
        match t.get_extra_info("peername") {
            Some(sandloop::ExtraInfo::Address(a)) => assert_eq!(inet(&a), localhost(port)),
            other => panic!("peername: {other:?}"),
        }
        match t.get_extra_info("sockname") {
            Some(sandloop::ExtraInfo::Address(a)) => assert_eq!(inet(&a).ip(), localhost(0).ip()),
            other => panic!("sockname: {other:?}"),
        }
        match t.get_extra_info("socket") {
            Some(sandloop::ExtraInfo::Socket(s)) => {
                assert_eq!(inet(&s.peer_addr()?), localhost(port))
            }
            other => panic!("socket: {other:?}"),
        }
        assert!(t.get_extra_info("no such thing").is_none());
        t.close();
        Ok::<_, Error>(())
    })
}

fn tcp_nodelay_is_on_by_default() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (t, _p) = connect_collect(&lp, server.port()?).await?;
        let Some(sandloop::ExtraInfo::Socket(s)) = t.get_extra_info("socket") else {
            panic!("no socket");
        };
        assert_eq!(s.get_option(SockOptName::NoDelay)?, SockOpt::NoDelay(true));
        t.close();
        Ok::<_, Error>(())
    })
}

// ---- Servers ----------------------------------------------------------------------------------

fn server_close_keeps_clients_until_close_clients() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let port = server.port()?;
        assert!(server.is_serving());
        let (t, p) = connect_collect(&lp, port).await?;
        until(5, || log.get().contains(&"server made".to_string())).await?;
        server.close();
        assert!(!server.is_serving());
        assert!(server.sockets().is_empty());
        // The accepted connection still works.
        t.write(b"still here");
        until(5, || p.borrow().data == b"still here").await?;
        // New connections are refused.
        let err = connect_collect(&lp, port).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        let closed = Rc::new(Cell::new(false));
        let waiter = lp.create_task({
            let (server, closed) = (server.clone(), closed.clone());
            async move {
                server.wait_closed().await;
                closed.set(true);
            }
        });
        sleep(Duration::from_millis(20)).await?;
        assert!(
            !closed.get(),
            "wait_closed returned while a client is connected"
        );
        server.close_clients();
        until(5, || p.borrow().eof).await?;
        waiter.await?;
        assert!(closed.get());
        Ok::<_, Error>(())
    })
}

fn server_abort_clients() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (_t, p) = connect_collect(&lp, server.port()?).await?;
        until(5, || log.get().contains(&"server made".to_string())).await?;
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        until(5, || p.borrow().lost.is_some()).await?;
        assert!(log.get().contains(&"server lost false".to_string()));
        Ok::<_, Error>(())
    })
}

fn server_start_serving_later() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let server = echo_server_with(&lp, &Log::new(), not_serving()).await?;
        assert!(!server.is_serving());
        server.start_serving().await?;
        assert!(server.is_serving());
        let (t, p) = connect_collect(&lp, server.port()?).await?;
        t.write(b"x");
        until(5, || p.borrow().data == b"x").await?;
        t.close();
        server.close();
        Ok::<_, Error>(())
    })
}

/// asyncio binds in `create_server` but listens only when serving starts: a connect
/// before that is refused, not queued for later.
fn a_server_not_yet_serving_refuses_connections() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let server = echo_server_with(&lp, &Log::new(), not_serving()).await?;
        let port = server.port()?;

        let early = connect_collect(&lp, port).await.err();
        server.start_serving().await?;
        let (t, p) = connect_collect(&lp, port).await?;

        let early = early.expect("a connect before start_serving is refused");
        assert_eq!(early.kind(), io::ErrorKind::ConnectionRefused, "{early}");
        t.write(b"served");
        until(5, || p.borrow().data == b"served").await?;
        t.close();
        server.close();
        Ok::<_, Error>(())
    })
}

fn server_scope_closes_and_waits() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let port = server.port()?;
        let echoed = server
            .clone()
            .scope(|_server| async {
                let (t, p) = connect_collect(&lp, port).await?;
                t.write(b"inside");
                until(5, || p.borrow().data == b"inside").await?;
                t.close();
                Ok::<_, Error>(p.borrow().data.clone())
            })
            .await?;
        assert_eq!(echoed, b"inside");
        assert!(!server.is_serving());
        assert!(server.sockets().is_empty());
        Ok::<_, Error>(())
    })
}

fn serve_forever_ends_when_closed() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let task = lp.create_task({
            let server = server.clone();
            async move { server.serve_forever().await }
        });
        sleep(Duration::from_millis(10)).await?;
        // A second serve_forever is an error while the first runs.
        assert!(matches!(
            server.serve_forever().await,
            Err(Error::Runtime(_))
        ));
        server.close();
        let err = task.await.unwrap_err();
        assert!(err.is_cancelled(), "{err}");
        Ok::<_, Error>(())
    })
}

fn server_on_many_hosts() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let l = log.clone();
        let server = lp
            .create_server(
                move || Echo::new(&l),
                Hosts::Many(vec!["127.0.0.1".into(), "::1".into()]),
                0,
                ServerOptions::default(),
            )
            .await?;
        let addrs: Vec<SocketAddr> = server
            .sockets()
            .iter()
            .map(|s| inet(&s.local_addr().unwrap()))
            .collect();
        assert_eq!(addrs.len(), 2);
        assert!(addrs.iter().any(|a| a.is_ipv4()) && addrs.iter().any(|a| a.is_ipv6()));
        for addr in addrs {
            let (t, p) = lp
                .create_connection(
                    Collect::default,
                    &addr.ip().to_string(),
                    addr.port(),
                    ConnectOptions::default(),
                )
                .await?;
            t.write(b"both");
            until(5, || p.borrow().data == b"both").await?;
            t.close();
        }
        server.close();
        Ok::<_, Error>(())
    })
}

fn server_reuse_port_shares_the_port() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let opts = || ServerOptions {
            reuse_port: true,
            ..Default::default()
        };
        let l = log.clone();
        let first = lp
            .create_server(move || Echo::new(&l), "127.0.0.1", 0, opts())
            .await?;
        let port = first.port()?;
        let l = log.clone();
        let second = lp
            .create_server(move || Echo::new(&l), "127.0.0.1", port, opts())
            .await?;
        assert_eq!(second.port()?, port);
        // Without reuse_port the port is taken.
        let l = log.clone();
        let err = lp
            .create_server(
                move || Echo::new(&l),
                "127.0.0.1",
                port,
                ServerOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        first.close();
        second.close();
        Ok::<_, Error>(())
    })
}

// ---- Transports ------------------------------------------------------------------------------

/// Writes `total` bytes of a pattern on connection, then closes (or aborts).
struct Sender {
    total: usize,
    abort: bool,
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

impl Protocol for Sender {
    fn connection_made(&mut self, transport: &Transport) {
        transport.write(&pattern(self.total));
        if self.abort {
            transport.abort();
        } else {
            transport.close();
        }
    }
}

fn close_delivers_every_buffered_byte() -> Result<()> {
    run(async {
        let total = 4 << 20;
        let p = collect_from(move || Sender {
            total,
            abort: false,
        })
        .await?;
        let p = p.borrow();
        assert_eq!(p.data.len(), total, "lost: {:?}, eof: {}", p.lost, p.eof);
        assert!(p.data == pattern(total), "the bytes differ");
        assert!(p.eof);
        Ok::<_, Error>(())
    })
}

fn abort_discards_what_is_buffered() -> Result<()> {
    run(async {
        let total = 32 << 20;
        let p = collect_from(move || Sender { total, abort: true }).await?;
        // What the kernel took before the abort may arrive; the rest never does.
        assert!(p.borrow().data.len() < total);
        Ok::<_, Error>(())
    })
}

/// Writes `total` bytes of the pattern in chunks of mixed sizes, then closes: small writes
/// wait in the transport's queue for the loop's next wait, large ones go at once, and the
/// bytes must still arrive in order.
struct ChunkedSender {
    total: usize,
}

impl Protocol for ChunkedSender {
    fn connection_made(&mut self, transport: &Transport) {
        let data = pattern(self.total);
        let sizes = [1, 7, 100, 5000, 3, 20_000, 64, 4096, 4095];
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at == data.len() {
                break;
            }
            let end = (at + size).min(data.len());
            transport.write(&data[at..end]);
            at = end;
        }
        transport.close();
    }
}

fn mixed_writes_arrive_in_order() -> Result<()> {
    run(async {
        let total = 1 << 20;
        let p = collect_from(move || ChunkedSender { total }).await?;
        let p = p.borrow();
        assert_eq!(p.data.len(), total, "lost: {:?}", p.lost);
        assert!(p.data == pattern(total), "the bytes differ");
        Ok::<_, Error>(())
    })
}

fn abort_after_a_small_write_still_sends_it() -> Result<()> {
    // asyncio's write sends at once what the kernel takes, so an abort right after a small
    // write does not take it back; a write queued for the loop's next wait must not either.
    run(async {
        let p = collect_from(|| Sender {
            total: 100,
            abort: true,
        })
        .await?;
        let p = p.borrow();
        assert!(p.data == pattern(100), "{:?} lost {:?}", p.data, p.lost);
        Ok::<_, Error>(())
    })
}

/// Answers "bye" to EOF and keeps the connection open to do so.
struct HalfClose {
    transport: Option<Transport>,
    got: Vec<u8>,
}

impl Protocol for HalfClose {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        self.got.extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        let t = self.transport.as_ref().unwrap();
        t.write(&[b"got ", &self.got[..], b", bye"].concat());
        t.close();
        true
    }
}

fn eof_and_half_close() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let server = lp
            .create_server(
                || HalfClose {
                    transport: None,
                    got: Vec::new(),
                },
                "127.0.0.1",
                0,
                ServerOptions::default(),
            )
            .await?;
        let (t, p) = lp
            .create_connection(
                || Collect {
                    keep_open_on_eof: false,
                    ..Default::default()
                },
                "127.0.0.1",
                server.port()?,
                ConnectOptions::default(),
            )
            .await?;
        assert!(t.can_write_eof());
        t.write(b"question");
        t.write_eof();
        until(5, || p.borrow().lost.is_some()).await?;
        assert_eq!(p.borrow().data, b"got question, bye");
        assert!(p.borrow().eof);
        Ok::<_, Error>(())
    })
}

fn pause_and_resume_reading() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (t, p) = connect_collect(&lp, server.port()?).await?;
        assert!(t.is_reading());
        t.pause_reading();
        assert!(!t.is_reading());
        t.write(b"held back");
        sleep(Duration::from_millis(50)).await?;
        assert!(p.borrow().data.is_empty(), "data arrived while paused");
        t.resume_reading();
        assert!(t.is_reading());
        until(5, || p.borrow().data == b"held back").await?;
        t.close();
        assert!(!t.is_reading());
        Ok::<_, Error>(())
    })
}

fn pause_writing_against_a_slow_reader() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let (t, p) = connect_collect(&lp, addr.port()).await?;
        let (peer, _) = lp.sock_accept(&srv).await?;
        t.set_write_buffer_limits(Some(64 * 1024), None)?;
        assert_eq!(t.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
        // Nobody reads: the kernel buffers fill, then the host's, then the protocol pauses.
        let chunk = vec![7u8; 256 * 1024];
        for _ in 0..64 {
            t.write(&chunk);
            sleep(Duration::ZERO).await?;
            if p.borrow().paused > 0 {
                break;
            }
        }
        assert_eq!(p.borrow().paused, 1, "pause_writing was not called");
        assert!(t.get_write_buffer_size() > 64 * 1024);
        assert_eq!(p.borrow().resumed, 0);
        // The reader drains: the buffer falls under the low-water mark and writing resumes.
        let mut drained = 0usize;
        while p.borrow().resumed == 0 {
            drained += lp.sock_recv(&peer, 1 << 20).await?.len();
        }
        assert!(drained > 0);
        assert!(t.get_write_buffer_size() <= 16 * 1024);
        t.abort();
        Ok::<_, Error>(())
    })
}

fn write_buffer_limits() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (t, _p) = connect_collect(&lp, server.port()?).await?;
        assert_eq!(t.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
        t.set_write_buffer_limits(None, Some(1000))?;
        assert_eq!(t.get_write_buffer_limits(), (1000, 4000));
        t.set_write_buffer_limits(Some(10), Some(5))?;
        assert_eq!(t.get_write_buffer_limits(), (5, 10));
        assert!(t.set_write_buffer_limits(Some(5), Some(10)).is_err());
        assert_eq!(t.get_write_buffer_size(), 0);
        t.close();
        Ok::<_, Error>(())
    })
}

/// Echoes and checksums: counts bytes in both directions.
fn ten_mib_both_directions() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let server = echo_server(&lp, &log).await?;
        let (t, p) = connect_collect(&lp, server.port()?).await?;
        let total = 10 << 20;
        let data = pattern(total);
        // Respect flow control: write while the buffer is under the high-water mark.
        let mut sent = 0;
        while sent < total {
            if t.get_write_buffer_size() < 1 << 20 {
                let end = (sent + (256 << 10)).min(total);
                t.write(&data[sent..end]);
                sent = end;
            }
            sleep(Duration::ZERO).await?;
        }
        until(30, || p.borrow().data.len() >= total).await?;
        assert!(p.borrow().data == data, "the echoed bytes differ");
        t.close();
        Ok::<_, Error>(())
    })
}

fn thousand_concurrent_connections() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let l = log.clone();
        let opts = ServerOptions {
            backlog: 1024,
            ..Default::default()
        };
        let server = lp
            .create_server(move || Echo::new(&l), "127.0.0.1", 0, opts)
            .await?;
        let port = server.port()?;
        let mut tasks = Vec::new();
        for i in 0..1000u32 {
            let lp2 = lp.clone();
            tasks.push(lp.create_task(async move {
                let (t, p) = connect_collect(&lp2, port).await?;
                let msg = format!("message {i}");
                t.write(msg.as_bytes());
                until(30, || p.borrow().data.len() == msg.len()).await?;
                assert_eq!(p.borrow().data, msg.as_bytes());
                t.close();
                Ok::<_, Error>(())
            }));
        }
        for task in tasks {
            task.await?;
        }
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

/// Receives into a small fixed buffer.
struct Small {
    buf: [u8; 7],
    got: Rc<RefCell<Vec<u8>>>,
    updates: Rc<Cell<u32>>,
}

impl BufferedProtocol for Small {
    fn get_buffer(&mut self, _size_hint: usize) -> &mut [u8] {
        &mut self.buf
    }
    fn buffer_updated(&mut self, nbytes: usize) {
        self.got.borrow_mut().extend_from_slice(&self.buf[..nbytes]);
        self.updates.set(self.updates.get() + 1);
    }
}

fn buffered_protocol_receives_into_its_buffer() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let got = Rc::new(RefCell::new(Vec::new()));
        let updates = Rc::new(Cell::new(0));
        let (g, u) = (got.clone(), updates.clone());
        let (_t, _p) = lp
            .create_connection(
                move || Small {
                    buf: [0; 7],
                    got: g,
                    updates: u,
                },
                "127.0.0.1",
                addr.port(),
                ConnectOptions::default(),
            )
            .await?;
        let (peer, _) = lp.sock_accept(&srv).await?;
        lp.sock_sendall(&peer, b"twenty bytes of data").await?;
        until(5, || got.borrow().len() == 20).await?;
        assert_eq!(&*got.borrow(), b"twenty bytes of data");
        assert!(
            updates.get() >= 3,
            "a 7-byte buffer takes 20 bytes in 3 updates or more"
        );
        Ok::<_, Error>(())
    })
}

fn write_after_close_is_ignored() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (srv, addr) = listener()?;
        let (t, p) = connect_collect(&lp, addr.port()).await?;
        let (peer, _) = lp.sock_accept(&srv).await?;
        t.write(b"before");
        t.close();
        assert!(t.is_closing());
        t.write(b"after");
        until(5, || p.borrow().lost.is_some()).await?;
        let mut got = Vec::new();
        loop {
            let chunk = lp.sock_recv(&peer, 1024).await?;
            if chunk.is_empty() {
                break;
            }
            got.extend(chunk);
        }
        assert_eq!(got, b"before");
        Ok::<_, Error>(())
    })
}

/// Listening on an unbound socket binds the wildcard address, which the loopback policy
/// of the tests does not grant.
fn listen_without_bind_is_denied_on_loopback_policy() -> Result<()> {
    let sock = Socket::new(Family::Inet, SocketType::Stream)?;
    let err = sock.listen(10).unwrap_err();
    match &err {
        Error::PermissionDenied(msg) => assert!(msg.contains("listen on 0.0.0.0:0"), "{msg}"),
        other => panic!("expected a denial, got {other}"),
    }
    Ok(())
}

/// Checks SO_KEEPALIVE on the accepted connection.
struct KeepAliveProbe {
    seen: Rc<Cell<Option<bool>>>,
}

impl Protocol for KeepAliveProbe {
    fn connection_made(&mut self, transport: &Transport) {
        if let Some(sandloop::ExtraInfo::Socket(s)) = transport.get_extra_info("socket") {
            let on = s.get_option(SockOptName::KeepAlive).unwrap() == SockOpt::KeepAlive(true);
            self.seen.set(Some(on));
        }
    }
}

fn server_keep_alive_sets_so_keepalive() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        for keep_alive in [true, false] {
            let seen = Rc::new(Cell::new(None));
            let s = seen.clone();
            let opts = ServerOptions {
                keep_alive,
                ..Default::default()
            };
            let server = lp
                .create_server(
                    move || KeepAliveProbe { seen: s.clone() },
                    "127.0.0.1",
                    0,
                    opts,
                )
                .await?;
            let (t, _p) = connect_collect(&lp, server.port()?).await?;
            until(5, || seen.get().is_some()).await?;
            assert_eq!(seen.get(), Some(keep_alive));
            t.close();
            server.close();
        }
        Ok::<_, Error>(())
    })
}

/// Plain WASI polling cannot watch the host's sockets: a clear error, not a hang.
fn portable_selector_cannot_watch_host_sockets() -> Result<()> {
    let lp = sandloop::SelectorEventLoop::new(sandloop::WasiPollSelector::new());
    let (a, _b) = net::socketpair()?;
    let err = lp.add_reader(&a, || {}).unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err}");
    lp.close()
}

// ---- Checked by the host: policies and name overrides ------------------------------------

/// Run with a policy that grants nothing: every bind and connect is refused.
fn listen_is_denied() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let err = lp
            .create_server(
                Collect::default,
                "127.0.0.1",
                8080,
                ServerOptions::default(),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
        println!("{err}");
        let sock = Socket::new(Family::Inet6, SocketType::Stream)?;
        let err = sock
            .bind("[::1]:0".parse::<SocketAddr>().unwrap())
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
        println!("{err}");
        Ok::<_, Error>(())
    })
}

fn connect_is_denied() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let err = lp
            .create_connection(Collect::default, "127.0.0.1", 9, ConnectOptions::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
        println!("{err}");
        let sock = Socket::new(Family::Inet, SocketType::Stream)?;
        let err = lp
            .sock_connect(&sock, "10.1.2.3:80".parse::<SocketAddr>().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err}");
        println!("{err}");
        Ok::<_, Error>(())
    })
}

/// `multi.test` resolves (by the host's override) to a first address that never answers and a
/// second that listens: argv[2] is the silent one, argv[3] the listening one's port.
fn happy_eyeballs_staggers_to_the_next_address() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port: u16 = std::env::args().nth(2).unwrap().parse().unwrap();
        let started = lp.time();
        let opts = ConnectOptions {
            happy_eyeballs_delay: Some(Duration::from_millis(200)),
            interleave: Some(1),
            ..Default::default()
        };
        let (t, _p) = lp
            .create_connection(Collect::default, "multi.test", port, opts)
            .await?;
        let took = lp.time() - started;
        println!("connected to {}", t.peername().unwrap());
        println!("staggered {}", took >= 0.19);
        t.abort();
        Ok::<_, Error>(())
    })
}

/// `dead.test` resolves to two addresses where nothing listens.
fn all_errors_over_several_addresses() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port: u16 = std::env::args().nth(2).unwrap().parse().unwrap();
        let opts = ConnectOptions {
            all_errors: true,
            ..Default::default()
        };
        match lp
            .create_connection(Collect::default, "dead.test", port, opts)
            .await
        {
            Err(Error::Group(errors)) => {
                for e in &errors {
                    println!("{:?}", e.kind());
                }
            }
            other => panic!("expected a group: {:?}", other.map(|_| ())),
        }
        let err = lp
            .create_connection(
                Collect::default,
                "dead.test",
                port,
                ConnectOptions::default(),
            )
            .await
            .unwrap_err();
        println!("{:?}", err.kind());
        Ok::<_, Error>(())
    })
}

/// Run with a policy that allows listening anywhere.
fn server_on_all_interfaces() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let l = log.clone();
        let server = lp
            .create_server(
                move || Echo::new(&l),
                Hosts::All,
                0,
                ServerOptions::default(),
            )
            .await?;
        let mut addrs: Vec<String> = server
            .sockets()
            .iter()
            .map(|s| inet(&s.local_addr().unwrap()).ip().to_string())
            .collect();
        addrs.sort();
        println!("{}", addrs.join(" "));
        server.close();
        Ok::<_, Error>(())
    })
}
