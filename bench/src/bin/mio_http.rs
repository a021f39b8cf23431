//! A native, single-threaded HTTP/1.1 keep-alive "Hello, World!" server on mio: the ceiling
//! the sandloop example `http_hello` is measured against (bench/run.sh). It answers with the
//! same bytes after the same parsing ([`sandloop_bench::http_hello`]).
//!
//! ```text
//! mio_http 127.0.0.1:8080
//! ```
//! Prints `Serving on http://ADDR/` once listening. Responses the kernel does not take at
//! once are buffered and sent when the socket becomes writable; a connection stops reading
//! while its backlog is over [`MAX_PENDING`] bytes.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sandloop_bench::http_hello;

const LISTENER: Token = Token(usize::MAX);

/// One read's worth of bytes, shared by every connection.
const READ_BUFFER_SIZE: usize = 64 * 1024;

/// Unsent bytes past which a connection stops reading until the peer takes some.
const MAX_PENDING: usize = 1024 * 1024;

fn main() -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mio_http: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let mut listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    let mut poll = Poll::new().context("create the mio poll")?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .context("register the listener")?;
    let local = listener.local_addr()?;
    let mut stdout = io::stdout();
    writeln!(stdout, "Serving on http://{local}/")?;
    stdout.flush()?;

    let mut server = Server {
        listener,
        connections: Vec::new(),
        free: Vec::new(),
        buffer: vec![0; READ_BUFFER_SIZE].into_boxed_slice(),
    };
    let mut events = Events::with_capacity(1024);
    loop {
        if let Err(err) = poll.poll(&mut events, None) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("poll");
        }
        for event in &events {
            match event.token() {
                LISTENER => server.accept(&poll),
                Token(slot) => server.serve(&poll, slot),
            }
        }
    }
}

struct Server {
    listener: TcpListener,
    /// Connections by token; a closed one leaves its slot to the next accept.
    connections: Vec<Option<Connection>>,
    free: Vec<usize>,
    buffer: Box<[u8]>,
}

impl Server {
    /// Accepts until the backlog is empty (the listener is edge-triggered).
    fn accept(&mut self, poll: &Poll) {
        loop {
            let (mut stream, _peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // Out of descriptors or a connection that died in the backlog: the
                    // server goes on; the next readiness event retries.
                    eprintln!("mio_http: accept: {err}");
                    return;
                }
            };
            if let Err(err) = stream.set_nodelay(true) {
                eprintln!("mio_http: set TCP_NODELAY: {err}");
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.connections.push(None);
                self.connections.len() - 1
            });
            // Both interests once, edge-triggered: no epoll_ctl per request.
            if let Err(err) = poll.registry().register(
                &mut stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                eprintln!("mio_http: register a connection: {err}");
                self.free.push(slot);
                continue;
            }
            self.connections[slot] = Some(Connection::new(stream));
        }
    }

    fn serve(&mut self, poll: &Poll, slot: usize) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            // An event queued for a connection closed earlier in this batch.
            return;
        };
        let closed = match connection.drive(&mut self.buffer) {
            Ok(state) => state == State::Closed,
            Err(err) => {
                if !is_disconnect(&err) {
                    eprintln!("mio_http: connection: {err}");
                }
                true
            }
        };
        if closed {
            if let Some(mut connection) = self.connections[slot].take() {
                // Deregistering a socket about to be closed can only fail if it was never
                // registered; closing removes it from epoll either way.
                let _ = poll.registry().deregister(&mut connection.stream);
            }
            self.free.push(slot);
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Open,
    Closed,
}

struct Connection {
    stream: TcpStream,
    /// Bytes of requests not yet answered in full.
    input: Vec<u8>,
    /// Responses not yet taken by the kernel, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// The peer has shut down its side or asked to close: close once `pending` is sent.
    done: bool,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        Connection {
            stream,
            input: Vec::new(),
            pending: Vec::new(),
            sent: 0,
            done: false,
        }
    }

    /// Does all the work one readiness event allows, whichever its kind: flushes the
    /// backlog, then reads and answers until the socket has no more data or the backlog is
    /// full.
    fn drive(&mut self, buffer: &mut [u8]) -> io::Result<State> {
        loop {
            self.flush()?;
            if self.done {
                return Ok(if self.backlog() == 0 {
                    State::Closed
                } else {
                    State::Open
                });
            }
            if self.backlog() >= MAX_PENDING {
                // The writable event that drains the backlog brings us back here.
                return Ok(State::Open);
            }
            match self.stream.read(buffer) {
                Ok(0) => self.done = true,
                Ok(n) => {
                    self.input.extend_from_slice(&buffer[..n]);
                    // Responses go after whatever is still pending; `flush` at the top of
                    // the loop sends them.
                    if self.sent > 0 && self.sent >= self.pending.len() / 2 {
                        self.pending.drain(..self.sent);
                        self.sent = 0;
                    }
                    self.done = http_hello::respond(&mut self.input, &mut self.pending);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(State::Open),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends as much of the backlog as the kernel takes.
    fn flush(&mut self) -> io::Result<()> {
        while self.sent < self.pending.len() {
            match self.stream.write(&self.pending[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.pending.clear();
        self.sent = 0;
        Ok(())
    }

    fn backlog(&self) -> usize {
        self.pending.len() - self.sent
    }
}

/// Errors that only mean the peer went away, which a server does not report.
fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
