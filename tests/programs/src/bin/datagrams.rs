//! Datagrams, after CPython's test_events.py (`test_create_datagram_endpoint*`,
//! `test_datagram_*`) and test_sock_lowlevel.py (`sock_recvfrom`, `sock_sendto`):
//! endpoints, `DatagramTransport`, `DatagramProtocol` and the `sock_*` datagram calls,
//! on loopback under the real host.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use sandloop::net::{Address, Family, HostPort, SockOpt, SockOptName, Socket, SocketType};
use sandloop::{
    DatagramExtraInfo, DatagramOptions, DatagramProtocol, DatagramTransport, Error, EventLoop,
    Result, get_running_loop, run, sleep,
};
use test_programs::{cases, until};

cases!(
    round_trip_through_an_echo_endpoint,
    datagrams_of_64_kib_arrive_byte_exact,
    empty_datagram_arrives_empty,
    connected_endpoint_refuses_other_addresses,
    unconnected_endpoint_sends_anywhere_it_is_told,
    many_datagrams_keep_their_order,
    error_received_on_icmp_port_unreachable,
    allow_broadcast_sets_so_broadcast,
    reuse_address_is_refused,
    reuse_port_shares_the_address,
    sock_argument_is_used_as_is,
    local_addr_port_zero_gets_a_port,
    ipv6_round_trip,
    close_sends_queued_datagrams_then_reports_lost,
    abort_reports_lost_and_sends_nothing_more,
    callbacks_come_in_order,
    no_address_needs_a_family,
    write_buffer_limits_are_checked,
    sock_recvfrom_and_sock_sendto,
    sock_recvfrom_into_fills_the_buffer,
    portable_selector_cannot_make_an_endpoint,
    loop_close_lets_go_of_open_endpoints,
    full_receiver_queues_datagrams_with_flow_control;
    checked:
    udp_bind_is_denied,
    udp_connect_is_denied,
    udp_send_to_is_denied,
);

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn inet(addr: &Address) -> SocketAddr {
    addr.as_inet().expect("an IP address")
}

fn local(host: &str, port: u16) -> Option<HostPort> {
    Some((host, port).into())
}

/// A protocol that records every callback; echoes what it receives when `echo` is set.
#[derive(Default)]
struct Probe {
    echo: bool,
    transport: Option<DatagramTransport>,
    events: Vec<&'static str>,
    datagrams: Vec<(Vec<u8>, Address)>,
    errors: Vec<Error>,
    lost: Vec<Option<Error>>,
}

impl Probe {
    fn echo() -> Probe {
        Probe {
            echo: true,
            ..Probe::default()
        }
    }
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Probe")
    }
}

impl DatagramProtocol for Probe {
    fn connection_made(&mut self, transport: &DatagramTransport) {
        self.events.push("made");
        self.transport = Some(transport.clone());
    }

    fn datagram_received(&mut self, data: &[u8], addr: &Address) {
        self.events.push("datagram");
        self.datagrams.push((data.to_vec(), addr.clone()));
        if self.echo
            && let Some(t) = &self.transport
        {
            t.sendto(data, Some(addr.clone())).expect("echo");
        }
    }

    fn error_received(&mut self, exc: Error) {
        self.events.push("error");
        self.errors.push(exc);
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        self.events.push("lost");
        self.lost.push(exc);
    }
}

type Shared = Rc<RefCell<Probe>>;

async fn endpoint(lp: &EventLoop, opts: DatagramOptions) -> Result<(DatagramTransport, Shared)> {
    lp.create_datagram_endpoint(Probe::default, opts).await
}

/// An endpoint bound to a free port of 127.0.0.1, and that address.
async fn bound(lp: &EventLoop, echo: bool) -> Result<(DatagramTransport, Shared, SocketAddr)> {
    let (t, p) = lp
        .create_datagram_endpoint(
            move || {
                if echo {
                    Probe::echo()
                } else {
                    Probe::default()
                }
            },
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                ..Default::default()
            },
        )
        .await?;
    let addr = inet(&t.sockname().expect("a bound endpoint has a sockname"));
    Ok((t, p, addr))
}

