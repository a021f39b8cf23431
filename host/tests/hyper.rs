//! hyper and axum on sandloop (the `hyper` feature): the `hyper_hello`, `hyper_client` and
//! `axum_hello` examples run by the CLI, answering curl and raw TCP clients on loopback.
//! Servers run in debug mode (`SANDLOOP_DEBUG=1`), where `sandloop::hyper::serve` logs
//! each connection that ended with an error (`hyper connection ended: ...`): a clean close
//! must log none.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Cli, PATIENCE, free_port, output_within};

/// A server example running under the CLI, with its stderr collected.
struct Served {
    cli: Option<Cli>,
    port: u16,
    stderr: mpsc::Receiver<String>,
}

impl Served {
    /// Starts `example` on a free port of 127.0.0.1 in debug mode, with `flags` for the
    /// host and `args` after the address, and waits for its "Serving on" line.
    fn start(example: &str, flags: &[&str], args: &[&str]) -> Served {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut cli = Cli::spawn(
            Command::new(env!("CARGO_BIN_EXE_sandloop"))
                .arg("run")
                .args(["--allow-listen", &addr])
                .args(flags)
                .arg(test_programs_artifacts::program(example))
                .arg("--")
                .arg(&addr)
                .args(args)
                .env("SANDLOOP_DEBUG", "1")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let mut stderr = cli.take_stderr();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = tx.send(text);
        });
        let line = cli.stdout_lines().next_line();
        assert!(line.starts_with("Serving on "), "{example} said {line:?}");
        Served {
            cli: Some(cli),
            port,
            stderr: rx,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Stops the server and returns what it wrote to stderr.
    fn stop(mut self) -> String {
        drop(self.cli.take());
        self.stderr
            .recv_timeout(PATIENCE)
            .expect("the server's stderr closes once it is killed")
    }
}

/// Runs curl (HTTP/1.1, verbose) on `urls`; a missing curl fails with how to install it.
fn curl(urls: &[String]) -> Output {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "-v", "--http1.1", "--max-time", "30"])
        .args(urls);
    let out = match command.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("curl is not installed (apt-get install -y curl)")
        }
        Err(e) => panic!("run curl: {e}"),
    };
    assert!(
        out.status.success(),
        "curl {urls:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn assert_reused(out: &Output) {
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("Re-using existing connection") || log.contains("Reusing existing"),
        "curl did not reuse the connection:\n{log}"
    );
}

/// The server's stderr holds no connection error of hyper's and no unhandled exception.
fn assert_quiet(stderr: &str) {
    for bad in [
        "hyper connection ended",
        "error writing a body",
        "Unhandled exception",
    ] {
        assert!(
            !stderr.contains(bad),
            "the server logged {bad:?}:\n{stderr}"
        );
    }
}

#[test]
fn hyper_hello_answers_curl_on_one_kept_alive_connection() {
    let served = Served::start("hyper_hello", &[], &[]);
    let urls = [served.url("/"), served.url("/a"), served.url("/b")];
    let out = curl(&urls);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Hello, World!".repeat(3)
    );
    assert_reused(&out);
    assert_quiet(&served.stop());
}

#[test]
fn hyper_hello_closes_cleanly_after_a_connection_close_request() {
    let served = Served::start("hyper_hello", &[], &[]);
    for _ in 0..3 {
        let mut tcp = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
        tcp.set_read_timeout(Some(PATIENCE)).unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        // read_to_string fails on a reset: the server must end with a FIN.
        tcp.read_to_string(&mut answer)
            .expect("the server closes with a FIN, not a reset");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nHello, World!"), "{answer}");
    }
    // The client ending a kept-alive connection is a clean close too.
    let mut tcp = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = tcp.read(&mut buf).unwrap();
    assert!(buf[..n].ends_with(b"Hello, World!"));
    drop(tcp);
    std::thread::sleep(Duration::from_millis(200));
    assert_quiet(&served.stop());
}

#[test]
fn hyper_hello_cuts_off_a_client_that_sends_half_a_request_head() {
    // A 500 ms header read timeout, on the loop's timer.
    let served = Served::start("hyper_hello", &[], &["500"]);
    let mut slow = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    slow.set_read_timeout(Some(PATIENCE)).unwrap();
    let start = Instant::now();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut rest = Vec::new();
    // The server answers 408 or just closes; either way the connection ends.
    let _ = slow.read_to_end(&mut rest);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(450) && waited < Duration::from_secs(10),
        "cut off after {waited:?}"
    );
    assert!(
        rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&rest)
    );

    // A head completed within the timeout (in two parts, 200 ms apart) is answered.
    let mut prompt = TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    prompt.set_read_timeout(Some(PATIENCE)).unwrap();
    prompt.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    prompt.write_all(b"Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    prompt.read_to_string(&mut answer).unwrap();
    assert!(answer.ends_with("Hello, World!"), "{answer}");
    served.stop();
}

/// Runs `hyper_client` with the host's `flags` and its own `args`; it must print the
/// status and `Hello, World!`.
fn assert_client_got_hello(flags: &[&str], args: &[&str]) {
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_sandloop"))
            .arg("run")
            .args(flags)
            .arg(test_programs_artifacts::program("hyper_client"))
            .args(args),
    );
    common::assert_prints(&out, "HTTP/1.1 200 OK\nHello, World!\n");
}

#[test]
fn hyper_client_fetches_from_a_local_hyper_server() {
    let served = Served::start("hyper_hello", &[], &[]);
    let addr = format!("127.0.0.1:{}", served.port);
    assert_client_got_hello(
        &["--allow-connect", &addr],
        &["--", &served.url("/path?q=1")],
    );
    assert_quiet(&served.stop());
}

#[test]
fn hyper_client_fetches_from_the_server_it_starts_itself() {
    let grants = [
        "--allow-listen",
        "127.0.0.1:*",
        "--allow-connect",
        "127.0.0.1:*",
    ];
    assert_client_got_hello(&grants, &[]);
}

#[test]
fn axum_hello_answers_its_routes_with_a_sleep_and_an_outgoing_connection() {
    let grants = [
        "--allow-listen",
        "127.0.0.1:*",
        "--allow-connect",
        "127.0.0.1:*",
    ];
    let served = Served::start("axum_hello", &grants, &[]);
    let start = Instant::now();
    let out = curl(&[
        served.url("/"),
        served.url("/sleep/300"),
        served.url("/echo/hello-axum"),
    ]);
    let took = start.elapsed();
    let body = String::from_utf8_lossy(&out.stdout);
    let rest = body.strip_prefix("Hello, World!slept ").expect(&body);
    let (slept, rest) = rest.split_once(" ms\n").expect(&body);
    let slept: u64 = slept.parse().expect(&body);
    assert!((300..2000).contains(&slept), "{body}");
    assert_eq!(rest, "echoed: hello-axum\n", "{body}");
    assert!(
        took >= Duration::from_millis(300),
        "the sleep took {took:?}"
    );
    assert_reused(&out);

    // Concurrent sleeps overlap on the one loop: ten of 300 ms end well before 3 s.
    let start = Instant::now();
    let handles: Vec<_> = (0..10)
        .map(|_| {
            let url = served.url("/sleep/300");
            std::thread::spawn(move || curl(&[url]))
        })
        .collect();
    for handle in handles {
        let out = handle.join().expect("a curl thread");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("slept 3"));
    }
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_quiet(&served.stop());
}
