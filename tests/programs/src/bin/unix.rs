//! Unix stream sockets, after CPython's test_unix_events.py and the unix cases of
//! test_events.py: `create_unix_connection`, `create_unix_server` and their streams
//! helpers, on paths in a directory the host test makes and grants (the second argument)
//! and on abstract names under it.
//!
//! The host test puts a regular file named `regular` (content `keep me`) in the directory
//! and checks it is untouched after every case.

use std::cell::RefCell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use sandloop::net::{Address, Family, Socket, SocketType};
use sandloop::streams::{self, StreamReader, StreamWriter};
use sandloop::{
    Error, EventLoop, Protocol, Result, Server, Transport, UnixConnectOptions, UnixPath,
    UnixServerOptions, gather, get_running_loop, run,
};
use test_programs::cases;

cases!(
    round_trip_client_server,
    peername_and_sockname_are_paths,
    abstract_names_round_trip_and_print_with_at,
    server_close_removes_the_socket_file,
    server_close_leaves_a_replaced_socket_file,
    server_close_after_the_file_is_gone_is_quiet,
    cleanup_socket_false_keeps_the_file,
    a_server_not_yet_serving_refuses_connections,
    stale_socket_file_is_removed_before_bind,
    a_regular_file_at_the_path_is_addr_in_use,
    sock_variants_serve_and_connect,
    sock_and_path_are_exclusive,
    path_as_str_bytes_and_path,
    hundred_concurrent_clients,
    streams_round_trip,
    connect_to_a_missing_path_is_not_found,
    no_tcp_options_on_unix_transports;
    checked:
    denials,
);

/// The directory the host test granted.
fn dir() -> String {
    std::env::args()
        .nth(2)
        .expect("the host test passes the granted directory")
}

fn path(name: &str) -> String {
    format!("{}/{name}", dir())
}

/// Echoes everything back.
#[derive(Debug, Default)]
struct Echo {
    transport: Option<Transport>,
}

impl Protocol for Echo {
    fn connection_made(&mut self, transport: &Transport) {
        self.transport = Some(transport.clone());
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data);
        }
    }
}

/// A protocol-based client that does nothing on its own: the tests drive its transport.
#[derive(Debug, Default)]
struct Idle;

impl Protocol for Idle {}

async fn echo_server(lp: &EventLoop, at: impl Into<UnixPath>) -> Result<Server> {
    lp.create_unix_server(Echo::default, at, UnixServerOptions::default())
        .await
}

/// Sends `msg` over a new streams connection to `at` and checks the echo.
async fn assert_echoed(at: impl Into<UnixPath>, msg: &[u8]) -> Result<()> {
    let (reader, writer) = streams::open_unix_connection(at, Default::default()).await?;
    writer.write(msg);
    writer.drain().await?;
    assert_eq!(reader.readexactly(msg.len()).await?, msg);
    writer.close();
    writer.wait_closed().await
}

async fn close(server: &Server) {
    server.close();
    server.wait_closed().await;
}

// ---- Round trips and addresses ----------------------------------------------------------