/// A UDP port of 127.0.0.1 with nothing bound to it.
fn closed_port() -> Result<u16> {
    let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
    sock.bind(localhost(0))?;
    let port = inet(&sock.local_addr()?).port();
    sock.close();
    Ok(port)
}

async fn close_and_wait(t: &DatagramTransport, p: &Shared) -> Result<()> {
    t.close();
    until(5, || !p.borrow().lost.is_empty()).await
}

// ---- Endpoints and transports -----------------------------------------------------------

fn round_trip_through_an_echo_endpoint() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", server_addr.port()),
                ..Default::default()
            },
        )
        .await?;
        let client_addr = inet(&client.sockname().unwrap());
        assert_eq!(client.peername(), Some(Address::Inet(server_addr)));
        assert!(server.peername().is_none());

        client.sendto(b"hello", None)?;
        until(5, || !cp.borrow().datagrams.is_empty()).await?;

        assert_eq!(
            cp.borrow().datagrams,
            [(b"hello".to_vec(), Address::Inet(server_addr))]
        );
        assert_eq!(
            sp.borrow().datagrams,
            [(b"hello".to_vec(), Address::Inet(client_addr))]
        );
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        assert!(matches!(cp.borrow().lost[..], [None]));
        assert!(matches!(sp.borrow().lost[..], [None]));
        assert!(client.is_closing());
        Ok::<_, Error>(())
    })
}

fn datagrams_of_64_kib_arrive_byte_exact() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let (client, cp, _) = bound(&lp, false).await?;
        // The largest UDP payload over IPv4: 65535 - 20 (IP header) - 8 (UDP header).
        let big: Vec<u8> = (0..65507u32).map(|i| (i * 7 % 251) as u8).collect();

        client.sendto(&big, Some(Address::Inet(server_addr)))?;
        until(5, || !cp.borrow().datagrams.is_empty()).await?;

        let echoed = cp.borrow().datagrams[0].0.clone();
        assert_eq!(echoed.len(), 65507);
        assert!(echoed == big, "the 64 KiB datagram came back altered");
        assert!(sp.borrow().errors.is_empty() && cp.borrow().errors.is_empty());
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn empty_datagram_arrives_empty() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let (client, cp, client_addr) = bound(&lp, false).await?;

        client.sendto(b"", Some(Address::Inet(server_addr)))?;
        until(5, || !cp.borrow().datagrams.is_empty()).await?;

        assert_eq!(
            sp.borrow().datagrams,
            [(Vec::new(), Address::Inet(client_addr))]
        );
        assert_eq!(
            cp.borrow().datagrams,
            [(Vec::new(), Address::Inet(server_addr))]
        );
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn connected_endpoint_refuses_other_addresses() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, false).await?;
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", server_addr.port()),
                ..Default::default()
            },
        )
        .await?;

        let other = client
            .sendto(b"x", Some(Address::Inet(localhost(9))))
            .unwrap_err();
        client.sendto(b"1", Some(Address::Inet(server_addr)))?;
        client.sendto(b"2", None)?;
        until(5, || sp.borrow().datagrams.len() == 2).await?;

        assert_eq!(other.kind(), io::ErrorKind::InvalidInput);
        assert!(other.to_string().contains("Invalid address"), "{other}");
        let got: Vec<Vec<u8>> = sp.borrow().datagrams.iter().map(|d| d.0.clone()).collect();
        assert_eq!(got, [b"1".to_vec(), b"2".to_vec()]);
        // An unconnected endpoint needs an address.
        let none = server.sendto(b"x", None).unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::InvalidInput);
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn unconnected_endpoint_sends_anywhere_it_is_told() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (a, ap, a_addr) = bound(&lp, false).await?;
        let (b, bp, b_addr) = bound(&lp, false).await?;
        let (sender, spr, sender_addr) = bound(&lp, false).await?;

        sender.sendto(b"to a", Some(Address::Inet(a_addr)))?;
        sender.sendto(b"to b", Some(Address::Inet(b_addr)))?;
        until(5, || {
            !ap.borrow().datagrams.is_empty() && !bp.borrow().datagrams.is_empty()
        })
        .await?;

        assert_eq!(
            ap.borrow().datagrams,
            [(b"to a".to_vec(), Address::Inet(sender_addr))]
        );
        assert_eq!(
            bp.borrow().datagrams,
            [(b"to b".to_vec(), Address::Inet(sender_addr))]
        );
        for (t, p) in [(&a, &ap), (&b, &bp), (&sender, &spr)] {
            close_and_wait(t, p).await?;
        }
        Ok::<_, Error>(())
    })
}

