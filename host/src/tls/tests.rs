//! TLS contexts and TLS streams through the trait methods the guest calls and the
//! reactor's `wait`: two host streams over a loopback TCP connection, one a client and one
//! a server, with certificates rcgen makes at test time.

use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::{Descriptor, File};
use wasmtime_wasi::{FsPerms, OpenMode};

use super::Context;
use crate::bindings::net::HostStream as _;
use crate::bindings::reactor::Interest;
use crate::bindings::tls::{
    ClientAuth, ClientOptions, Host as _, HostContext as _, Identity, ServerOptions, SessionInfo,
};
use crate::bindings::types::{AddressFamily, Error, ErrorKind};
use crate::net::{Socket, Stream};
use crate::testing::{Fixture, borrow};

const CLIENT: u64 = 0;
const SERVER: u64 = 1;
const BUDGET: u32 = 256 << 10;

/// The certificates of the tests: a CA, a server certificate for `localhost` and
/// 127.0.0.1 signed by it, a client certificate signed by it, and a second CA with its
/// own server certificate, which the first CA's clients do not trust.
struct Pki {
    ca: String,
    server: Identity,
    client: Identity,
    other_ca: String,
    other_server: Identity,
}

fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let ca = new_ca("sandloop test CA");
        let other = new_ca("sandloop other CA");
        Pki {
            ca: ca.pem(),
            server: leaf(&["localhost", "127.0.0.1"], &ca),
            client: leaf(&["client.sandloop.test"], &ca),
            other_ca: other.pem(),
            other_server: leaf(&["localhost", "127.0.0.1"], &other),
        }
    })
}

fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(names: &[&str], ca: &CertifiedIssuer<'static, KeyPair>) -> Identity {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = CertificateParams::new(names).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    Identity {
        cert_chain_pem: cert.pem().into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
    }
}

fn client_options() -> ClientOptions {
    ClientOptions {
        ca_pem: vec![pki().ca.clone().into_bytes()],
        system_roots: false,
        verify: true,
        check_hostname: true,
        alpn: Vec::new(),
        identity: None,
    }
}

fn server_options() -> ServerOptions {
    ServerOptions {
        identity: pki().server.clone(),
        alpn: Vec::new(),
        client_auth: ClientAuth::None,
        client_ca_pem: Vec::new(),
    }
}

/// What the events of one stream said, accumulated.
#[derive(Default, Debug)]
struct Seen {
    data: Vec<u8>,
    writable: usize,
    hangup: bool,
    error: Option<Error>,
    last_buffered: u64,
}

struct Pair {
    client: Resource<Stream>,
    server: Resource<Stream>,
    seen: [Seen; 2],
}

impl Fixture {
    /// A stream under `token` over one end of a loopback TCP connection per side.
    fn tcp_pair(&mut self, budget: u32) -> Pair {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        Pair {
            client: self.open_tcp(client, CLIENT, budget),
            server: self.open_tcp(server, SERVER, budget),
            seen: Default::default(),
        }
    }

    fn open_tcp(&mut self, stream: TcpStream, token: u64, budget: u32) -> Resource<Stream> {
        stream.set_nonblocking(true).unwrap();
        let socket = Socket::new(
            socket2::Socket::from(OwnedFd::from(stream)),
            AddressFamily::Ipv4.into(),
        );
        let socket = self.table.push(socket).unwrap();
        self.net()
            .open(socket, token, budget)
            .expect("no trap")
            .expect("open")
    }

    fn client_ctx(&mut self, options: ClientOptions) -> Resource<Context> {
        self.net()
            .client(options)
            .expect("no trap")
            .expect("client context")
    }

    fn server_ctx(&mut self, options: ServerOptions) -> Resource<Context> {
        self.net()
            .server(options)
            .expect("no trap")
            .expect("server context")
    }

    fn start(
        &mut self,
        stream: &Resource<Stream>,
        ctx: &Resource<Context>,
        name: Option<&str>,
    ) -> Result<(), Error> {
        self.net()
            .start(borrow(stream), borrow(ctx), name.map(str::to_owned))
            .expect("no trap")
    }

    fn info(&mut self, stream: &Resource<Stream>) -> Option<SessionInfo> {
        self.net().info(borrow(stream)).expect("no trap")
    }

    fn write(&mut self, stream: &Resource<Stream>, data: &[u8]) -> u64 {
        self.net()
            .write(borrow(stream), data.to_vec())
            .expect("no trap")
            .expect("write")
            .buffered
    }