fn round_trip_client_server() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let server = echo_server(&lp, path("rt.sock")).await?;
        // A protocol client on the transport API, then a streams client.
        let received = Rc::new(RefCell::new(Vec::new()));
        struct Collect(Rc<RefCell<Vec<u8>>>);
        impl Protocol for Collect {
            fn data_received(&mut self, data: &[u8]) {
                self.0.borrow_mut().extend_from_slice(data);
            }
        }
        let r = received.clone();
        let (transport, _) = lp
            .create_unix_connection(move || Collect(r), path("rt.sock"), Default::default())
            .await?;
        let big = vec![7u8; 1 << 20];
        transport.write(b"hello ");
        transport.write(&big);
        let (reader, writer) =
            streams::open_unix_connection(path("rt.sock"), Default::default()).await?;
        writer.write(b"second client");
        assert_eq!(reader.readexactly(13).await?, b"second client");
        writer.close();
        while received.borrow().len() < 6 + big.len() {
            sandloop::sleep(std::time::Duration::from_millis(1)).await?;
        }
        assert_eq!(&received.borrow()[..6], b"hello ");
        assert!(received.borrow()[6..].iter().all(|&b| b == 7));
        transport.close();
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn peername_and_sockname_are_paths() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("names.sock");
        let accepted: Rc<RefCell<Option<Transport>>> = Rc::default();
        let a = accepted.clone();
        struct Keep(Rc<RefCell<Option<Transport>>>);
        impl Protocol for Keep {
            fn connection_made(&mut self, t: &Transport) {
                *self.0.borrow_mut() = Some(t.clone());
            }
        }
        let server = lp
            .create_unix_server(move || Keep(a.clone()), at.as_str(), Default::default())
            .await?;
        assert_eq!(server.local_addr()?, Address::Unix(at.clone().into_bytes()));
        let (client, _) = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await?;
        assert_eq!(
            client.peername(),
            Some(Address::Unix(at.clone().into_bytes()))
        );
        assert_eq!(client.sockname(), Some(Address::Unix(Vec::new())));
        assert_eq!(client.peername().unwrap().to_string(), at);
        while accepted.borrow().is_none() {
            sandloop::sleep(std::time::Duration::from_millis(1)).await?;
        }
        let conn = accepted.borrow().clone().unwrap();
        assert_eq!(
            conn.sockname(),
            Some(Address::Unix(at.clone().into_bytes()))
        );
        assert_eq!(conn.peername(), Some(Address::Unix(Vec::new())));
        match conn.get_extra_info("sockname") {
            Some(sandloop::ExtraInfo::Address(a)) => assert_eq!(a.to_string(), at),
            _ => panic!("sockname is an address"),
        }
        client.close();
        conn.close();
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn abstract_names_round_trip_and_print_with_at() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        // The host test grants `@<dir>/*`.
        let name = format!("{}/abstract", dir());
        let at = UnixPath::abstract_name(&name);
        assert!(at.is_abstract());
        assert_eq!(at, UnixPath::from(format!("\0{name}")));
        let server = echo_server(&lp, at.clone()).await?;
        let local = server.local_addr()?;
        assert_eq!(local, at.to_address());
        assert_eq!(local.to_string(), format!("@{name}"));
        assert_echoed(at.clone(), b"abstract").await?;
        close(&server).await;
        // Gone with its socket: nothing listens any more.
        let err = lp
            .create_unix_connection(|| Idle, at, Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains(&format!("@{name}")), "{err}");
        Ok::<_, Error>(())
    })
}

// ---- cleanup_socket and stale files -----------------------------------------------------

fn server_close_removes_the_socket_file() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("cleanup.sock");
        let server = echo_server(&lp, at.as_str()).await?;
        assert_echoed(at.as_str(), b"x").await?;
        close(&server).await;
        // The file is gone: a connect finds nothing (not "refused", which a file left
        // behind without a listener gives).
        let err = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok::<_, Error>(())
    })
}

fn server_close_leaves_a_replaced_socket_file() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("replaced.sock");
        let first = echo_server(&lp, at.as_str()).await?;
        // A second server at the same path replaces the file (the first one's is removed
        // as stale before the bind).
        let second = echo_server(&lp, at.as_str()).await?;
        close(&first).await;
        // The first server's cleanup leaves the second's file alone.
        assert_echoed(at.as_str(), b"still served").await?;
        close(&second).await;
        let err = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok::<_, Error>(())
    })
}

fn server_close_after_the_file_is_gone_is_quiet() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("gone.sock");
        let first = echo_server(&lp, at.as_str()).await?;
        let second = echo_server(&lp, at.as_str()).await?;
        // The second server's cleanup removes the only file; the first finds nothing to
        // remove and logs nothing (the host test fails on any log line).
        close(&second).await;
        close(&first).await;
        let err = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok::<_, Error>(())
    })
}

fn cleanup_socket_false_keeps_the_file() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("kept.sock");
        let opts = UnixServerOptions {
            cleanup_socket: false,
            ..Default::default()
        };
        let server = lp
            .create_unix_server(Echo::default, at.as_str(), opts)
            .await?;
        close(&server).await;
        // The file is still there, with nobody listening.
        let err = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
        assert!(err.to_string().contains(&at), "{err}");
        Ok::<_, Error>(())
    })
}

