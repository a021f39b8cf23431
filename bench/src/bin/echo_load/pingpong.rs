//! Ping-pong mode: each connection keeps one message in flight and sends the next as soon as
//! the whole echo is back.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::{DRAIN_LIMIT, Failures, Progress, READ_BUFFER_SIZE, RoundTrip, Window, WorkerResult};

/// Opens one connection of the load, blocking, with TCP_NODELAY.
pub fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("connect to {addr}"))?;
    stream.set_nodelay(true).context("set TCP_NODELAY")?;
    stream.set_nonblocking(true)?;
    Ok(TcpStream::from_std(stream))
}

/// Drives `streams` until `end` and then until their last echoes are back, counting the
/// echoes completed inside `[warm_end, end)`.
pub fn run_worker(
    streams: Vec<TcpStream>,
    message: &[u8],
    warm_end: Instant,
    end: Instant,
) -> Result<WorkerResult> {
    let mut poll = Poll::new().context("create the mio poll")?;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; READ_BUFFER_SIZE.min(message.len())];
    let mut window = Window::new(warm_end, end);
    let mut failures = Failures::default();

    let mut clients = Vec::with_capacity(streams.len());
    let now = Instant::now();
    for (i, mut stream) in streams.into_iter().enumerate() {
        // Both interests once, edge-triggered: no epoll_ctl per message.
        poll.registry()
            .register(
                &mut stream,
                Token(i),
                Interest::READABLE | Interest::WRITABLE,
            )
            .context("register a connection")?;
        clients.push(Some(Client::new(stream, now)));
    }
    let mut open = clients.len();

    // Until `end`, every connection has a message in flight; after it, each waits for the
    // echo of its last message before it closes (up to DRAIN_LIMIT): closing with an echo
    // unread would reset the connection, and the server would see an error.
    let drained = end + DRAIN_LIMIT;
    while open > 0 {
        let now = Instant::now();
        let last = now >= end;
        let deadline = if last { drained } else { end };
        if now >= drained {
            break;
        }
        if let Err(err) = poll.poll(&mut events, Some(deadline - now)) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("poll");
        }
        for event in &events {
            let slot = &mut clients[event.token().0];
            let Some(client) = slot else { continue };
            match client.drive(message, &mut buffer, &mut window, last) {
                Ok(Progress::Pending) => continue,
                Ok(Progress::Finished) => {}
                Err(err) => failures.record(&err),
            }
            // Dropping the stream closes it, which also removes it from epoll.
            *slot = None;
            open -= 1;
        }
    }
    Ok(WorkerResult { window, failures })
}

/// One connection with its message in flight.
struct Client {
    stream: TcpStream,
    trip: RoundTrip,
    sent_at: Instant,
}

impl Client {
    fn new(stream: TcpStream, now: Instant) -> Client {
        Client {
            stream,
            trip: RoundTrip::default(),
            sent_at: now,
        }
    }

    /// Writes what the kernel takes of the message, reads the echo, and starts the next
    /// message each time an echo is complete, until the socket would block.
    /// With `last`, the message in flight is the last: returns `Finished` once its echo is
    /// back, rather than sending the next.
    fn drive(
        &mut self,
        message: &[u8],
        buffer: &mut [u8],
        window: &mut Window,
        last: bool,
    ) -> io::Result<Progress> {
        loop {
            let echoed = self.trip.advance(
                &mut self.stream,
                message,
                buffer,
                "the server closed the connection",
            )?;
            if !echoed {
                return Ok(Progress::Pending);
            }
            let now = Instant::now();
            window.complete(self.sent_at, now);
            if last {
                return Ok(Progress::Finished);
            }
            self.trip = RoundTrip::default();
            self.sent_at = now;
        }
    }
}
