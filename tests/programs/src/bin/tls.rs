//! TLS (after CPython's test_sslproto.py and the ssl parts of test_events.py): handshakes
//! that succeed and fail, timeouts, STARTTLS, the closing handshake, bulk data, extra
//! info and the asyncio argument rules, under the real host on loopback.
//!
//! The host test generates the certificates (rcgen) into a directory preopened read-only
//! at `/tls`: `ca.pem` (the trusted CA), `other-ca.pem` (a CA nobody trusts),
//! `server.pem` (a chain for `localhost` and 127.0.0.1 signed by `ca.pem`), `server.key`,
//! `combined.pem` (chain and key in one file), `data.bin` (for sendfile). The trusted CA
//! is also in `TLS_CA_PEM`; `TLS_UNIX_DIR` is a directory the policy grants for unix
//! sockets.

use std::cell::{Cell, RefCell};
use std::io;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use sandloop::net::Socket;
use sandloop::streams::{self, StreamReader, StreamWriter};
use sandloop::tls::{TlsContext, VerifyMode};
use sandloop::{
    AcceptedSocketOptions, ConnectOptions, Error, EventLoop, ExtraInfo, Protocol, Result, Server,
    ServerOptions, TlsOptions, Transport, UnixConnectOptions, UnixServerOptions, get_running_loop,
    run,
};
use test_programs::{Log, cases, until};

cases!(
    handshake_completes_before_connection_made,
    wrong_hostname_fails,
    untrusted_ca_fails,
    empty_server_hostname_skips_only_the_name_check,
    handshake_timeout_fires_against_a_silent_peer,
    cancelling_the_handshake_closes_the_connection,
    starttls_in_the_middle_of_a_plaintext_protocol,
    close_sends_close_notify,
    close_gives_up_after_the_shutdown_timeout,
    abort_is_a_truncation_for_the_peer,
    ten_mib_both_directions,
    ssl_argument_errors,
    context_rules,
    sendfile_over_tls_uses_the_fallback,
    unix_server_and_connection,
    connect_accepted_socket_serves_tls,
    server_requires_a_client_certificate,
);

const CA: &str = "/tls/ca.pem";
const OTHER_CA: &str = "/tls/other-ca.pem";

fn server_ctx() -> TlsContext {
    let ctx = TlsContext::server();
    ctx.load_cert_chain(
        Path::new("/tls/server.pem"),
        Some(Path::new("/tls/server.key")),
    )
    .expect("load the server certificate");
    ctx
}

fn client_ctx(ca: &str) -> TlsContext {
    let ctx = TlsContext::client();
    ctx.load_verify_locations(Some(Path::new(ca)), None)
        .expect("load the CA");
    ctx
}

thread_local! {
    /// The last connection an [`Echo`] server accepted, for the case to inspect.
    static SERVER_TRANSPORT: RefCell<Option<Transport>> = const { RefCell::new(None) };
}

/// Echoes what it receives; records what happened.
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
        // The handshake is done before the protocol hears of the connection.
        let has_cipher = transport.get_extra_info("cipher").is_some();
        self.log.push(if has_cipher {
            "server made"
        } else {
            "server made before the handshake"
        });
        self.transport = Some(transport.clone());
        SERVER_TRANSPORT.with(|s| *s.borrow_mut() = Some(transport.clone()));
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
        self.log.push(format!("server lost {exc:?}"));
        self.transport = None;
        SERVER_TRANSPORT.with(|s| s.borrow_mut().take());
    }
}

/// Records what a client protocol sees.
struct Client {
    log: Log,
    received: Rc<RefCell<Vec<u8>>>,
}

impl Client {
    fn new(log: &Log) -> Client {
        Client {
            log: log.clone(),
            received: Rc::default(),
        }
    }
}

impl Protocol for Client {
    fn connection_made(&mut self, transport: &Transport) {
        let has_cipher = transport.get_extra_info("cipher").is_some();
        self.log
            .push(format!("client made, cipher known {has_cipher}"));
    }