    /// Waits, adding what the events say to `pair.seen`, until `done` holds (at most 2000
    /// waits of at most 5 s each: a test that hangs fails).
    fn pump(&mut self, pair: &mut Pair, mut done: impl FnMut(&mut Fixture, &Pair) -> bool) {
        for _ in 0..2000 {
            if done(self, pair) {
                return;
            }
            for event in self.wait(Some(5_000_000_000)) {
                let seen = &mut pair.seen[event.token as usize];
                seen.data.extend_from_slice(&event.data);
                if event.readiness.contains(Interest::WRITABLE) {
                    seen.writable += 1;
                }
                if event.readiness.contains(Interest::HANGUP) {
                    seen.hangup = true;
                }
                seen.last_buffered = event.write_buffered;
                if event.error.is_some() {
                    seen.error = event.error;
                }
            }
        }
        panic!("the streams never got there: {:?}", pair.seen);
    }

    /// Waits until each side completed its handshake or failed.
    fn handshake(&mut self, pair: &mut Pair) {
        self.pump(pair, |fx, pair| {
            (pair.seen[0].error.is_some() || fx.info(&pair.client).is_some())
                && (pair.seen[1].error.is_some() || fx.info(&pair.server).is_some())
        });
    }

    /// A pair with TLS started on both sides (client first, with `name`).
    fn tls_pair(
        &mut self,
        client: ClientOptions,
        server: ServerOptions,
        name: Option<&str>,
    ) -> Pair {
        let pair = self.tcp_pair(BUDGET);
        let client = self.client_ctx(client);
        let server = self.server_ctx(server);
        self.start(&pair.client, &client, name)
            .expect("start client");
        self.start(&pair.server, &server, None)
            .expect("start server");
        pair
    }
}

fn tls_error(seen: &Seen) -> &Error {
    let err = seen.error.as_ref().expect("the stream failed");
    assert_eq!(err.kind, ErrorKind::Tls, "{err:?}");
    err
}

/// Bytes that differ at every offset a test might get wrong.
fn contents(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

#[test]
fn the_handshake_completes_on_both_sides_and_info_tells_the_session() {
    let mut fx = Fixture::loopback();
    let mut client = client_options();
    client.alpn = vec![b"http/1.1".to_vec(), b"h2".to_vec()];
    let mut server = server_options();
    server.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut pair = fx.tls_pair(client, server, Some("localhost"));
    assert!(
        fx.info(&pair.client).is_none(),
        "no session before the handshake"
    );

    fx.handshake(&mut pair);

    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    assert!(
        pair.seen[0].writable >= 1,
        "the completion is a writable event"
    );
    assert!(
        pair.seen[1].writable >= 1,
        "the completion is a writable event"
    );
    let client = fx.info(&pair.client).unwrap();
    let server = fx.info(&pair.server).unwrap();
    assert_eq!(client.protocol_version, "TLSv1.3");
    assert!(
        client.cipher_suite.starts_with("TLS_"),
        "{}",
        client.cipher_suite
    );
    assert!(
        !client.cipher_suite.starts_with("TLS13"),
        "{}",
        client.cipher_suite
    );
    assert_eq!(client.cipher_suite, server.cipher_suite);
    assert!([128, 256].contains(&client.secret_bits), "{client:?}");
    assert_eq!(
        client.alpn_protocol.as_deref(),
        Some(&b"h2"[..]),
        "the server's preference"
    );
    assert_eq!(server.alpn_protocol.as_deref(), Some(&b"h2"[..]));
    assert_eq!(client.server_name.as_deref(), Some("localhost"));
    assert_eq!(server.server_name.as_deref(), Some("localhost"), "from SNI");
    let server_leaf =
        rustls::pki_types::CertificateDer::from_pem_slice(&pki().server.cert_chain_pem).unwrap();
    assert_eq!(client.peer_certificates, vec![server_leaf.to_vec()]);
    assert!(
        server.peer_certificates.is_empty(),
        "the client presented none"
    );
}

use rustls::pki_types::pem::PemObject as _;

#[test]
fn plaintext_goes_both_ways_byte_exact() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    // Written before the handshake completes: sent once it has.
    fx.write(&pair.client, b"hello over tls");
    fx.handshake(&mut pair);
    fx.write(&pair.server, b"and back");

    fx.pump(&mut pair, |_, pair| {
        pair.seen[1].data.len() >= 14 && pair.seen[0].data.len() >= 8
    });

    assert_eq!(pair.seen[1].data, b"hello over tls");
    assert_eq!(pair.seen[0].data, b"and back");
    assert!(pair.seen[0].error.is_none() && pair.seen[1].error.is_none());
}