fn many_datagrams_keep_their_order() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, false).await?;
        // Room for every datagram in the receiver's queue: none is dropped.
        if let Some(DatagramExtraInfo::Socket(s)) = server.get_extra_info("socket") {
            s.set_option(SockOpt::RecvBufferSize(1 << 20))?;
        }
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", server_addr.port()),
                ..Default::default()
            },
        )
        .await?;
        const COUNT: u32 = 100;

        for i in 0..COUNT {
            client.sendto(format!("datagram {i}").as_bytes(), None)?;
        }
        until(5, || sp.borrow().datagrams.len() == COUNT as usize).await?;

        let got: Vec<String> = sp
            .borrow()
            .datagrams
            .iter()
            .map(|d| String::from_utf8(d.0.clone()).unwrap())
            .collect();
        let sent: Vec<String> = (0..COUNT).map(|i| format!("datagram {i}")).collect();
        assert_eq!(got, sent);
        assert_eq!(client.get_write_buffer_size(), 0);
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn error_received_on_icmp_port_unreachable() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let port = closed_port()?;
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", port),
                ..Default::default()
            },
        )
        .await?;

        client.sendto(b"anyone there?", None)?;
        until(5, || !cp.borrow().errors.is_empty()).await?;

        {
            let p = cp.borrow();
            assert_eq!(
                p.errors[0].kind(),
                io::ErrorKind::ConnectionRefused,
                "{}",
                p.errors[0]
            );
            assert!(
                p.errors[0].to_string().contains(&port.to_string()),
                "the error names the peer: {}",
                p.errors[0]
            );
        }
        // The endpoint goes on, as asyncio's does.
        assert!(!client.is_closing());
        assert!(cp.borrow().lost.is_empty());
        close_and_wait(&client, &cp).await?;
        assert_eq!(cp.borrow().events, ["made", "error", "lost"]);
        Ok::<_, Error>(())
    })
}

fn broadcast_option(t: &DatagramTransport) -> Result<SockOpt> {
    match t.get_extra_info("socket") {
        Some(DatagramExtraInfo::Socket(s)) => s.get_option(SockOptName::Broadcast),
        other => panic!("no socket: {other:?}"),
    }
}

fn allow_broadcast_sets_so_broadcast() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, false).await?;
        let (plain, pp) = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                ..Default::default()
            },
        )
        .await?;
        let (broadcast, bp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", server_addr.port()),
                allow_broadcast: true,
                ..Default::default()
            },
        )
        .await?;

        assert_eq!(broadcast_option(&plain)?, SockOpt::Broadcast(false));
        assert_eq!(broadcast_option(&broadcast)?, SockOpt::Broadcast(true));
        // With allow_broadcast the socket is not connected: remote_addr is the default
        // target only.
        assert!(broadcast.peername().is_none());
        broadcast.sendto(b"default target", None)?;
        until(5, || !sp.borrow().datagrams.is_empty()).await?;
        assert_eq!(sp.borrow().datagrams[0].0, b"default target");
        for (t, p) in [(&server, &sp), (&plain, &pp), (&broadcast, &bp)] {
            close_and_wait(t, p).await?;
        }
        Ok::<_, Error>(())
    })
}

fn reuse_address_is_refused() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let refused = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                reuse_address: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        assert!(refused.to_string().contains("reuse_address"), "{refused}");

        // `Some(false)` is accepted and changes nothing.
        let (t, p) = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                reuse_address: Some(false),
                ..Default::default()
            },
        )
        .await?;
        close_and_wait(&t, &p).await?;
        Ok::<_, Error>(())
    })
}