    fn data_received(&mut self, data: &[u8]) {
        self.received.borrow_mut().extend_from_slice(data);
    }

    fn eof_received(&mut self) -> bool {
        self.log.push("client eof");
        false
    }

    fn connection_lost(&mut self, exc: Option<Error>) {
        self.log.push(format!("client lost {exc:?}"));
    }
}

/// A server of `factory`'s protocols on a free port of 127.0.0.1, and the port.
async fn serve<P: Protocol + 'static>(
    lp: &EventLoop,
    factory: impl FnMut() -> P + 'static,
    options: ServerOptions,
) -> Result<(Server, u16)> {
    let server = lp.create_server(factory, "127.0.0.1", 0, options).await?;
    let port = server.port()?;
    Ok((server, port))
}

async fn tls_echo_server(lp: &EventLoop, log: &Log, ctx: TlsContext) -> Result<(Server, u16)> {
    let log = log.clone();
    let options = ServerOptions {
        ssl: Some(ctx),
        ..Default::default()
    };
    serve(lp, move || Echo::new(&log), options).await
}

/// A [`Client`] logging into `log`, connected to 127.0.0.1:`port` with `options`.
async fn connect(
    lp: &EventLoop,
    log: &Log,
    port: u16,
    options: ConnectOptions,
) -> Result<(Transport, Rc<RefCell<Client>>)> {
    let log = log.clone();
    lp.create_connection(move || Client::new(&log), "127.0.0.1", port, options)
        .await
}

fn tls_connect_opts(ctx: TlsContext) -> ConnectOptions {
    ConnectOptions {
        ssl: Some(ctx),
        ..Default::default()
    }
}

fn handshake_completes_before_connection_made() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let sctx = server_ctx();
        sctx.set_alpn_protocols(&["http/1.1"])?;
        let (server, port) = tls_echo_server(&lp, &log, sctx).await?;
        let cctx = client_ctx(CA);
        cctx.set_alpn_protocols(&["h2", "http/1.1"])?;
        let (t, p) = connect(&lp, &log, port, tls_connect_opts(cctx.clone())).await?;
        assert_eq!(log.get(), ["client made, cipher known true"]);
        // What the handshake settled, as get_extra_info gives it.
        let Some(ExtraInfo::TlsInfo(info)) = t.get_extra_info("ssl_object") else {
            panic!("no ssl_object");
        };
        assert_eq!(info.version, "TLSv1.3");
        assert!(info.cipher.starts_with("TLS_"), "{}", info.cipher);
        assert!(info.secret_bits >= 128, "{}", info.secret_bits);
        assert_eq!(info.selected_alpn_protocol().as_deref(), Some("http/1.1"));
        let Some(ExtraInfo::Cipher(name, version, bits)) = t.get_extra_info("cipher") else {
            panic!("no cipher");
        };
        assert_eq!((name, version, bits), info.cipher());
        let Some(ExtraInfo::PeerCert(der)) = t.get_extra_info("peercert") else {
            panic!("no peercert");
        };
        assert_eq!(der.first(), Some(&0x30), "a DER SEQUENCE");
        assert_eq!(Some(der.as_slice()), info.peer_certificate());
        assert!(matches!(
            t.get_extra_info("sslcontext"),
            Some(ExtraInfo::TlsContext(_))
        ));
        assert!(t.get_extra_info("compression").is_none());
        assert!(t.get_extra_info("peername").is_some());
        assert!(!t.can_write_eof());
        // asyncio's SSL transport cannot half-close: write_eof is reported, not done.
        let reported = Log::new();
        let r = reported.clone();
        lp.set_exception_handler(Some(
            move |_: &EventLoop, ctx: &sandloop::ExceptionContext| {
                r.push(ctx.message.clone());
            },
        ));
        t.write_eof();
        assert_eq!(
            reported.get(),
            ["write_eof() is not supported on a TLS transport: close() it"]
        );
        lp.set_exception_handler(None::<fn(&EventLoop, &sandloop::ExceptionContext)>);
        // Plaintext both ways.
        t.write(b"hello over tls");
        let received = p.borrow().received.clone();
        until(5, || received.borrow().len() == 14).await?;
        assert_eq!(&*received.borrow(), b"hello over tls");
        SERVER_TRANSPORT.with(|s| {
            let s = s.borrow();
            let st = s.as_ref().expect("the server's transport");
            // The server sees no client certificate, and the same session.
            assert!(st.get_extra_info("peercert").is_none());
            let Some(ExtraInfo::TlsInfo(sinfo)) = st.get_extra_info("ssl_object") else {
                panic!("no server ssl_object");
            };
            assert_eq!(sinfo.cipher, info.cipher);
            assert_eq!(sinfo.selected_alpn_protocol().as_deref(), Some("http/1.1"));
        });
        t.close();
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

