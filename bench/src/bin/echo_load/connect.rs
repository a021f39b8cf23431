//! Connection-rate mode: each slot opens a connection, sends one message, reads its echo,
//! closes, and starts over at once; a completed cycle counts as one connection.
//!
//! By default the client closes with a reset (SO_LINGER 0) once the echo is back, so that
//! no socket of its side lingers in TIME_WAIT: on loopback, tens of thousands of them make
//! every connect search longer for a free port, and the client's core, not the server,
//! then sets the rate (about 14,000 against 24,000 connections a second in one test).
//! `--close fin` closes normally instead.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::{
    Close, DRAIN_LIMIT, Failures, Progress, READ_BUFFER_SIZE, RoundTrip, Window, WorkerResult,
};

/// Failed attempts in a row after which the worker stops: the server is gone or refuses.
const MAX_FAILURES_IN_A_ROW: u32 = 1000;

/// How soon a slot whose connection could not even be started tries again.
const RETRY_DELAY: Duration = Duration::from_millis(1);

/// Keeps `slots` connection cycles in progress against `addr` until `end`, counting the
/// cycles completed inside `[warm_end, end)`; the latency of a cycle runs from the connect
/// call to the last byte of the echo.
pub fn run_worker(
    addr: SocketAddr,
    close: Close,
    slots: usize,
    message: &[u8],
    warm_end: Instant,
    end: Instant,
) -> Result<WorkerResult> {
    let mut poll = Poll::new().context("create the mio poll")?;
    let mut events = Events::with_capacity(1024);
    let mut buffer = vec![0; READ_BUFFER_SIZE.min(message.len())];
    let mut window = Window::new(warm_end, end);
    let mut failures = Failures::default();
    let mut failures_in_a_row = 0;
    let mut attempts: Vec<Option<Attempt>> = (0..slots).map(|_| None).collect();
    let mut idle = slots;

    // After `end` no connection starts; those in progress finish (up to DRAIN_LIMIT), so
    // that none closes with its echo unread, which would reset it.
    let drained = end + DRAIN_LIMIT;
    loop {
        let now = Instant::now();
        let last = now >= end;
        if now >= drained || (last && idle == slots) {
            break;
        }
        if idle > 0 && !last {
            for (slot, attempt) in attempts.iter_mut().enumerate() {
                if attempt.is_some() {
                    continue;
                }
                match Attempt::start(addr, &poll, Token(slot)) {
                    Ok(started) => {
                        *attempt = Some(started);
                        idle -= 1;
                    }
                    Err(err) => {
                        failures.record(&err);
                        failures_in_a_row += 1;
                    }
                }
            }
        }
        if failures_in_a_row >= MAX_FAILURES_IN_A_ROW {
            bail!(
                "{failures_in_a_row} connections in a row failed; the first failures: {}",
                failures.kept.join("; ")
            );
        }
        let timeout = if idle > 0 && !last {
            RETRY_DELAY
        } else {
            (if last { drained } else { end }).saturating_duration_since(Instant::now())
        };
        if let Err(err) = poll.poll(&mut events, Some(timeout)) {
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("poll");
        }
        for event in &events {
            let slot = &mut attempts[event.token().0];
            let Some(attempt) = slot else { continue };
            match attempt.drive(message, &mut buffer) {
                Ok(Progress::Pending) => continue,
                Ok(Progress::Finished) => {
                    window.complete(attempt.started, Instant::now());
                    failures_in_a_row = 0;
                    if close == Close::Reset
                        && let Err(err) = abort_on_close(&attempt.stream)
                    {
                        failures.record(&format_args!("set SO_LINGER: {err}"));
                    }
                }
                Err(err) => {
                    failures.record(&err);
                    failures_in_a_row += 1;
                }
            }
            // Done or failed: dropping the stream closes it (which also takes it out of
            // epoll); the slot starts a new connection at the top of the loop.
            *slot = None;
            idle += 1;
        }
    }
    Ok(WorkerResult { window, failures })
}

/// One connection cycle in progress.
struct Attempt {
    stream: TcpStream,
    started: Instant,
    connected: bool,
    trip: RoundTrip,
}

impl Attempt {
    /// Starts a non-blocking connect registered under `token`.
    fn start(addr: SocketAddr, poll: &Poll, token: Token) -> io::Result<Attempt> {
        let started = Instant::now();
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        poll.registry()
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(Attempt {
            stream,
            started,
            connected: false,
            trip: RoundTrip::default(),
        })
    }

    /// Finishes the connect, writes the message, reads its echo, as far as the sockets allow.
    fn drive(&mut self, message: &[u8], buffer: &mut [u8]) -> io::Result<Progress> {
        if !self.connected {
            // How mio says to learn the outcome of a non-blocking connect.
            if let Some(err) = self.stream.take_error()? {
                return Err(err);
            }
            match self.stream.peer_addr() {
                Ok(_) => self.connected = true,
                Err(err) if err.kind() == io::ErrorKind::NotConnected => {
                    return Ok(Progress::Pending);
                }
                Err(err) => return Err(err),
            }
        }
        let echoed = self.trip.advance(
            &mut self.stream,
            message,
            buffer,
            "the server closed the connection before echoing",
        )?;
        Ok(if echoed {
            Progress::Finished
        } else {
            Progress::Pending
        })
    }
}

/// Makes closing `stream` send a reset rather than a FIN: SO_LINGER with a zero timeout.
fn abort_on_close(stream: &TcpStream) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is open for as long as `stream` is borrowed, and setsockopt
    // reads `size_of::<linger>()` bytes from a valid `linger`.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
