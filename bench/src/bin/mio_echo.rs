//! A native, single-threaded TCP echo server on mio: the ceiling the sandloop echo example
//! is measured against (see bench/echo.sh).
//!
//! ```text
//! mio_echo 127.0.0.1:8888
//! ```
//! Prints `Serving on ADDR` once listening. Every connection echoes what it reads; what the
//! kernel does not take at once is buffered and sent when the socket becomes writable, and a
//! connection stops reading while its backlog is over [`MAX_PENDING`] bytes.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

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
            eprintln!("mio_echo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let mut listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    let mut poll = Poll::new().context("create the mio poll")?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .context("register the listener")?;
    let local = listener.local_addr()?;
    let mut stdout = io::stdout();
    writeln!(stdout, "Serving on {local}")?;
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
                    eprintln!("mio_echo: accept: {err}");
                    return;
                }
            };
            if let Err(err) = stream.set_nodelay(true) {
                eprintln!("mio_echo: set TCP_NODELAY: {err}");
            }
            let slot = self.free.pop().unwrap_or_else(|| {
                self.connections.push(None);
                self.connections.len() - 1
            });
            // Both interests once, edge-triggered: no epoll_ctl per message. A writable
            // edge with nothing to send costs one wakeup that finds no work.
            if let Err(err) = poll.registry().register(
                &mut stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                eprintln!("mio_echo: register a connection: {err}");
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
                    eprintln!("mio_echo: connection: {err}");
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
    /// Bytes read but not yet taken by the kernel, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// The peer has shut down its side; close once `pending` is sent.
    read_closed: bool,
}

impl Connection {
    fn new(stream: TcpStream) -> Connection {
        Connection {
            stream,
            pending: Vec::new(),
            sent: 0,
            read_closed: false,
        }
    }

    /// Does all the work one readiness event allows, whichever its kind: flushes the
    /// backlog, then reads and echoes until the socket has no more data or the backlog
    /// is full.
    fn drive(&mut self, buffer: &mut [u8]) -> io::Result<State> {
        loop {
            self.flush()?;
            if self.read_closed {
                return Ok(if self.backlog() == 0 {
                    State::Closed
                } else {
                    State::Open
                });
            }
            if self.backlog() >= MAX_PENDING {
                // The writable event that drains the backlog brings us back here to read
                // what is left in the socket.
                return Ok(State::Open);
            }
            match self.stream.read(buffer) {
                Ok(0) => self.read_closed = true,
                Ok(n) => self.echo(&buffer[..n])?,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(State::Open),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    /// Sends `data` after whatever is still pending, buffering what the kernel does not take.
    fn echo(&mut self, data: &[u8]) -> io::Result<()> {
        let mut written = 0;
        if self.backlog() == 0 {
            while written < data.len() {
                match self.stream.write(&data[written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => written += n,
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                    Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            }
        }
        if written < data.len() {
            if self.sent > 0 && self.sent >= self.pending.len() / 2 {
                self.pending.drain(..self.sent);
                self.sent = 0;
            }
            self.pending.extend_from_slice(&data[written..]);
        }
        Ok(())
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

/// Errors that only mean the peer went away, which an echo server does not report.
fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