#[test]
fn ten_mebibytes_arrive_byte_exact_and_the_buffer_drains_to_zero() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.handshake(&mut pair);
    let sent = contents(10 << 20);
    let mut buffered = 0;
    for chunk in sent.chunks(1 << 20) {
        buffered = fx.write(&pair.client, chunk);
    }
    assert!(buffered > 0, "the socket cannot take 10 MiB at once");

    fx.pump(&mut pair, |fx, pair| {
        pair.seen[1].data.len() >= sent.len()
            && fx.table.get(&pair.client).unwrap().write_buffered() == 0
    });

    assert_eq!(pair.seen[1].data.len(), sent.len());
    assert!(pair.seen[1].data == sent, "the bytes differ");
    assert_eq!(pair.seen[0].last_buffered, 0, "the last flush reported 0");
    assert!(pair.seen[0].error.is_none() && pair.seen[1].error.is_none());
}

#[test]
fn under_the_buffer_limit_tls_writes_take_what_fits_and_the_rest_goes_later() {
    const LIMIT: u64 = 256 << 10;
    let mut policy = crate::testing::loopback_policy();
    policy.limits.buffered_bytes = Some(LIMIT);
    let mut fx = Fixture::new(policy);
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.handshake(&mut pair);
    // The server does not read: the kernel's buffers fill, then the host's room.
    fx.net()
        .set_reading(borrow(&pair.server), false)
        .unwrap()
        .unwrap();
    let sent = contents(16 << 20);
    let mut at = 0;
    for chunk in sent.chunks(1 << 20) {
        let written = fx
            .net()
            .write(borrow(&pair.client), chunk.to_vec())
            .unwrap()
            .unwrap();
        // Sealing adds a record header and tag to what was taken: a little over the limit.
        assert!(written.buffered <= LIMIT + LIMIT / 100, "{written:?}");
        at += written.taken as usize;
        if written.taken < chunk.len() as u64 {
            break;
        }
    }
    assert!(at < sent.len(), "the host took everything ({at} bytes)");

    // Reading again, the server takes it all; the client writes the rest as room comes.
    fx.net()
        .set_reading(borrow(&pair.server), true)
        .unwrap()
        .unwrap();
    fx.pump(&mut pair, |fx, pair| {
        while at < sent.len() {
            let chunk = sent[at..sent.len().min(at + (1 << 20))].to_vec();
            let len = chunk.len() as u64;
            let written = fx
                .net()
                .write(borrow(&pair.client), chunk)
                .unwrap()
                .unwrap();
            at += written.taken as usize;
            if written.taken < len {
                break;
            }
        }
        pair.seen[1].data.len() >= sent.len()
    });
    assert!(pair.seen[1].data == sent, "the bytes differ");
    assert!(pair.seen[0].error.is_none() && pair.seen[1].error.is_none());
}

#[test]
fn plaintext_past_the_read_budget_comes_in_the_next_waits() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tcp_pair(100);
    let client = fx.client_ctx(client_options());
    let server = fx.server_ctx(server_options());
    fx.start(&pair.client, &client, Some("localhost")).unwrap();
    fx.start(&pair.server, &server, None).unwrap();
    fx.handshake(&mut pair);
    let sent = contents(10_000);
    fx.write(&pair.client, &sent);

    let mut events = 0;
    fx.pump(&mut pair, |_, pair| {
        events += 1;
        pair.seen[1].data.len() >= sent.len()
    });

    // Each event carries at most the budget: the host held the rest of each record and
    // served it without a new edge from the kernel.
    assert!(events >= 100, "{events} waits");
    assert!(pair.seen[1].data == sent);
}

#[test]
fn a_certificate_for_another_name_fails_naming_the_name() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("wrong.example"));

    fx.pump(&mut pair, |_, pair| {
        pair.seen[0].error.is_some() && pair.seen[1].error.is_some()
    });

    let err = tls_error(&pair.seen[0]);
    assert!(err.message.contains("wrong.example"), "{}", err.message);
    assert!(
        err.message.contains("tls handshake with 127.0.0.1:"),
        "{}",
        err.message
    );
    assert!(pair.seen[0].hangup);
    // The server hears the client's alert.
    tls_error(&pair.seen[1]);
    assert!(fx.info(&pair.client).is_none());
}

#[test]
fn an_untrusted_ca_fails() {
    let mut fx = Fixture::loopback();
    let mut server = server_options();
    server.identity = pki().other_server.clone();
    let mut pair = fx.tls_pair(client_options(), server, Some("localhost"));

    fx.pump(&mut pair, |_, pair| {
        pair.seen[0].error.is_some() && pair.seen[1].error.is_some()
    });

    let err = tls_error(&pair.seen[0]);
    assert!(err.message.contains("UnknownIssuer"), "{}", err.message);
    tls_error(&pair.seen[1]);

    // A client that trusts both bundles accepts it.
    let mut client = client_options();
    client.ca_pem.push(pki().other_ca.clone().into_bytes());
    let mut server = server_options();
    server.identity = pki().other_server.clone();
    let mut pair = fx.tls_pair(client, server, Some("localhost"));
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
}