/// As for TCP: bound at once, listening only once serving starts, so a connect before
/// that is refused.
fn a_server_not_yet_serving_refuses_connections() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("later.sock");
        let opts = UnixServerOptions {
            start_serving: false,
            ..Default::default()
        };
        let server = lp
            .create_unix_server(Echo::default, at.as_str(), opts)
            .await?;

        let early = lp
            .create_unix_connection(Idle::default, at.as_str(), Default::default())
            .await
            .err();
        server.start_serving().await?;

        let early = early.expect("a connect before start_serving is refused");
        assert_eq!(early.kind(), io::ErrorKind::ConnectionRefused, "{early}");
        assert_echoed(at.as_str(), b"served").await?;
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn stale_socket_file_is_removed_before_bind() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("stale.sock");
        // A socket bound and closed without cleanup leaves a stale file.
        let sock = Socket::new(Family::Unix, SocketType::Stream)?;
        sock.bind(Address::Unix(at.clone().into_bytes()))?;
        sock.close();
        let again = Socket::new(Family::Unix, SocketType::Stream)?;
        let err = again
            .bind(Address::Unix(at.clone().into_bytes()))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        // create_unix_server removes it and binds.
        let server = echo_server(&lp, at.as_str()).await?;
        assert_echoed(at.as_str(), b"fresh").await?;
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn a_regular_file_at_the_path_is_addr_in_use() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("regular");
        let err = echo_server(&lp, at.as_str()).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse, "{err}");
        assert_eq!(err.to_string(), format!("Address {at:?} is already in use"));
        // (The host test checks that the file is untouched.)
        Ok::<_, Error>(())
    })
}

// ---- sock= and the path argument --------------------------------------------------------

fn sock_variants_serve_and_connect() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("sock.sock");
        let listening = Socket::new(Family::Unix, SocketType::Stream)?;
        listening.bind(Address::Unix(at.clone().into_bytes()))?;
        let server = lp
            .create_unix_server(
                Echo::default,
                "",
                UnixServerOptions {
                    sock: Some(listening),
                    ..Default::default()
                },
            )
            .await?;
        let connected = Socket::new(Family::Unix, SocketType::Stream)?;
        lp.sock_connect(&connected, Address::Unix(at.clone().into_bytes()))
            .await?;
        let (reader, writer) = streams::open_unix_connection(
            "",
            UnixConnectOptions {
                sock: Some(connected),
                ..Default::default()
            },
        )
        .await?;
        writer.write(b"via sock");
        assert_eq!(reader.readexactly(8).await?, b"via sock");
        writer.close();
        writer.wait_closed().await?;
        // cleanup_socket applies to a given socket too: the host knows what it bound.
        close(&server).await;
        let err = assert_echoed(at.as_str(), b"x").await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        Ok::<_, Error>(())
    })
}

