//! The TLS examples with clients and servers nobody here wrote: `https_hello` answers curl
//! and `openssl s_client`, and `tls_client` fetches from a CPython TLS server, all with
//! the development certificates of `cargo xtask dev-cert` made afresh for each test.

mod common;

#[path = "../../xtask/src/dev_cert.rs"]
mod dev_cert;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory with `ca.pem`, `cert.pem` and `key.pem`, removed when dropped.
struct Certs(PathBuf);

impl Certs {
    fn new() -> Certs {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("sandloop-tls-examples-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dev_cert::write(&dir).expect("write the development certificates");
        Certs(dir)
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `https_hello` serving on a free port of 127.0.0.1 with `certs`, once it says so.
fn https_hello(certs: &Certs) -> (common::Cli, u16) {
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    let dir = format!("{}::/certs", certs.dir().display());
    let (cli, line) = common::start_cli(
        &["--allow-listen", &addr, "--dir", &dir],
        "https_hello",
        &[&addr, "/certs/cert.pem", "/certs/key.pem"],
    );
    assert_eq!(line, format!("Serving on https://{addr}/\n"));
    (cli, port)
}

#[track_caller]
fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn https_hello_answers_curl_trusting_the_development_ca() {
    let certs = Certs::new();
    let (_server, port) = https_hello(&certs);
    let url = format!("https://localhost:{port}/");
    // Two URLs in one run: the second request reuses the TLS connection (keep-alive).
    let out = Command::new("curl")
        .args(["-sS", "-v", "--http1.1", "--cacert", &certs.file("ca.pem")])
        .args([
            "--resolve",
            &format!("localhost:{port}:127.0.0.1"),
            &url,
            &url,
        ])
        .output()
        .expect("run curl");
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, World!Hello, World!"
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("TLSv1.3"), "curl's log:\n{log}");
    assert!(
        log.contains("ALPN: server accepted http/1.1"),
        "curl's log:\n{log}"
    );
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "curl did not reuse the connection:\n{log}"
    );
}

#[test]
fn curl_refuses_https_hello_without_the_ca() {
    let certs = Certs::new();
    let (_server, port) = https_hello(&certs);
    let out = Command::new("curl")
        .args(["-sS", &format!("https://127.0.0.1:{port}/")])
        .output()
        .expect("run curl");
    assert!(
        !out.status.success(),
        "curl trusted a development CA it was not given"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn https_hello_answers_openssl_s_client_and_closes_with_close_notify() {
    use std::io::Write as _;
    let certs = Certs::new();
    let (_server, port) = https_hello(&certs);
    let mut client = Command::new("openssl")
        .args([
            "s_client",
            "-brief",
            "-connect",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["-CAfile", &certs.file("ca.pem"), "-servername", "localhost"])
        .args(["-verify_hostname", "localhost", "-verify_return_error"])
        .args(["-alpn", "http/1.1", "-ign_eof"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    client
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("send the request");
    let out = client.wait_with_output().expect("wait for openssl");
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{stdout}");
    assert!(stdout.ends_with("\r\n\r\nHello, World!"), "{stdout}");
    let log = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "Protocol version: TLSv1.3",
        "Verification: OK",
        "Verified peername: localhost",
    ] {
        assert!(log.contains(expected), "no {expected:?} in:\n{log}");
    }
    // The server closed after its answer with close_notify: openssl saw no truncation.
    assert!(!log.contains("unexpected eof"), "{log}");
}

/// A CPython TLS server: answers one HTTP request with a fixed body, ALPN `http/1.1`;
/// prints its port first.
const CPYTHON_TLS_SERVER: &str = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
ctx.set_alpn_protocols(["http/1.1"])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
with ctx.wrap_socket(conn, server_side=True) as tls:
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = tls.recv(4096)
        if not chunk:
            break
        request += chunk
    body = b"hello from CPython " + tls.version().encode()
    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
    tls.unwrap()
"#;

/// Runs `tls_client` against a CPython TLS server with `certs`, with `client_args` after
/// the address.
fn tls_client_against_cpython(certs: &Certs, client_args: &[&str]) -> Output {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new("python3")
        .args([
            "-c",
            CPYTHON_TLS_SERVER,
            &certs.file("cert.pem"),
            &certs.file("key.pem"),
        ])
        .stdout(std::process::Stdio::piped())
        // A refused handshake makes it print a traceback: the client's output is the test.
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the CPython server");
    let mut port = String::new();
    BufReader::new(server.stdout.take().expect("piped stdout"))
        .read_line(&mut port)
        .expect("the server's port");
    let addr = format!("127.0.0.1:{}", port.trim());
    let dir = format!("{}::/certs", certs.dir().display());
    let out = Command::new(env!("CARGO_BIN_EXE_sandloop"))
        .args(["run", "--allow-connect", &addr, "--dir", &dir])
        .arg(test_programs_artifacts::program("tls_client"))
        .arg("--")
        .arg(&addr)
        .args(client_args)
        .output()
        .expect("run tls_client");
    let _ = server.kill();
    let _ = server.wait();
    out
}

#[test]
fn tls_client_fetches_from_a_cpython_tls_server() {
    let certs = Certs::new();
    let out = tls_client_against_cpython(&certs, &["localhost", "/certs/ca.pem"]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let first = lines.next().unwrap_or_default();
    assert!(
        first.starts_with("localhost with 127.0.0.1:")
            && first.ends_with(": TLSv1.3, ALPN http/1.1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\r\n\r\nhello from CPython TLSv1.3"),
        "{stdout}"
    );
}

#[test]
fn tls_client_refuses_a_server_whose_ca_it_does_not_trust() {
    let certs = Certs::new();
    // No CA file: the host's root store, which does not know the development CA.
    let out = tls_client_against_cpython(&certs, &["localhost"]);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
}