#[test]
fn verify_off_accepts_an_untrusted_certificate() {
    let mut fx = Fixture::loopback();
    let mut client = client_options();
    client.verify = false;
    client.ca_pem.clear();
    let mut server = server_options();
    server.identity = pki().other_server.clone();
    let mut pair = fx.tls_pair(client, server, None);

    fx.handshake(&mut pair);

    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    let info = fx.info(&pair.client).unwrap();
    assert_eq!(info.server_name, None);
    assert_eq!(info.peer_certificates.len(), 1);
    // No SNI was sent.
    assert_eq!(fx.info(&pair.server).unwrap().server_name, None);
}

#[test]
fn check_hostname_off_accepts_another_name_but_not_an_untrusted_ca() {
    let mut fx = Fixture::loopback();
    let mut client = client_options();
    client.check_hostname = false;
    let mut pair = fx.tls_pair(client.clone(), server_options(), Some("wrong.example"));
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    // Without a name at all, too.
    let mut pair = fx.tls_pair(client.clone(), server_options(), None);
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );

    let mut server = server_options();
    server.identity = pki().other_server.clone();
    let mut pair = fx.tls_pair(client, server, Some("localhost"));
    fx.pump(&mut pair, |_, pair| pair.seen[0].error.is_some());
    assert!(tls_error(&pair.seen[0]).message.contains("UnknownIssuer"));
}

#[test]
fn an_ip_address_server_name_is_checked_against_the_certificate() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("127.0.0.1"));
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    assert_eq!(
        fx.info(&pair.client).unwrap().server_name.as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        fx.info(&pair.server).unwrap().server_name,
        None,
        "no SNI for an IP"
    );

    let mut pair = fx.tls_pair(client_options(), server_options(), Some("127.0.0.2"));
    fx.pump(&mut pair, |_, pair| pair.seen[0].error.is_some());
    assert!(tls_error(&pair.seen[0]).message.contains("127.0.0.2"));
}

#[test]
fn a_required_client_certificate_is_checked() {
    let mut fx = Fixture::loopback();
    let mut server = server_options();
    server.client_auth = ClientAuth::Required;
    server.client_ca_pem = vec![pki().ca.clone().into_bytes()];

    // Without one: the server refuses, and its alert reaches the client.
    let mut pair = fx.tls_pair(client_options(), server.clone(), Some("localhost"));
    fx.pump(&mut pair, |_, pair| {
        pair.seen[0].error.is_some() && pair.seen[1].error.is_some()
    });
    tls_error(&pair.seen[1]);
    tls_error(&pair.seen[0]);

    // With one.
    let mut client = client_options();
    client.identity = Some(pki().client.clone());
    let mut pair = fx.tls_pair(client, server, Some("localhost"));
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    assert_eq!(fx.info(&pair.server).unwrap().peer_certificates.len(), 1);
}

#[test]
fn an_optional_client_certificate_may_be_missing() {
    let mut fx = Fixture::loopback();
    let mut server = server_options();
    server.client_auth = ClientAuth::Optional;
    server.client_ca_pem = vec![pki().ca.clone().into_bytes()];
    let mut pair = fx.tls_pair(client_options(), server, Some("localhost"));
    fx.write(&pair.client, b"ping");
    fx.pump(&mut pair, |_, pair| {
        pair.seen[1].data.len() >= 4 || pair.seen[1].error.is_some()
    });
    assert_eq!(pair.seen[1].data, b"ping");
    assert!(fx.info(&pair.server).unwrap().peer_certificates.is_empty());
}

#[test]
fn write_eof_sends_close_notify_and_the_peer_sees_a_clean_end() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.write(&pair.client, b"last words");
    fx.net().write_eof(borrow(&pair.client)).unwrap().unwrap();

    fx.pump(&mut pair, |_, pair| pair.seen[1].hangup);

    assert_eq!(pair.seen[1].data, b"last words");
    assert!(pair.seen[1].error.is_none(), "{:?}", pair.seen[1].error);
    // The server can still answer: the client reads on.
    fx.write(&pair.server, b"goodbye");
    fx.net().write_eof(borrow(&pair.server)).unwrap().unwrap();
    fx.pump(&mut pair, |_, pair| pair.seen[0].hangup);
    assert_eq!(pair.seen[0].data, b"goodbye");
    assert!(pair.seen[0].error.is_none(), "{:?}", pair.seen[0].error);
}