fn reuse_port_shares_the_address() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let opts = |port| DatagramOptions {
            local_addr: local("127.0.0.1", port),
            reuse_port: true,
            ..Default::default()
        };
        let (first, fp) = endpoint(&lp, opts(0)).await?;
        let port = inet(&first.sockname().unwrap()).port();

        let (second, sp) = endpoint(&lp, opts(port)).await?;
        let taken = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", port),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();

        assert_eq!(inet(&second.sockname().unwrap()).port(), port);
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse, "{taken}");
        let reuse = |t: &DatagramTransport| match t.get_extra_info("socket") {
            Some(DatagramExtraInfo::Socket(s)) => s.get_option(SockOptName::ReusePort).unwrap(),
            other => panic!("no socket: {other:?}"),
        };
        assert_eq!(reuse(&first), SockOpt::ReusePort(true));
        close_and_wait(&first, &fp).await?;
        close_and_wait(&second, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn sock_argument_is_used_as_is() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
        sock.bind(localhost(0))?;
        let sock_addr = inet(&sock.local_addr()?);

        let (t, p) = endpoint(
            &lp,
            DatagramOptions {
                sock: Some(sock.clone()),
                ..Default::default()
            },
        )
        .await?;
        t.sendto(b"via sock", Some(Address::Inet(server_addr)))?;
        until(5, || !p.borrow().datagrams.is_empty()).await?;

        assert_eq!(t.sockname(), Some(Address::Inet(sock_addr)));
        assert_eq!(p.borrow().datagrams[0].0, b"via sock");
        assert_eq!(
            sp.borrow().datagrams[0].1,
            Address::Inet(sock_addr),
            "the datagram left from the given socket"
        );

        // `sock` excludes the other options, and must be a datagram socket.
        let with_addr = endpoint(
            &lp,
            DatagramOptions {
                sock: Some(Socket::new(Family::Inet, SocketType::Datagram)?),
                local_addr: local("127.0.0.1", 0),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        let stream = endpoint(
            &lp,
            DatagramOptions {
                sock: Some(Socket::new(Family::Inet, SocketType::Stream)?),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
        assert_eq!(with_addr.kind(), io::ErrorKind::InvalidInput);
        assert!(with_addr.to_string().contains("local_addr"), "{with_addr}");
        assert_eq!(stream.kind(), io::ErrorKind::InvalidInput);
        assert!(stream.to_string().contains("datagram socket"), "{stream}");

        close_and_wait(&t, &p).await?;
        close_and_wait(&server, &sp).await?;
        // The transport owned the socket: closing it closed the socket.
        assert!(sock.is_closed());
        Ok::<_, Error>(())
    })
}

fn local_addr_port_zero_gets_a_port() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, p) = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                ..Default::default()
            },
        )
        .await?;
        let name = match t.get_extra_info("sockname") {
            Some(DatagramExtraInfo::Address(a)) => inet(&a),
            other => panic!("no sockname: {other:?}"),
        };
        assert_eq!(name.ip(), localhost(0).ip());
        assert_ne!(name.port(), 0);
        assert!(t.get_extra_info("peername").is_none());
        assert!(t.get_extra_info("nonsense").is_none());
        close_and_wait(&t, &p).await?;
        Ok::<_, Error>(())
    })
}