/// A client whose handshake fails: the error reaches `create_connection`, and neither the
/// client's protocol nor the server's ever hears of the connection.
async fn failed_handshake(cctx: TlsContext, server_hostname: Option<&str>) -> Result<Error> {
    let lp = get_running_loop()?;
    let log = Log::new();
    let (server, port) = tls_echo_server(&lp, &log, server_ctx()).await?;
    let err = lp
        .create_connection(
            || Client::new(&log),
            "127.0.0.1",
            port,
            ConnectOptions {
                ssl: Some(cctx),
                server_hostname: server_hostname.map(str::to_owned),
                ..Default::default()
            },
        )
        .await
        .map(|_| ())
        .unwrap_err();
    // wait_closed returns once the failed server connection is gone too.
    server.close();
    server.wait_closed().await;
    assert!(log.get().is_empty(), "{:?}", log.get());
    Ok(err)
}

fn wrong_hostname_fails() -> Result<()> {
    run(async {
        let err = failed_handshake(client_ctx(CA), Some("wrong.example")).await?;
        match &err {
            Error::Tls(msg) => assert!(msg.contains("wrong.example"), "{msg}"),
            other => panic!("expected a TLS error, got {other:?}"),
        }
        Ok::<_, Error>(())
    })
}

fn untrusted_ca_fails() -> Result<()> {
    run(async {
        let err = failed_handshake(client_ctx(OTHER_CA), None).await?;
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        // The default context (the host's root store) does not trust the test CA either.
        let err = failed_handshake(TlsContext::client(), Some("localhost")).await?;
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        Ok::<_, Error>(())
    })
}

fn empty_server_hostname_skips_only_the_name_check() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let (server, port) = tls_echo_server(&lp, &log, server_ctx()).await?;
        let ctx = client_ctx(CA);
        // Connecting by a name the certificate does not have, with the check explicitly
        // off for this connection: the chain is still verified.
        let (t, _) = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(ctx.clone()),
                    server_hostname: Some(String::new()),
                    ..Default::default()
                },
            )
            .await?;
        t.close();
        // The context itself still checks names.
        assert!(ctx.check_hostname());
        let err = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(ctx.clone()),
                    server_hostname: Some("wrong.example".into()),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        // "" does not turn off chain verification.
        let err = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(client_ctx(OTHER_CA)),
                    server_hostname: Some(String::new()),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::Tls(_)), "{err:?}");
        // check_hostname off on the context: any name.
        ctx.set_check_hostname(false);
        let (t, _) = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(ctx.clone()),
                    server_hostname: Some("wrong.example".into()),
                    ..Default::default()
                },
            )
            .await?;
        t.close();
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

/// Accepts and never answers.
struct Silent(Rc<Cell<usize>>);

impl Protocol for Silent {
    fn connection_made(&mut self, _: &Transport) {
        self.0.set(self.0.get() + 1);
    }
}