#[test]
fn a_peer_that_closes_without_close_notify_is_a_tls_error() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.handshake(&mut pair);
    // The client reads all that came (the session tickets too), so that closing its
    // socket sends a FIN, not a reset.
    fx.write(&pair.server, b"x");
    fx.pump(&mut pair, |_, pair| !pair.seen[0].data.is_empty());
    // Dropping a stream closes its socket; no close_notify is due then.
    let client = Resource::<Stream>::new_own(pair.client.rep());
    crate::bindings::net::HostStream::drop(&mut fx.net(), client).unwrap();

    fx.pump(&mut pair, |_, pair| pair.seen[1].hangup);

    let err = tls_error(&pair.seen[1]);
    assert!(err.message.contains("close_notify"), "{}", err.message);
}

#[test]
fn a_peer_that_closes_during_the_handshake_is_a_tls_error() {
    let mut fx = Fixture::loopback();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().unwrap();
    let stream = fx.open_tcp(ours, SERVER, BUDGET);
    let ctx = fx.server_ctx(server_options());
    fx.start(&stream, &ctx, None).unwrap();
    drop(peer);

    let event = fx.next_event(SERVER);

    let err = event.error.expect("the handshake failed");
    assert_eq!(err.kind, ErrorKind::Tls);
    assert!(err.message.contains("handshake"), "{}", err.message);
}

#[test]
fn starttls_sends_the_plaintext_buffered_before_start_first() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tcp_pair(BUDGET);
    // A plaintext reply too large for the socket: most of it stays buffered.
    let reply = contents(4 << 20);
    let buffered = fx.write(&pair.server, &reply);
    assert!(buffered > 0, "the reply is still buffered when TLS starts");
    let server_ctx = fx.server_ctx(server_options());
    fx.start(&pair.server, &server_ctx, None).unwrap();
    assert!(fx.table.get(&pair.server).unwrap().write_buffered() > 0);

    // The client reads the whole plaintext reply, then starts TLS itself.
    fx.pump(&mut pair, |_, pair| pair.seen[0].data.len() >= reply.len());
    assert!(
        pair.seen[0].data == reply,
        "the plaintext came first, unchanged"
    );
    let client_ctx = fx.client_ctx(client_options());
    fx.start(&pair.client, &client_ctx, Some("localhost"))
        .unwrap();
    fx.handshake(&mut pair);
    assert!(
        pair.seen[0].error.is_none() && pair.seen[1].error.is_none(),
        "{:?}",
        pair.seen
    );
    fx.write(&pair.server, b"secret");
    fx.pump(&mut pair, |_, pair| {
        pair.seen[0].data.len() >= reply.len() + 6
    });
    assert_eq!(&pair.seen[0].data[reply.len()..], b"secret");
}

#[test]
fn the_handshake_completes_while_the_guest_does_not_read() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.net()
        .set_reading(borrow(&pair.server), false)
        .unwrap()
        .unwrap();
    fx.write(&pair.client, b"held");
    fx.handshake(&mut pair);
    assert!(pair.seen[1].error.is_none());

    // The plaintext waits in the host until reading is back on.
    for _ in 0..3 {
        fx.pump(&mut pair, |_, _| true);
        fx.wait(Some(10_000_000));
    }
    assert!(pair.seen[1].data.is_empty());
    fx.net()
        .set_reading(borrow(&pair.server), true)
        .unwrap()
        .unwrap();
    fx.pump(&mut pair, |_, pair| pair.seen[1].data.len() >= 4);
    assert_eq!(pair.seen[1].data, b"held");
}

#[test]
fn a_context_dropped_while_streams_use_it_keeps_working_for_them() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tcp_pair(BUDGET);
    let client = fx.client_ctx(client_options());
    let server = fx.server_ctx(server_options());
    assert!(!fx.net().is_server(borrow(&client)).unwrap());
    assert!(fx.net().is_server(borrow(&server)).unwrap());
    fx.start(&pair.client, &client, Some("localhost")).unwrap();
    fx.start(&pair.server, &server, None).unwrap();
    crate::bindings::tls::HostContext::drop(&mut fx.net(), client).unwrap();
    crate::bindings::tls::HostContext::drop(&mut fx.net(), server).unwrap();

    fx.write(&pair.client, b"still here");
    fx.pump(&mut pair, |_, pair| pair.seen[1].data.len() >= 10);
    assert_eq!(pair.seen[1].data, b"still here");
}