fn ipv6_round_trip() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp) = lp
            .create_datagram_endpoint(
                Probe::echo,
                DatagramOptions {
                    local_addr: local("::1", 0),
                    ..Default::default()
                },
            )
            .await?;
        let server_addr = inet(&server.sockname().unwrap());
        assert!(server_addr.is_ipv6());
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("::1", server_addr.port()),
                family: Some(Family::Inet6),
                ..Default::default()
            },
        )
        .await?;

        client.sendto(b"over six", None)?;
        until(5, || !cp.borrow().datagrams.is_empty()).await?;

        assert_eq!(
            cp.borrow().datagrams,
            [(b"over six".to_vec(), Address::Inet(server_addr))]
        );
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn close_sends_queued_datagrams_then_reports_lost() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, false).await?;
        let (client, cp, _) = bound(&lp, false).await?;

        for i in 0..10 {
            client.sendto(format!("{i}").as_bytes(), Some(Address::Inet(server_addr)))?;
        }
        client.close();
        // Ignored once closing.
        client.sendto(b"late", Some(Address::Inet(server_addr)))?;
        assert!(client.is_closing());
        assert!(
            cp.borrow().lost.is_empty(),
            "connection_lost is never re-entrant"
        );
        until(5, || !cp.borrow().lost.is_empty()).await?;
        until(5, || sp.borrow().datagrams.len() >= 10).await?;
        sleep(Duration::from_millis(20)).await?;

        let got: Vec<Vec<u8>> = sp.borrow().datagrams.iter().map(|d| d.0.clone()).collect();
        let sent: Vec<Vec<u8>> = (0..10).map(|i| format!("{i}").into_bytes()).collect();
        assert_eq!(got, sent);
        assert!(matches!(cp.borrow().lost[..], [None]));
        assert_eq!(client.get_write_buffer_size(), 0);
        assert!(client.get_protocol().is_none());
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn abort_reports_lost_and_sends_nothing_more() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, false).await?;
        let (client, cp, _) = bound(&lp, false).await?;

        client.sendto(b"before", Some(Address::Inet(server_addr)))?;
        client.abort();
        client.sendto(b"after", Some(Address::Inet(server_addr)))?;
        client.abort();
        assert!(client.is_closing());
        assert_eq!(client.get_write_buffer_size(), 0);
        until(5, || !cp.borrow().lost.is_empty()).await?;
        until(5, || !sp.borrow().datagrams.is_empty()).await?;
        sleep(Duration::from_millis(20)).await?;

        assert_eq!(sp.borrow().datagrams.len(), 1);
        assert_eq!(sp.borrow().datagrams[0].0, b"before");
        assert!(matches!(cp.borrow().lost[..], [None]));
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn callbacks_come_in_order() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let (client, cp) = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("127.0.0.1", server_addr.port()),
                ..Default::default()
            },
        )
        .await?;
        // connection_made has run when create_datagram_endpoint returns.
        assert_eq!(cp.borrow().events, ["made"]);

        client.sendto(b"one", None)?;
        until(5, || !cp.borrow().datagrams.is_empty()).await?;
        close_and_wait(&client, &cp).await?;
        close_and_wait(&server, &sp).await?;

        assert_eq!(cp.borrow().events, ["made", "datagram", "lost"]);
        assert_eq!(sp.borrow().events, ["made", "datagram", "lost"]);
        Ok::<_, Error>(())
    })
}

fn no_address_needs_a_family() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, sp, server_addr) = bound(&lp, true).await?;
        let refused = endpoint(&lp, DatagramOptions::default()).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::InvalidInput);
        assert!(refused.to_string().contains("address family"), "{refused}");

        // With a family and no address, the kernel binds the socket on its first send.
        let (t, p) = endpoint(
            &lp,
            DatagramOptions {
                family: Some(Family::Inet),
                ..Default::default()
            },
        )
        .await?;
        t.sendto(b"unbound", Some(Address::Inet(server_addr)))?;
        until(5, || !p.borrow().datagrams.is_empty()).await?;
        assert_eq!(p.borrow().datagrams[0].0, b"unbound");
        close_and_wait(&t, &p).await?;
        close_and_wait(&server, &sp).await?;
        Ok::<_, Error>(())
    })
}

fn write_buffer_limits_are_checked() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, p, _) = bound(&lp, false).await?;
        assert_eq!(t.get_write_buffer_limits(), (16 * 1024, 64 * 1024));
        t.set_write_buffer_limits(Some(1000), None)?;
        assert_eq!(t.get_write_buffer_limits(), (250, 1000));
        let bad = t.set_write_buffer_limits(Some(10), Some(20)).unwrap_err();
        assert_eq!(bad.kind(), io::ErrorKind::InvalidInput);
        close_and_wait(&t, &p).await?;
        Ok::<_, Error>(())
    })
}

fn portable_selector_cannot_make_an_endpoint() -> Result<()> {
    let lp = sandloop::SelectorEventLoop::new(sandloop::WasiPollSelector::new());
    let inner = lp.clone();
    let err = lp
        .run_until_complete(async move {
            inner
                .create_datagram_endpoint(
                    Probe::default,
                    DatagramOptions {
                        local_addr: local("127.0.0.1", 0),
                        ..Default::default()
                    },
                )
                .await
                .map(drop)
        })
        .unwrap_err();
    assert!(matches!(err, Error::Runtime(_)), "{err}");
    lp.close()
}

/// A protocol that keeps nothing, so that only the loop holds its endpoint.
struct Quiet;

impl DatagramProtocol for Quiet {}

