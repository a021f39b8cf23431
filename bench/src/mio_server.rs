//! The skeleton the native mio peers share (`mio_echo`, `mio_http`): a single-threaded
//! server that listens, accepts (TCP_NODELAY), registers each connection once for both
//! directions, edge-triggered (no `epoll_ctl` per message), and on every event does all the
//! work the event allows. What a connection does with the bytes it reads is a [`Handler`].
//!
//! Replies the kernel does not take at once are buffered and sent when the socket becomes
//! writable; a connection stops reading while its backlog is over [`MAX_PENDING`] bytes.

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
pub const MAX_PENDING: usize = 1024 * 1024;

/// What a connection does with what it reads.
pub trait Handler: Default {
    /// Handles `data` just read, sending replies through `out`. Returns `true` when the
    /// connection should close once everything sent is taken.
    fn on_data(&mut self, data: &[u8], out: &mut Outbox<'_>) -> io::Result<bool>;
}

/// Sends a connection's replies: straight to the kernel when nothing waits before them,
/// buffered otherwise.
pub struct Outbox<'a> {
    stream: &'a mut TcpStream,
    pending: &'a mut Vec<u8>,
    sent: &'a mut usize,
}

impl Outbox<'_> {
    /// Sends `data` after whatever is still pending, buffering what the kernel does not take.
    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        let mut written = 0;
        if self.pending.len() == *self.sent {
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
            if *self.sent > 0 && *self.sent >= self.pending.len() / 2 {
                self.pending.drain(..*self.sent);
                *self.sent = 0;
            }
            self.pending.extend_from_slice(&data[written..]);
        }
        Ok(())
    }
}

/// Runs the server named `name` (for error messages) with handler `H` on the address of the
/// first argument (default `default_addr`); prints `banner` with `{addr}` replaced once
/// listening.
pub fn main<H: Handler>(name: &str, default_addr: &str, banner: &str) -> ExitCode {
    // Errors as one line of causes, whatever RUST_BACKTRACE says.
    match run::<H>(name, default_addr, banner) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run<H: Handler>(name: &str, default_addr: &str, banner: &str) -> Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| default_addr.into())
        .parse()
        .context("the listen address (first argument) must be IP:PORT")?;
    let mut listener = TcpListener::bind(addr).with_context(|| format!("listen on {addr}"))?;
    let mut poll = Poll::new().context("create the mio poll")?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .context("register the listener")?;
    let local = listener.local_addr()?;
    let mut stdout = io::stdout();
    writeln!(stdout, "{}", banner.replace("{addr}", &local.to_string()))?;
    stdout.flush()?;

    let mut server = Server::<H> {
        name: name.to_string(),
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
                Token(slot) => {
                    server.serve(&poll, slot, event.is_read_closed() || event.is_error())
                }
            }
        }
    }
}

struct Server<H> {
    name: String,
    listener: TcpListener,
    /// Connections by token; a closed one leaves its slot to the next accept.
    connections: Vec<Option<Connection<H>>>,
    free: Vec<usize>,
    buffer: Box<[u8]>,
}

impl<H: Handler> Server<H> {
    /// Accepts until the backlog is empty (the listener is edge-triggered).
    fn accept(&mut self, poll: &Poll) {
        let name = &self.name;
        loop {
            let (mut stream, _peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    // Out of descriptors or a connection that died in the backlog: the
                    // server goes on; the next readiness event retries.
                    eprintln!("{name}: accept: {err}");
                    return;
                }
            };
            if let Err(err) = stream.set_nodelay(true) {
                eprintln!("{name}: set TCP_NODELAY: {err}");
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
                eprintln!("{name}: register a connection: {err}");
                self.free.push(slot);
                continue;
            }
            self.connections[slot] = Some(Connection::new(stream));
        }
    }

    fn serve(&mut self, poll: &Poll, slot: usize, peer_closed: bool) {
        let Some(Some(connection)) = self.connections.get_mut(slot) else {
            // An event queued for a connection closed earlier in this batch.
            return;
        };
        let closed = match connection.drive(&mut self.buffer, peer_closed) {
            Ok(open) => !open,
            Err(err) => {
                if !is_disconnect(&err) {
                    eprintln!("{}: connection: {err}", self.name);
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

struct Connection<H> {
    stream: TcpStream,
    handler: H,
    /// Replies not yet taken by the kernel, from `sent` on.
    pending: Vec<u8>,
    sent: usize,
    /// The peer has shut down its side, or the handler asked to close: close once
    /// `pending` is sent.
    done: bool,
}

impl<H: Handler> Connection<H> {
    fn new(stream: TcpStream) -> Connection<H> {
        Connection {
            stream,
            handler: H::default(),
            pending: Vec::new(),
            sent: 0,
            done: false,
        }
    }

    /// Does all the work one readiness event allows, whichever its kind: flushes the
    /// backlog, then reads and hands the bytes to the handler until the socket has no more
    /// data or the backlog is full. Returns whether the connection stays open.
    ///
    /// A read shorter than the buffer took all the socket held: no second `read` to hear
    /// "would block" (tokio and the sandloop host do the same), unless the peer closed,
    /// whose end of stream must be read now.
    fn drive(&mut self, buffer: &mut [u8], peer_closed: bool) -> io::Result<bool> {
        loop {
            self.flush()?;
            if self.done {
                return Ok(self.backlog() > 0);
            }
            if self.backlog() >= MAX_PENDING {
                // The writable event that drains the backlog brings us back here to read
                // what is left in the socket.
                return Ok(true);
            }
            match self.stream.read(buffer) {
                Ok(0) => self.done = true,
                Ok(n) => {
                    let mut out = Outbox {
                        stream: &mut self.stream,
                        pending: &mut self.pending,
                        sent: &mut self.sent,
                    };
                    self.done = self.handler.on_data(&buffer[..n], &mut out)?;
                    if n < buffer.len() && !peer_closed && !self.done {
                        self.flush()?;
                        return Ok(true);
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(true),
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
pub fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}