fn sock_and_path_are_exclusive() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let sock = Socket::new(Family::Unix, SocketType::Stream)?;
        let both = UnixConnectOptions {
            sock: Some(sock.clone()),
            ..Default::default()
        };
        let err = lp
            .create_unix_connection(|| Idle, path("x.sock"), both)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            err.to_string(),
            "path and sock can not be specified at the same time"
        );
        let err = lp
            .create_unix_connection(|| Idle, "", Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "no path and sock were specified");
        let err = lp
            .create_unix_server(
                Echo::default,
                path("x.sock"),
                UnixServerOptions {
                    sock: Some(sock),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "path and sock can not be specified at the same time"
        );
        let err = lp
            .create_unix_server(Echo::default, "", Default::default())
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "path was not specified, and no sock specified"
        );
        // A socket of another family, for a server and for a connection.
        let tcp = Socket::new(Family::Inet, SocketType::Stream)?;
        let err = lp
            .create_unix_server(
                Echo::default,
                "",
                UnixServerOptions {
                    sock: Some(tcp.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = lp
            .create_unix_connection(
                || Idle,
                "",
                UnixConnectOptions {
                    sock: Some(tcp),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("A UNIX Domain Stream Socket was expected"),
            "{err}"
        );
        // A unix socket of another type (asyncio checks `sock.type` too).
        let datagram = Socket::new(Family::Unix, SocketType::Datagram)?;
        let err = lp
            .create_unix_connection(
                || Idle,
                "",
                UnixConnectOptions {
                    sock: Some(datagram),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("A UNIX Domain Stream Socket was expected"),
            "{err}"
        );
        Ok::<_, Error>(())
    })
}

fn path_as_str_bytes_and_path() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let text = path("as-str.sock");
        let server = echo_server(&lp, text.as_str()).await?;
        assert_echoed(text.clone(), b"str").await?;
        close(&server).await;

        let bytes = path("as-bytes.sock").into_bytes();
        let server = echo_server(&lp, bytes.as_slice()).await?;
        assert_echoed(bytes.clone(), b"bytes").await?;
        close(&server).await;

        let pathbuf = PathBuf::from(path("as-path.sock"));
        let server = echo_server(&lp, pathbuf.as_path()).await?;
        assert_echoed(pathbuf.clone(), b"path").await?;
        close(&server).await;

        // A path with `.` and repeated slashes names the same file.
        let server = echo_server(&lp, format!("{}//./dots.sock", dir())).await?;
        assert_echoed(path("dots.sock"), b"normalized").await?;
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn hundred_concurrent_clients() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("many.sock");
        let server = echo_server(&lp, at.as_str()).await?;
        let clients = (0..100).map(|i| {
            let at = at.clone();
            lp.create_task(async move {
                let msg = format!("client {i}");
                assert_echoed(at, msg.as_bytes()).await
            })
        });
        assert_eq!(gather(clients.collect::<Vec<_>>()).await?.len(), 100);
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn streams_round_trip() -> Result<()> {
    run(async {
        let at = path("streams.sock");
        let server = streams::start_unix_server(
            async |reader: StreamReader, writer: StreamWriter| {
                let line = reader.readline().await?;
                writer.write(b"re: ");
                writer.write(&line);
                writer.drain().await
            },
            at.as_str(),
            Default::default(),
        )
        .await?;
        let (reader, writer) =
            streams::open_unix_connection(at.as_str(), Default::default()).await?;
        writer.write(b"ping\n");
        assert_eq!(reader.readline().await?, b"re: ping\n");
        assert_eq!(
            reader.read(10).await?,
            b"",
            "the server closed after replying"
        );
        writer.close();
        // The reader's limit is honoured: a 9-byte line does not fit in 4.
        let (reader, writer) =
            streams::open_unix_connection_with_limit(at.as_str(), Default::default(), 4).await?;
        writer.write(b"ping\n");
        let err = reader.readline().await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        writer.close();
        close(&server).await;
        Ok::<_, Error>(())
    })
}

fn connect_to_a_missing_path_is_not_found() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let at = path("missing.sock");
        let err = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains(&at), "{err}");
        Ok::<_, Error>(())
    })
}

fn no_tcp_options_on_unix_transports() -> Result<()> {
    run(async {
        // create_unix_connection must not set TCP_NODELAY (a unix socket refuses it);
        // asking for it shows the OS's refusal rather than a silent success.
        let lp = get_running_loop()?;
        let at = path("opts.sock");
        let server = echo_server(&lp, at.as_str()).await?;
        let (t, _) = lp
            .create_unix_connection(|| Idle, at.as_str(), Default::default())
            .await?;
        let Some(sandloop::ExtraInfo::Socket(sock)) = t.get_extra_info("socket") else {
            panic!("a transport has a socket");
        };
        let err = sock
            .get_option(sandloop::net::SockOptName::NoDelay)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported, "{err}");
        t.close();
        close(&server).await;
        Ok::<_, Error>(())
    })
}

// ---- Denials (checked: the host test grants only `<dir>/granted/`) ----------------------

fn denials() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let print = |err: Error| {
            assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
            println!("{err}");
        };
        // bind (create_unix_server) outside the granted directory
        print(echo_server(&lp, path("x.sock")).await.unwrap_err());
        // bind of a raw socket
        let sock = Socket::new(Family::Unix, SocketType::Stream)?;
        print(
            sock.bind(Address::Unix(path("y.sock").into_bytes()))
                .unwrap_err(),
        );
        // connect outside the granted directory
        print(
            lp.create_unix_connection(|| Idle, path("x.sock"), Default::default())
                .await
                .unwrap_err(),
        );
        // a `..` escape out of the granted directory
        print(
            lp.create_unix_connection(|| Idle, path("granted/../x.sock"), Default::default())
                .await
                .unwrap_err(),
        );
        // an abstract name not granted
        print(
            echo_server(&lp, UnixPath::abstract_name("not-granted"))
                .await
                .unwrap_err(),
        );
        // listen on an unbound unix socket (the kernel would invent a name)
        print(sock.listen(1).unwrap_err());
        // the granted directory itself works
        let server = echo_server(&lp, path("granted/ok.sock")).await?;
        assert_echoed(path("granted/ok.sock"), b"ok").await?;
        close(&server).await;
        println!("granted ok");
        Ok::<_, Error>(())
    })
}
