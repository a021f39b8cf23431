//! Accepting connections under pressure, with the examples run by the `sandloop` CLI as a
//! user runs them: a server at its handle limit backs off for a second instead of
//! retrying at once (no spinning core, no flood of log lines), and connections their
//! peers reset before the server accepted them are routine, not errors, on both loop
//! kinds and over TLS.

mod common;

#[path = "../../xtask/src/dev_cert.rs"]
mod dev_cert;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything a child wrote on its stderr, read on a thread of its own as it comes.
struct StderrTap {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl StderrTap {
    fn new(mut stderr: impl Read + Send + 'static) -> StderrTap {
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bytes);
        std::thread::spawn(move || {
            let mut chunk = [0u8; 64 * 1024];
            while let Ok(n @ 1..) = stderr.read(&mut chunk) {
                sink.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        StderrTap { bytes }
    }

    fn len(&self) -> usize {
        self.bytes.lock().unwrap().len()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap()).into_owned()
    }

    /// Waits until the stderr holds `words`, at most [`common::PATIENCE`].
    #[track_caller]
    fn wait_for(&self, words: &str) {
        let deadline = Instant::now() + common::PATIENCE;
        while !self.text().contains(words) {
            assert!(
                Instant::now() < deadline,
                "no {words:?} on stderr within {:?}:\n{}",
                common::PATIENCE,
                self.text()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A server run by the CLI: the child (killed when dropped), its stderr, its address.
struct Server {
    cli: common::Cli,
    stderr: StderrTap,
    addr: SocketAddr,
}

impl Server {
    /// Runs `sandloop run FLAGS PROGRAM -- 127.0.0.1:PORT ARGS` on a free port, granted
    /// listening there, once it printed its first line.
    fn start(flags: &[&str], program: &str, args: &[&str]) -> Server {
        let addr: SocketAddr = ([127, 0, 0, 1], common::free_port()).into();
        let listen = addr.to_string();
        let mut cli = common::Cli::spawn(
            Command::new(env!("CARGO_BIN_EXE_sandloop"))
                .arg("run")
                .args(["--allow-listen", &listen])
                .args(flags)
                .arg(test_programs_artifacts::program(program))
                .arg("--")
                .arg(&listen)
                .args(args)
                .env("SANDLOOP_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let stderr = StderrTap::new(cli.take_stderr());
        let line = cli.stdout_lines().next_line();
        assert!(
            line.starts_with("Serving on"),
            "{program} said {line:?}; stderr:\n{}",
            stderr.text()
        );
        Server { cli, stderr, addr }
    }

    /// The CPU time (user and system) the host process used so far.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.cli.id()))
            .expect("read the server's /proc/PID/stat");
        // Fields after the command name (which may hold spaces) in parentheses: the state
        // is field 3 of proc(5), utime 14, stime 15.
        let after_name = &stat[stat.rfind(')').expect("a stat line") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a constant of the system.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Stops (SIGSTOP) or continues (SIGCONT) the host process.
    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill has no memory effects; the pid is our own child's, not yet reaped.
        let done = unsafe { libc::kill(self.cli.id() as libc::pid_t, signal) };
        assert_eq!(done, 0, "signal {signal} to the server");
    }
}

/// A client connected to `addr`, reading and writing with a bound.
fn connect(addr: SocketAddr) -> TcpStream {
    let client = TcpStream::connect_timeout(&addr, common::PATIENCE).expect("connect");
    client.set_read_timeout(Some(common::PATIENCE)).unwrap();
    client.set_write_timeout(Some(common::PATIENCE)).unwrap();
    client
}

/// Sends `message` on a new connection and asserts that it comes back.
#[track_caller]
fn assert_echoes(addr: SocketAddr, message: &[u8]) {
    let mut client = connect(addr);
    client.write_all(message).unwrap();
    let mut echo = vec![0; message.len()];
    client.read_exact(&mut echo).expect("the echo");
    assert_eq!(echo, message);
}

/// Connections the kernel completed while the server was stopped, each reset (SO_LINGER
/// 0, then close) before the server could accept it.
fn reset_before_accept(server: &Server, count: usize) {
    server.signal(libc::SIGSTOP);
    for _ in 0..count {
        let client = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a client socket");
        client
            .connect_timeout(&server.addr.into(), common::PATIENCE)
            .expect("connect (the kernel completes it for the stopped server)");
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
    }
    server.signal(libc::SIGCONT);
}

/// Fewer than the examples' listen backlog (100): every one waits in the accept queue.
const RESETS: usize = 50;

fn resets_before_accept_are_routine(extra: &[&str]) {
    let server = Server::start(&[], "echo_server", extra);

    reset_before_accept(&server, RESETS);
    // Served after every reset connection: the queue is accepted in order.
    assert_echoes(server.addr, b"still serving");

    assert_eq!(server.stderr.text(), "", "a reset is not an error");
}

#[test]
fn connections_reset_before_accept_log_nothing() {
    resets_before_accept_are_routine(&[]);
}

#[test]
fn connections_reset_before_accept_log_nothing_on_a_selector_loop() {
    resets_before_accept_are_routine(&["--selector"]);
}

#[test]
fn tls_connections_reset_before_accept_log_nothing() {
    let certs = common::TempDir::new("accept-tls-certs");
    dev_cert::write(&certs.0).expect("write the development certificates");
    let preopen = format!("{}::/certs", certs.0.display());
    let server = Server::start(
        &["--dir", &preopen],
        "https_hello",
        &["/certs/cert.pem", "/certs/key.pem"],
    );

    reset_before_accept(&server, RESETS);
    let out = common::output_within(
        Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(certs.0.join("ca.pem"))
            .arg("--resolve")
            .arg(format!("localhost:{}:127.0.0.1", server.addr.port()))
            .arg(format!("https://localhost:{}/", server.addr.port())),
    );

    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The example's own line for each handshake ("PEER: TLSv1.3, ..."), nothing else.
    let log = server.stderr.text();
    assert!(
        log.lines().all(|line| line.contains(": TLSv1.")),
        "a reset is not an error:\n{log}"
    );
}

/// More clients than `--max-handles` lets the server hold.
const HANDLE_LIMIT: &str = "24";
const CLIENTS: usize = 40;
/// How long the server's CPU time and log are watched while the clients wait.
const WINDOW: Duration = Duration::from_secs(2);

#[test]
fn accept_at_the_handle_limit_backs_off_instead_of_spinning() {
    let server = Server::start(&["--max-handles", HANDLE_LIMIT], "echo_server", &[]);
    let clients: Vec<TcpStream> = (0..CLIENTS).map(|_| connect(server.addr)).collect();
    // The first refusal: from here on the listener stays ready and accepts are refused.
    server.stderr.wait_for("accept: handle limit of 24 reached");

    let (cpu, logged) = (server.cpu_time(), server.stderr.len());
    std::thread::sleep(WINDOW);
    let cpu = server.cpu_time() - cpu;
    let logged = server.stderr.len() - logged;
    eprintln!("at the handle limit for {WINDOW:?}: {cpu:?} of CPU, {logged} bytes logged");

    // Retrying at once kept a core busy (the whole window) and wrote megabytes a second.
    assert!(
        cpu < WINDOW / 4,
        "the server used {cpu:?} of CPU in {WINDOW:?} at its handle limit"
    );
    assert!(
        logged < 16 * 1024,
        "the server logged {logged} bytes in {WINDOW:?} at its handle limit:\n{}",
        server.stderr.text().chars().take(2000).collect::<String>()
    );
    // Once the clients go, the server accepts again (after its pause).
    drop(clients);
    assert_echoes(server.addr, b"served again");
}