fn handshake_timeout_fires_against_a_silent_peer() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let accepted = Rc::new(Cell::new(0));
        let a = accepted.clone();
        let (server, port) =
            serve(&lp, move || Silent(a.clone()), ServerOptions::default()).await?;
        let log = Log::new();
        let start = lp.time();
        let err = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(client_ctx(CA)),
                    ssl_handshake_timeout: Some(Duration::from_millis(300)),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
            .unwrap_err();
        let took = lp.time() - start;
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted, "{err:?}");
        assert_eq!(
            err.to_string(),
            "SSL handshake is taking longer than 0.3 seconds: aborting the connection"
        );
        assert!((0.29..5.0).contains(&took), "took {took} s");
        assert_eq!(accepted.get(), 1);
        assert!(log.get().is_empty(), "{:?}", log.get());

        // A server's handshake times out the same way, never reaching its protocol.
        let log2 = Log::new();
        let l2 = log2.clone();
        let tls_server = lp
            .create_server(
                move || Echo::new(&l2),
                "127.0.0.1",
                0,
                ServerOptions {
                    ssl: Some(server_ctx()),
                    ssl_handshake_timeout: Some(Duration::from_millis(200)),
                    ..Default::default()
                },
            )
            .await?;
        let tls_port = tls_server.port()?;
        // A plain client that says nothing.
        let (silent, _) = lp
            .create_connection(
                || Silent(Rc::default()),
                "127.0.0.1",
                tls_port,
                Default::default(),
            )
            .await?;
        let client_log = Log::new();
        struct Watch(Log);
        impl Protocol for Watch {
            fn connection_lost(&mut self, _: Option<Error>) {
                self.0.push("lost");
            }
        }
        silent.set_protocol(Rc::new(RefCell::new(Watch(client_log.clone()))));
        // The server aborts: the silent client sees its connection end.
        until(5, || client_log.get() == ["lost"]).await?;
        tls_server.close();
        tls_server.wait_closed().await;
        assert!(log2.get().is_empty(), "{:?}", log2.get());
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

/// Counts the connections it loses.
struct CountLost(Rc<Cell<usize>>);

impl Protocol for CountLost {
    fn connection_lost(&mut self, _: Option<Error>) {
        self.0.set(self.0.get() + 1);
    }
}