fn loop_close_lets_go_of_open_endpoints() -> Result<()> {
    let lp = sandloop::new_event_loop();
    let inner = lp.clone();
    let (t, p) = lp.run_until_complete(async move {
        inner
            .create_datagram_endpoint(
                || Quiet,
                DatagramOptions {
                    local_addr: local("127.0.0.1", 0),
                    ..Default::default()
                },
            )
            .await
    })?;
    let sockname = inet(&t.sockname().unwrap());
    let weak = Rc::downgrade(&t.get_protocol().unwrap());
    drop(t);
    assert!(
        weak.upgrade().is_some(),
        "the open endpoint is held by the loop"
    );

    lp.close()?;

    // The endpoint is gone with its protocol; only this test holds its `Rc`.
    assert_eq!(Rc::strong_count(&p), 1);
    assert!(weak.upgrade().is_some());
    drop(p);
    assert!(weak.upgrade().is_none());
    // And its socket is closed: the address is free again.
    let again = Socket::new(Family::Inet, SocketType::Datagram)?;
    again.bind(sockname)?;
    again.close();
    Ok(())
}

// ---- sock_* ----------------------------------------------------------------------------

fn udp_socket() -> Result<(Socket, SocketAddr)> {
    let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
    sock.bind(localhost(0))?;
    let addr = inet(&sock.local_addr()?);
    Ok((sock, addr))
}

fn sock_recvfrom_and_sock_sendto() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (a, a_addr) = udp_socket()?;
        let (b, b_addr) = udp_socket()?;
        // The receive waits first: the datagram comes later.
        let receiver = lp.create_task({
            let (lp, b) = (lp.clone(), b.clone());
            async move { lp.sock_recvfrom(&b, 1024).await }
        });
        sleep(Duration::from_millis(5)).await?;

        let sent = lp.sock_sendto(&a, b"ping", b_addr).await?;
        let (data, from) = receiver.await?;

        assert_eq!(sent, 4);
        assert_eq!(
            (data.as_slice(), from),
            (&b"ping"[..], Address::Inet(a_addr))
        );
        // A short read truncates the datagram, as recvfrom(2) does.
        lp.sock_sendto(&b, b"0123456789", a_addr).await?;
        let (data, _) = lp.sock_recvfrom(&a, 4).await?;
        assert_eq!(data, b"0123");
        assert!(matches!(
            a.recv_from(100),
            Err(Error::Os(e)) if e.kind() == io::ErrorKind::WouldBlock
        ));
        a.close();
        b.close();
        Ok::<_, Error>(())
    })
}

fn sock_recvfrom_into_fills_the_buffer() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (a, a_addr) = udp_socket()?;
        let (b, b_addr) = udp_socket()?;
        let mut buf = [0u8; 16];

        lp.sock_sendto(&a, b"hello", b_addr).await?;
        let (n, from) = lp.sock_recvfrom_into(&b, &mut buf, 0).await?;
        assert_eq!((&buf[..n], from), (&b"hello"[..], Address::Inet(a_addr)));

        lp.sock_sendto(&a, b"abcdefgh", b_addr).await?;
        let (n, _) = lp.sock_recvfrom_into(&b, &mut buf, 3).await?;
        assert_eq!(&buf[..n], b"abc");
        a.close();
        b.close();
        Ok::<_, Error>(())
    })
}

// ---- Denials (checked under policies of their own) --------------------------------------

fn print_err<T>(r: Result<T>) {
    match r {
        Ok(_) => println!("allowed"),
        Err(e) => println!("{e}"),
    }
}

/// Under a policy without udp bind rules.
fn udp_bind_is_denied() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let r = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 9),
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(r, Err(Error::PermissionDenied(_))));
        print_err(r);
        let sock = Socket::new(Family::Inet6, SocketType::Datagram)?;
        print_err(sock.bind("[::1]:0".parse::<SocketAddr>().unwrap()));
        Ok::<_, Error>(())
    })
}

/// Under a policy without udp send rules: a connected endpoint is a send target.
fn udp_connect_is_denied() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let r = endpoint(
            &lp,
            DatagramOptions {
                remote_addr: local("10.0.0.1", 53),
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(r, Err(Error::PermissionDenied(_))));
        print_err(r);
        let sock = Socket::new(Family::Inet, SocketType::Datagram)?;
        print_err(lp.sock_connect(&sock, localhost(9)).await);
        Ok::<_, Error>(())
    })
}