#[test]
fn send_file_over_tls_is_unsupported() {
    let mut fx = Fixture::loopback();
    let pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    let path = std::env::temp_dir().join(format!("sandloop-tls-unit-{}", std::process::id()));
    std::fs::write(&path, b"file bytes").unwrap();
    let file = File::new(
        std::fs::File::open(&path).unwrap(),
        FsPerms::ReadOnly,
        OpenMode::READ,
        true,
    );
    let _ = std::fs::remove_file(&path);
    let file: Resource<Descriptor> = fx.table.push(Descriptor::File(file)).unwrap();

    let err = fx
        .net()
        .send_file(borrow(&pair.client), file, 0, 10)
        .unwrap()
        .unwrap_err();

    assert_eq!(err.kind, ErrorKind::Unsupported);
    assert!(
        err.message.contains("send-file over TLS"),
        "{}",
        err.message
    );
}

#[test]
fn bad_start_calls_are_errors() {
    let mut fx = Fixture::loopback();
    let pair = fx.tcp_pair(BUDGET);
    let client = fx.client_ctx(client_options());

    let err = fx.start(&pair.client, &client, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("server-name"), "{}", err.message);
    let err = fx
        .start(&pair.client, &client, Some("not a name!"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("not a name!"), "{}", err.message);

    fx.start(&pair.client, &client, Some("localhost")).unwrap();
    let err = fx
        .start(&pair.client, &client, Some("localhost"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
    assert!(err.message.contains("already"), "{}", err.message);

    // A stream that wrote its end cannot start.
    let server = fx.server_ctx(server_options());
    fx.net().write_eof(borrow(&pair.server)).unwrap().unwrap();
    let err = fx.start(&pair.server, &server, None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidInput);
}

fn client_error(options: ClientOptions) -> Error {
    match super::Context::client(options.into()) {
        Ok(_) => panic!("the options were accepted"),
        Err(err) => err.into(),
    }
}

fn server_error(options: ServerOptions) -> Error {
    match super::Context::server(options.into()) {
        Ok(_) => panic!("the options were accepted"),
        Err(err) => err.into(),
    }
}

#[test]
fn bad_context_options_are_invalid_input_saying_what_is_wrong() {
    let cases: Vec<(Error, &str)> = vec![
        (
            client_error(ClientOptions {
                ca_pem: vec![b"garbage, not PEM".to_vec()],
                ..client_options()
            }),
            "no PEM certificate",
        ),
        (
            client_error(ClientOptions {
                ca_pem: vec![b"-----BEGIN CERTIFICATE-----\nnot base64!\n".to_vec()],
                ..client_options()
            }),
            "ca-pem[0]",
        ),
        (
            client_error(ClientOptions {
                ca_pem: Vec::new(),
                ..client_options()
            }),
            "no trust anchor",
        ),
        (
            client_error(ClientOptions {
                verify: false,
                ca_pem: vec![b"garbage".to_vec()],
                ..client_options()
            }),
            "no PEM certificate",
        ),
        (
            client_error(ClientOptions {
                alpn: vec![Vec::new()],
                ..client_options()
            }),
            "alpn",
        ),
        (
            client_error(ClientOptions {
                identity: Some(Identity {
                    cert_chain_pem: pki().client.cert_chain_pem.clone(),
                    key_pem: pki().server.key_pem.clone(),
                }),
                ..client_options()
            }),
            "identity",
        ),
        (
            server_error(ServerOptions {
                identity: Identity {
                    cert_chain_pem: Vec::new(),
                    key_pem: Vec::new(),
                },
                ..server_options()
            }),
            "no PEM certificate",
        ),
        (
            server_error(ServerOptions {
                identity: Identity {
                    cert_chain_pem: pki().server.cert_chain_pem.clone(),
                    key_pem: b"no key here".to_vec(),
                },
                ..server_options()
            }),
            "no PEM private key",
        ),
        (
            server_error(ServerOptions {
                identity: Identity {
                    cert_chain_pem: pki().server.cert_chain_pem.clone(),
                    key_pem: pki().client.key_pem.clone(),
                },
                ..server_options()
            }),
            "identity",
        ),
        (
            server_error(ServerOptions {
                client_auth: ClientAuth::Required,
                client_ca_pem: Vec::new(),
                ..server_options()
            }),
            "client-ca-pem",
        ),
    ];
    for (err, words) in cases {
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{err:?}");
        assert!(
            err.message.contains(words),
            "{words:?} in {:?}",
            err.message
        );
    }
}

#[test]
fn a_key_that_does_not_match_says_so() {
    let err = server_error(ServerOptions {
        identity: Identity {
            cert_chain_pem: pki().server.cert_chain_pem.clone(),
            key_pem: pki().client.key_pem.clone(),
        },
        ..server_options()
    });
    assert!(
        err.message.to_lowercase().contains("key"),
        "{}",
        err.message
    );
}

#[test]
fn system_roots_load_or_say_there_are_none() {
    // The machine's store may be empty; either way no panic, and a CA bundle suffices.
    let with_system = ClientOptions {
        system_roots: true,
        ..client_options()
    };
    assert!(super::Context::client(with_system.into()).is_ok());
    let only_system = ClientOptions {
        system_roots: true,
        ca_pem: Vec::new(),
        ..client_options()
    };
    if let Err(err) = super::Context::client(only_system.into()) {
        assert!(err.message.contains("no trust anchor"), "{}", err.message);
    }
}

#[test]
fn cipher_suites_get_their_iana_names_and_key_sizes() {
    use rustls::CipherSuite;
    let cases = [
        (
            CipherSuite::TLS13_AES_256_GCM_SHA384,
            "TLS_AES_256_GCM_SHA384",
            256,
        ),
        (
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            "TLS_AES_128_GCM_SHA256",
            128,
        ),
        (
            CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
            "TLS_CHACHA20_POLY1305_SHA256",
            256,
        ),
        (
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            128,
        ),
        (
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            256,
        ),
    ];
    for (suite, name, bits) in cases {
        assert_eq!(super::iana_name(suite), name);
        assert_eq!(super::secret_bits(name), bits);
    }
}

#[test]
fn a_tls12_session_reports_its_version_and_suite() {
    let mut fx = Fixture::loopback();
    // A server that speaks only TLS 1.2 (no context option asks for that: built here).
    let chain = super::context::parse_certs(&pki().server.cert_chain_pem, "chain").unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&pki().server.key_pem).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let server = fx
        .table
        .push(Context {
            role: super::context::Role::Server(std::sync::Arc::new(config)),
        })
        .unwrap();
    let client = fx.client_ctx(client_options());
    let mut pair = fx.tcp_pair(BUDGET);
    fx.start(&pair.client, &client, Some("localhost")).unwrap();
    fx.start(&pair.server, &server, None).unwrap();
    fx.write(&pair.client, b"twelve");

    fx.handshake(&mut pair);
    fx.pump(&mut pair, |_, pair| pair.seen[1].data.len() >= 6);

    let info = fx.info(&pair.client).unwrap();
    assert_eq!(info.protocol_version, "TLSv1.2");
    assert!(
        info.cipher_suite.starts_with("TLS_ECDHE_ECDSA_WITH_"),
        "{}",
        info.cipher_suite
    );
    assert_eq!(pair.seen[1].data, b"twelve");
}

#[test]
fn tls_runs_over_unix_stream_sockets_too() {
    let mut fx = Fixture::loopback();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let streams = [(a, CLIENT), (b, SERVER)].map(|(end, token)| {
        end.set_nonblocking(true).unwrap();
        let socket = Socket::new(
            socket2::Socket::from(OwnedFd::from(end)),
            AddressFamily::Unix.into(),
        );
        let socket = fx.table.push(socket).unwrap();
        fx.net()
            .open(socket, token, BUDGET)
            .expect("no trap")
            .expect("open")
    });
    let [client, server] = streams;
    let mut pair = Pair {
        client,
        server,
        seen: Default::default(),
    };
    let client_ctx = fx.client_ctx(client_options());
    let server_ctx = fx.server_ctx(server_options());
    fx.start(&pair.client, &client_ctx, Some("localhost"))
        .unwrap();
    fx.start(&pair.server, &server_ctx, None).unwrap();
    fx.write(&pair.client, b"over a unix socket");

    fx.pump(&mut pair, |_, pair| {
        pair.seen[1].data.len() >= 18 || pair.seen[1].error.is_some()
    });

    assert_eq!(pair.seen[1].data, b"over a unix socket");
    assert!(fx.info(&pair.server).is_some());
}

#[test]
fn write_eof_before_the_handshake_completes_waits_for_it() {
    let mut fx = Fixture::loopback();
    let mut pair = fx.tls_pair(client_options(), server_options(), Some("localhost"));
    fx.write(&pair.client, b"early");
    fx.net().write_eof(borrow(&pair.client)).unwrap().unwrap();
    assert!(fx.info(&pair.client).is_none(), "still handshaking");

    fx.pump(&mut pair, |_, pair| pair.seen[1].hangup);

    assert_eq!(pair.seen[1].data, b"early");
    assert!(pair.seen[1].error.is_none(), "{:?}", pair.seen[1].error);
    assert_eq!(fx.table.get(&pair.client).unwrap().write_buffered(), 0);
    let err = fx
        .net()
        .write(borrow(&pair.client), b"late".to_vec())
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BrokenPipe);
}

/// A file in the temp directory, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("sandloop-tls-unit-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The next connection to `listener`; a peer that never connects fails the test.
fn accept_within(listener: &TcpListener, patience: std::time::Duration) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + patience;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "nobody connected");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(err) => panic!("accept: {err}"),
        }
    }
}