fn cancelling_the_handshake_closes_the_connection() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let lost = Rc::new(Cell::new(0));
        let l = lost.clone();
        let (server, port) =
            serve(&lp, move || CountLost(l.clone()), ServerOptions::default()).await?;
        let log = Log::new();
        let (lp2, log2) = (lp.clone(), log.clone());
        let connect = async move {
            lp2.create_connection(
                move || Client::new(&log2),
                "127.0.0.1",
                port,
                tls_connect_opts(client_ctx(CA)),
            )
            .await
        };
        let err = sandloop::wait_for(connect, Duration::from_millis(200))
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, Error::Timeout), "{err:?}");
        // The abandoned handshake's connection is closed: the silent server sees it end.
        until(5, || lost.get() == 1).await?;
        assert!(log.get().is_empty(), "{:?}", log.get());
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn starttls_in_the_middle_of_a_plaintext_protocol() -> Result<()> {
    run(async {
        let server = streams::start_server(
            async |reader: StreamReader, mut writer: StreamWriter| -> Result<()> {
                assert_eq!(reader.readline().await?, b"HELLO\n");
                writer.write(b"HI\n");
                assert_eq!(reader.readline().await?, b"STARTTLS\n");
                writer.write(b"GO AHEAD\n");
                writer
                    .start_tls(
                        server_ctx(),
                        TlsOptions {
                            server_side: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                assert!(writer.get_extra_info("cipher").is_some());
                let line = reader.readline().await?;
                writer.write(b"secret echo: ");
                writer.write(&line);
                writer.drain().await?;
                // The client closes: close_notify is the end of the stream.
                assert_eq!(reader.read(100).await?, b"");
                writer.close();
                Ok(())
            },
            "127.0.0.1",
            0,
            Default::default(),
        )
        .await?;
        let port = server.port()?;
        let (reader, mut writer) =
            streams::open_connection("127.0.0.1", port, Default::default()).await?;
        assert!(writer.get_extra_info("cipher").is_none());
        writer.write(b"HELLO\n");
        assert_eq!(reader.readline().await?, b"HI\n");
        writer.write(b"STARTTLS\n");
        assert_eq!(reader.readline().await?, b"GO AHEAD\n");
        writer
            .start_tls(
                client_ctx(CA),
                TlsOptions {
                    server_hostname: Some("localhost".into()),
                    ..Default::default()
                },
            )
            .await?;
        let Some(ExtraInfo::TlsInfo(info)) = writer.get_extra_info("ssl_object") else {
            panic!("no TLS after start_tls");
        };
        assert_eq!(info.version, "TLSv1.3");
        writer.write(b"the password\n");
        assert_eq!(reader.readline().await?, b"secret echo: the password\n");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn close_sends_close_notify() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let (server, port) = tls_echo_server(&lp, &log, server_ctx()).await?;
        let (t, _) = connect(&lp, &log, port, tls_connect_opts(client_ctx(CA))).await?;
        until(5, || log.get().iter().any(|l| l == "server made")).await?;
        t.write(b"last words");
        t.close();
        assert!(t.is_closing());
        server.close();
        // Both sides end without an error: the server saw close_notify as the end of the
        // stream, the client the server's close_notify in answer.
        server.wait_closed().await;
        until(5, || log.get().iter().any(|l| l.starts_with("client lost"))).await?;
        let mut entries = log.get();
        entries.sort();
        assert_eq!(
            entries,
            [
                "client lost None",
                "client made, cipher known true",
                "server eof",
                "server lost None",
                "server made",
            ]
        );
        Ok::<_, Error>(())
    })
}

/// Never reads: a peer that does not answer `close_notify`.
struct Deaf;

impl Protocol for Deaf {
    fn connection_made(&mut self, transport: &Transport) {
        transport.pause_reading();
    }
}

fn close_gives_up_after_the_shutdown_timeout() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let (server, port) = serve(
            &lp,
            || Deaf,
            ServerOptions {
                ssl: Some(server_ctx()),
                ..Default::default()
            },
        )
        .await?;
        let log = Log::new();
        let (t, _) = lp
            .create_connection(
                || Client::new(&log),
                "127.0.0.1",
                port,
                ConnectOptions {
                    ssl: Some(client_ctx(CA)),
                    ssl_shutdown_timeout: Some(Duration::from_millis(200)),
                    ..Default::default()
                },
            )
            .await?;
        let start = lp.time();
        t.close();
        until(5, || log.get().iter().any(|l| l.starts_with("client lost"))).await?;
        let took = lp.time() - start;
        assert!((0.19..5.0).contains(&took), "took {took} s");
        // Aborted at the timeout: connection_lost(None), as documented.
        assert_eq!(
            log.get(),
            ["client made, cipher known true", "client lost None"]
        );
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn abort_is_a_truncation_for_the_peer() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let (server, port) = tls_echo_server(&lp, &log, server_ctx()).await?;
        let client_log = Log::new();
        let (t, _) = lp
            .create_connection(
                || Client::new(&client_log),
                "127.0.0.1",
                port,
                tls_connect_opts(client_ctx(CA)),
            )
            .await?;
        until(5, || log.get() == ["server made"]).await?;
        // No close_notify: the server sees the connection end with a TLS error, not an
        // end of stream (and logs nothing outside debug mode).
        t.abort();
        server.close();
        server.wait_closed().await;
        let entries = log.get();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(
            entries[1].starts_with("server lost Some(tls: "),
            "{entries:?}"
        );
        Ok::<_, Error>(())
    })
}

const TEN_MIB: usize = 10 * 1024 * 1024;

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