/// Under a policy that grants the bind only: every target of a send is denied.
fn udp_send_to_is_denied() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (t, p) = endpoint(
            &lp,
            DatagramOptions {
                local_addr: local("127.0.0.1", 0),
                ..Default::default()
            },
        )
        .await?;
        // The denial of a transport's send reaches error_received, never the caller.
        t.sendto(b"x", Some(Address::Inet(localhost(9))))?;
        assert!(p.borrow().errors.is_empty());
        until(5, || !p.borrow().errors.is_empty()).await?;
        let err = p.borrow_mut().errors.remove(0);
        assert!(matches!(err, Error::PermissionDenied(_)));
        println!("{err}");
        assert!(!t.is_closing());

        let (sock, _) = udp_socket()?;
        print_err(
            lp.sock_sendto(&sock, b"x", "10.0.0.1:53".parse::<SocketAddr>().unwrap())
                .await,
        );
        close_and_wait(&t, &p).await?;
        Ok::<_, Error>(())
    })
}

// ---- The send queue, against a receiver that does not read ------------------------------

/// Records the flow-control callbacks of a sending endpoint.
#[derive(Default)]
struct Sender {
    paused: usize,
    resumed: usize,
    errors: Vec<Error>,
    lost: Vec<Option<Error>>,
}

impl DatagramProtocol for Sender {
    fn error_received(&mut self, exc: Error) {
        self.errors.push(exc);
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        self.lost.push(exc);
    }

    fn pause_writing(&mut self) {
        self.paused += 1;
    }

    fn resume_writing(&mut self) {
        self.resumed += 1;
    }
}

/// An abstract unix name no other run uses (the quiet cases' policy grants `@sl-dgram-*`).
fn unique_abstract_name() -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_nanos();
    format!("\0sl-dgram-{nanos}").into_bytes()
}

/// UDP on loopback never says "would block", so the transport's queue is shown on a unix
/// datagram socket, whose sends block once the receiver's queue is full: `sendto` queues
/// what the kernel refuses, pauses the protocol over the high-water mark, flushes in order
/// as the receiver reads, and resumes it.
fn full_receiver_queues_datagrams_with_flow_control() -> Result<()> {
    const COUNT: usize = 2000;
    run(async {
        let lp = get_running_loop()?;
        let name = unique_abstract_name();
        let receiver = Socket::new(Family::Unix, SocketType::Datagram)?;
        receiver.bind(Address::Unix(name.clone()))?;
        let sock = Socket::new(Family::Unix, SocketType::Datagram)?;
        lp.sock_connect(&sock, Address::Unix(name)).await?;
        let (t, p) = lp
            .create_datagram_endpoint(
                Sender::default,
                DatagramOptions {
                    sock: Some(sock),
                    ..Default::default()
                },
            )
            .await?;
        t.set_write_buffer_limits(Some(16 * 1024), Some(4 * 1024))?;

        let mut most_queued = 0;
        for i in 0..COUNT {
            let datagram = format!("{i:04}").repeat(256);
            t.sendto(datagram.as_bytes(), None)?;
            most_queued = most_queued.max(t.get_write_buffer_size());
        }
        assert!(
            most_queued > 16 * 1024,
            "the queue never filled: {most_queued}"
        );
        // The pause is scheduled, never called from inside `sendto`.
        sleep(Duration::ZERO).await?;
        assert_eq!(p.borrow().paused, 1);

        for i in 0..COUNT {
            let (data, _from) = lp.sock_recvfrom(&receiver, 2048).await?;
            assert_eq!(
                data,
                format!("{i:04}").repeat(256).as_bytes(),
                "datagram {i}"
            );
        }
        until(5, || t.get_write_buffer_size() == 0).await?;
        until(5, || p.borrow().resumed == 1).await?;
        assert!(p.borrow().errors.is_empty(), "{:?}", p.borrow().errors);

        t.close();
        until(5, || !p.borrow().lost.is_empty()).await?;
        assert!(p.borrow().lost[0].is_none());
        Ok::<_, Error>(())
    })
}