/// Adds the events under `token` to `seen` until `done` holds or the stream fails.
fn serve_until(fx: &mut Fixture, token: u64, seen: &mut Seen, done: &dyn Fn(&Seen) -> bool) {
    while !done(seen) && seen.error.is_none() {
        let event = fx.next_event(token);
        seen.data.extend_from_slice(&event.data);
        seen.hangup |= event.readiness.contains(Interest::HANGUP);
        seen.error = event.error;
    }
}

#[test]
fn cpython_as_a_client_talks_to_a_host_server_stream() {
    let ca = TempFile::new("py-client-ca.pem", pki().ca.as_bytes());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // CPython's ssl (OpenSSL): verifies the host's certificate for "localhost", offers
    // ALPN, sends a line, reads the answer, then closes with close_notify (unwrap).
    let script = format!(
        r#"
import socket, ssl
ctx = ssl.create_default_context(cafile={ca:?})
ctx.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection(("127.0.0.1", {port}), timeout=10) as raw:
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    tls.sendall(b"hello from cpython")
    answer = b""
    while len(answer) < 11:
        answer += tls.recv(100)
    print(tls.version(), tls.selected_alpn_protocol(), answer.decode())
    tls.unwrap()
"#,
        ca = ca.0.to_str().unwrap(),
    );
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let ours = accept_within(&listener, std::time::Duration::from_secs(10));
    let mut fx = Fixture::loopback();
    let server = fx.open_tcp(ours, SERVER, BUDGET);
    let mut options = server_options();
    options.alpn = vec![b"http/1.1".to_vec()];
    let ctx = fx.server_ctx(options);
    fx.start(&server, &ctx, None).unwrap();

    let mut seen = Seen::default();
    serve_until(&mut fx, SERVER, &mut seen, &|seen| seen.data.len() >= 18);
    assert_eq!(seen.data, b"hello from cpython");
    fx.write(&server, b"hello again");
    // Its close_notify is a clean end; ours answers it, which its unwrap waits for.
    serve_until(&mut fx, SERVER, &mut seen, &|seen| seen.hangup);
    assert!(seen.error.is_none(), "close_notify: {:?}", seen.error);
    fx.net().write_eof(borrow(&server)).unwrap().unwrap();
    let output = child.wait_with_output().unwrap();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout.trim(), "TLSv1.3 http/1.1 hello again");
    let info = fx.info(&server).unwrap();
    assert_eq!(info.server_name.as_deref(), Some("localhost"));
    assert_eq!(info.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn a_host_client_stream_talks_to_a_cpython_server() {
    let chain = TempFile::new("py-server-chain.pem", &pki().server.cert_chain_pem);
    let key = TempFile::new("py-server-key.pem", &pki().server.key_pem);
    // CPython's ssl (OpenSSL) as the server: answers a line in capitals, then closes with
    // close_notify and waits for ours.
    let script = format!(
        r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain({chain:?}, {key:?})
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_server(("127.0.0.1", 0)) as listener:
    print(listener.getsockname()[1], flush=True)
    listener.settimeout(10)
    raw, _ = listener.accept()
    raw.settimeout(10)
    tls = ctx.wrap_socket(raw, server_side=True)
    line = tls.recv(100)
    tls.sendall(line.upper())
    version = tls.version()
    tls.unwrap()
    print(version, flush=True)
"#,
        chain = chain.0.to_str().unwrap(),
        key = key.0.to_str().unwrap(),
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut port = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut port).unwrap();
    let port: u16 = port.trim().parse().expect("the server's port");

    let mut fx = Fixture::loopback();
    let client = fx.open_tcp(
        TcpStream::connect(("127.0.0.1", port)).unwrap(),
        CLIENT,
        BUDGET,
    );
    let mut options = client_options();
    options.alpn = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let ctx = fx.client_ctx(options);
    fx.start(&client, &ctx, Some("localhost")).unwrap();
    fx.write(&client, b"shout this");
    let mut seen = Seen::default();
    serve_until(&mut fx, CLIENT, &mut seen, &|seen| seen.hangup);
    fx.net().write_eof(borrow(&client)).unwrap().unwrap();
    let status = child.wait().unwrap();

    assert!(seen.error.is_none(), "{:?}", seen.error);
    assert_eq!(seen.data, b"SHOUT THIS");
    let mut version = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut version).unwrap();
    assert!(status.success());
    assert_eq!(version.trim(), "TLSv1.3");
    let info = fx.info(&client).unwrap();
    assert_eq!(info.alpn_protocol.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(info.peer_certificates.len(), 1);
}