fn ten_mib_both_directions() -> Result<()> {
    run(async {
        let server = streams::start_server(
            async |reader: StreamReader, writer: StreamWriter| -> Result<()> {
                let mut total = 0;
                while total < TEN_MIB {
                    let chunk = reader.read(256 * 1024).await?;
                    assert!(!chunk.is_empty(), "the client ended early at {total}");
                    total += chunk.len();
                    writer.write(&chunk);
                    writer.drain().await?;
                }
                writer.close();
                writer.wait_closed().await
            },
            "127.0.0.1",
            0,
            ServerOptions {
                ssl: Some(server_ctx()),
                ..Default::default()
            },
        )
        .await?;
        let port = server.port()?;
        let (reader, writer) =
            streams::open_connection("127.0.0.1", port, tls_connect_opts(client_ctx(CA))).await?;
        let data = Rc::new(pattern(TEN_MIB));
        let lp = get_running_loop()?;
        let to_send = data.clone();
        let writer = Rc::new(writer);
        let w = writer.clone();
        let sender = lp.create_task(async move {
            for chunk in to_send.chunks(1024 * 1024) {
                w.write(chunk);
                w.drain().await?;
            }
            Ok::<_, Error>(())
        });
        let back = reader.readexactly(TEN_MIB).await?;
        assert!(back == *data, "the echo differs");
        sender.await?;
        // The server closed after the last byte: close_notify, a clean end.
        assert_eq!(reader.read(10).await?, b"");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn invalid_input_message(err: Error) -> String {
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}");
    err.to_string()
}

fn ssl_argument_errors() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let connect = |opts: ConnectOptions| {
            let lp = lp.clone();
            let log = log.clone();
            async move {
                lp.create_connection(|| Client::new(&log), "127.0.0.1", 9, opts)
                    .await
                    .map(|_| ())
                    .unwrap_err()
            }
        };
        let err = connect(ConnectOptions {
            server_hostname: Some("localhost".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(
            invalid_input_message(err),
            "server_hostname is only meaningful with ssl"
        );
        let err = connect(ConnectOptions {
            ssl_handshake_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .await;
        assert_eq!(
            invalid_input_message(err),
            "ssl_handshake_timeout is only meaningful with ssl"
        );
        let err = connect(ConnectOptions {
            ssl_shutdown_timeout: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .await;
        assert_eq!(
            invalid_input_message(err),
            "ssl_shutdown_timeout is only meaningful with ssl"
        );
        let err = connect(ConnectOptions {
            ssl: Some(server_ctx()),
            ..Default::default()
        })
        .await;
        assert!(invalid_input_message(err).contains("client TlsContext"));
        let err = connect(ConnectOptions {
            ssl: Some(client_ctx(CA)),
            ssl_handshake_timeout: Some(Duration::ZERO),
            ..Default::default()
        })
        .await;
        assert!(invalid_input_message(err).contains("positive"));
        // A connected socket and no name: nothing to check the certificate against.
        let (a, _b) = sandloop::net::socketpair()?;
        let err = connect_sock(&lp, a, client_ctx(CA)).await;
        assert_eq!(
            invalid_input_message(err),
            "You must set server_hostname when using ssl without a host"
        );
        // Servers.
        let err = lp
            .create_server(
                || Client::new(&Log::new()),
                "127.0.0.1",
                0,
                ServerOptions {
                    ssl_handshake_timeout: Some(Duration::from_secs(1)),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert_eq!(
            invalid_input_message(err),
            "ssl_handshake_timeout is only meaningful with ssl"
        );
        let err = lp
            .create_server(
                || Client::new(&Log::new()),
                "127.0.0.1",
                0,
                ServerOptions {
                    ssl: Some(TlsContext::server()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(invalid_input_message(err).contains("load_cert_chain"));
        // A unix path names no host: a context that checks names needs server_hostname.
        let err = lp
            .create_unix_connection(
                || Client::new(&log),
                "/nowhere.sock",
                UnixConnectOptions {
                    ssl: Some(client_ctx(CA)),
                    ..Default::default()
                },
            )
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(invalid_input_message(err).contains("server_hostname"));
        // start_tls: a client that checks names needs one; the side must match the context.
        let (a, _b) = sandloop::net::socketpair()?;
        let (plain, p) = lp
            .create_connection(
                || Client::new(&log),
                "",
                0,
                ConnectOptions {
                    sock: Some(a),
                    ..Default::default()
                },
            )
            .await?;
        let err = lp
            .start_tls(&plain, p.clone(), client_ctx(CA), TlsOptions::default())
            .await
            .unwrap_err();
        assert!(invalid_input_message(err).contains("server_hostname"));
        let server_side = TlsOptions {
            server_side: true,
            ..Default::default()
        };
        let err = lp
            .start_tls(&plain, p.clone(), client_ctx(CA), server_side)
            .await
            .unwrap_err();
        assert!(invalid_input_message(err).contains("server TlsContext"));
        // The refused calls left the plain transport as it was.
        assert!(!plain.is_closing());
        plain.close();
        Ok::<_, Error>(())
    })
}

async fn connect_sock(lp: &EventLoop, sock: Socket, ctx: TlsContext) -> Error {
    lp.create_connection(
        || Client::new(&Log::new()),
        "",
        0,
        ConnectOptions {
            sock: Some(sock),
            ssl: Some(ctx),
            ..Default::default()
        },
    )
    .await
    .map(|_| ())
    .unwrap_err()
}

fn context_rules() -> Result<()> {
    run(async {
        let ctx = TlsContext::client();
        assert_eq!(ctx.verify_mode(), VerifyMode::Required);
        assert!(ctx.check_hostname());
        assert!(!ctx.is_server());
        // Python: CERT_NONE while check_hostname is on is an error.
        let err = ctx.set_verify_mode(VerifyMode::None).unwrap_err();
        assert!(invalid_input_message(err).contains("check_hostname"));
        ctx.set_check_hostname(false);
        ctx.set_verify_mode(VerifyMode::None)?;
        // Turning hostname checks on turns verification back on.
        ctx.set_check_hostname(true);
        assert_eq!(ctx.verify_mode(), VerifyMode::Required);
        let server = TlsContext::server();
        assert!(server.is_server());
        assert_eq!(server.verify_mode(), VerifyMode::None);
        assert!(!server.check_hostname());
        // Bad input: a missing file, garbage PEM, a key that is not the certificate's.
        let err = ctx
            .load_verify_locations(Some(Path::new("/tls/missing.pem")), None)
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err:?}");
        assert!(err.to_string().contains("/tls/missing.pem"), "{err}");
        assert!(ctx.load_verify_locations(None, None).is_err());
        let err = ctx
            .load_verify_locations(None, Some(b"not a certificate"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}");
        let cert = std::fs::read("/tls/server.pem")?;
        let other_key = std::fs::read("/tls/other-ca.key")?;
        let err = server.load_cert_chain_pem(&cert, &other_key).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err:?}");
        // The key in the certificate's file; the CA from PEM data (the environment).
        server.load_cert_chain(Path::new("/tls/combined.pem"), None)?;
        let client = TlsContext::client();
        let ca = std::env::var("TLS_CA_PEM").expect("TLS_CA_PEM");
        client.load_verify_locations(None, Some(ca.as_bytes()))?;
        assert!(client.set_alpn_protocols(&[""]).is_err());
        let lp = get_running_loop()?;
        let log = Log::new();
        let (srv, port) = tls_echo_server(&lp, &log, server).await?;
        let (t, _) = lp
            .create_connection(
                || Client::new(&log),
                "localhost",
                port,
                tls_connect_opts(client),
            )
            .await?;
        let Some(ExtraInfo::TlsInfo(info)) = t.get_extra_info("ssl_object") else {
            panic!("no ssl_object");
        };
        assert_eq!(info.server_name.as_deref(), Some("localhost"));
        t.close();
        srv.close();
        srv.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn sendfile_over_tls_uses_the_fallback() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let log = Log::new();
        let (server, port) = tls_echo_server(&lp, &log, server_ctx()).await?;
        let (t, p) = connect(&lp, &log, port, tls_connect_opts(client_ctx(CA))).await?;
        let expected = std::fs::read("/tls/data.bin")?;
        let mut file = sandloop::fs::File::open("/tls/data.bin")?;
        // No native sendfile over TLS.
        let err = lp
            .sendfile(&t, &mut file, 0, None, false)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::SendfileNotAvailable(_)), "{err:?}");
        // The fallback sends the bytes through the encryption; the echo brings them back.
        let sent = lp.sendfile(&t, &mut file, 0, None, true).await?;
        assert_eq!(sent as usize, expected.len());
        let received = p.borrow().received.clone();
        until(5, || received.borrow().len() >= expected.len()).await?;
        assert!(*received.borrow() == expected);
        t.close();
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn unix_server_and_connection() -> Result<()> {
    run(async {
        let dir = std::env::var("TLS_UNIX_DIR").expect("TLS_UNIX_DIR");
        let path = format!("{dir}/tls.sock");
        let server = streams::start_unix_server(
            async |reader: StreamReader, writer: StreamWriter| -> Result<()> {
                let line = reader.readline().await?;
                writer.write(&line);
                writer.drain().await?;
                writer.close();
                Ok(())
            },
            path.as_str(),
            UnixServerOptions {
                ssl: Some(server_ctx()),
                ..Default::default()
            },
        )
        .await?;
        let (reader, writer) = streams::open_unix_connection(
            path.as_str(),
            UnixConnectOptions {
                ssl: Some(client_ctx(CA)),
                server_hostname: Some("localhost".into()),
                ..Default::default()
            },
        )
        .await?;
        assert!(writer.get_extra_info("cipher").is_some());
        writer.write(b"over a unix socket\n");
        assert_eq!(reader.readline().await?, b"over a unix socket\n");
        assert_eq!(reader.read(10).await?, b"");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}

fn connect_accepted_socket_serves_tls() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let listener = Socket::new(
            sandloop::net::Family::Inet,
            sandloop::net::SocketType::Stream,
        )?;
        listener.bind("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap())?;
        listener.listen(1)?;
        let port = listener.local_addr()?.port().unwrap();
        let log = Log::new();
        let client_log = log.clone();
        let lp2 = lp.clone();
        let client = lp.create_task(async move {
            lp2.create_connection(
                || Client::new(&client_log),
                "127.0.0.1",
                port,
                tls_connect_opts(client_ctx(CA)),
            )
            .await
        });
        let (conn, _) = lp.sock_accept(&listener).await?;
        let (st, _) = lp
            .connect_accepted_socket(
                || Echo::new(&log),
                conn,
                AcceptedSocketOptions {
                    ssl: Some(server_ctx()),
                    ..Default::default()
                },
            )
            .await?;
        assert!(st.get_extra_info("cipher").is_some());
        let (t, p) = client.await?;
        t.write(b"ping");
        let received = p.borrow().received.clone();
        until(5, || received.borrow().as_slice() == b"ping").await?;
        t.close();
        until(5, || log.get().iter().any(|l| l.starts_with("client lost"))).await?;
        listener.close();
        Ok::<_, Error>(())
    })
}

fn server_requires_a_client_certificate() -> Result<()> {
    run(async {
        let lp = get_running_loop()?;
        let sctx = server_ctx();
        sctx.set_verify_mode(VerifyMode::Required)?;
        sctx.load_verify_locations(Some(Path::new(CA)), None)?;
        let log = Log::new();
        let (server, port) = tls_echo_server(&lp, &log, sctx).await?;
        // The client presents a certificate of the trusted CA (the server's own will do).
        let cctx = client_ctx(CA);
        cctx.load_cert_chain(
            Path::new("/tls/server.pem"),
            Some(Path::new("/tls/server.key")),
        )?;
        let (t, p) = connect(&lp, &log, port, tls_connect_opts(cctx)).await?;
        t.write(b"mutual");
        let received = p.borrow().received.clone();
        until(5, || received.borrow().as_slice() == b"mutual").await?;
        let client_cert = SERVER_TRANSPORT.with(|s| {
            let s = s.borrow();
            match s.as_ref().and_then(|st| st.get_extra_info("peercert")) {
                Some(ExtraInfo::PeerCert(der)) => der,
                other => panic!("the server has no client certificate: {other:?}"),
            }
        });
        let Some(ExtraInfo::PeerCert(server_cert)) = t.get_extra_info("peercert") else {
            panic!("no server certificate");
        };
        assert_eq!(client_cert, server_cert, "the same certificate, both ways");
        t.close();
        server.close();
        server.wait_closed().await;
        Ok::<_, Error>(())
    })
}
