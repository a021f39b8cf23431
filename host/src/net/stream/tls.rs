//! The TLS layer of a completion-mode stream: a rustls session between the guest's
//! plaintext and the socket's records (`tls.start`).
//!
//! # Reading
//!
//! On readiness the host reads ciphertext from the socket into its own buffer (64 KiB per
//! `recv`, not rustls's 4 KiB reads), hands it to rustls, and moves the plaintext rustls
//! decrypted into the batch, within the stream's read budget and the batch's room.
//! Plaintext (or ciphertext) the budget left behind is already out of the socket, so no
//! edge of the kernel will announce it: the stream says it holds input, and the reactor
//! serves it again at its next wait without waiting for the kernel. The peer's
//! `close_notify` is the end of the stream (`hangup`); the socket's end without one is a
//! truncation, an error of kind `tls`.
//!
//! While the handshake runs the host reads whether the guest reads or not (a paused
//! transport must still finish its handshake); its completion is reported once, as a
//! `writable` event.
//!
//! # Writing
//!
//! The guest's plaintext waits in the stream's write buffer until the handshake completed,
//! then goes to rustls a chunk at a time, only while the ciphertext of the previous chunk
//! is all on the wire: the stream holds at most one chunk's records besides the guest's
//! plaintext, and `write-buffered` (plaintext plus records not yet sent) reaches 0
//! exactly when everything is on the wire. Bytes buffered before `start` are not
//! encrypted: they go first, as they are (a STARTTLS reply).

use std::io::{Read as _, Write as _};

use rustls::Connection;

use super::{ReadEnd, Stream, WriteBuffer, WriteEof};
use crate::error::{Error, ErrorKind, error};
use crate::reactor::Interest;
use crate::tls::SessionInfo;

/// The most ciphertext one `recv` asks for.
const RECV_CHUNK: usize = 64 << 10;

/// The most plaintext handed to rustls at a time (rustls buffers up to 64 KiB of records).
const SEAL_CHUNK: usize = 64 << 10;

/// The rustls session of a stream and what the host buffers around it.
pub(crate) struct Session {
    conn: Connection,
    /// Bytes for the wire, in order: what was buffered before `start` (sent as it is),
    /// then the records rustls produced.
    wire: WriteBuffer,
    /// Ciphertext read from the socket that rustls has not taken yet, from `rx_at` on.
    rx: Vec<u8>,
    rx_at: usize,
    /// Plaintext rustls decrypted that the guest has not received.
    plain_pending: usize,
    /// The peer's `close_notify` arrived.
    peer_closed: bool,
    /// The socket's end of stream was read.
    socket_eof: bool,
    /// The handshake's completion was reported to the guest.
    completion_reported: bool,
    close_notify_sent: bool,
    /// The name a client was started with, for `info`.
    server_name: Option<String>,
}

impl Session {
    fn holds_input(&self) -> bool {
        self.plain_pending > 0 || self.rx_at < self.rx.len()
    }

    /// Whether records wait for the socket.
    pub(super) fn has_wire_pending(&self) -> bool {
        !self.wire.is_empty() || self.conn.wants_write()
    }

    /// The bytes bound for the wire that the socket has not taken.
    pub(super) fn wire_len(&self) -> usize {
        self.wire.len()
    }

    pub(super) fn discard_wire(&mut self) {
        self.wire.clear();
    }
}

impl Stream {
    /// `tls.start`: puts `conn` between the guest and the socket. What the write buffer
    /// holds goes first, unencrypted; a client's hello follows at once.
    pub(crate) fn start_tls(
        &mut self,
        conn: Connection,
        server_name: Option<String>,
        registry: &mio::Registry,
    ) -> Result<(), Error> {
        if let Some(err) = self.failed("tls start") {
            return Err(err);
        }
        let refuse = |why: &str| Err(error(ErrorKind::InvalidInput, format!("tls start: {why}")));
        if self.tls.is_some() {
            return refuse("the stream already runs TLS");
        }
        if self.io.socket("tls start").is_err() {
            return Err(error(
                ErrorKind::Unsupported,
                "tls start: TLS runs over sockets, not pipes",
            ));
        }
        if !self.outgoing.is_empty() {
            return refuse(
                "a file segment queued by send-file is still unsent (wait until write-buffered \
                 is 0)",
            );
        }
        if self.write_eof != WriteEof::Open {
            return refuse("the stream's write side is closed (write-eof was called)");
        }
        if self.read_closed {
            return refuse("the peer already ended its stream: no handshake can follow");
        }
        let mut wire = WriteBuffer::default();
        std::mem::swap(&mut wire, &mut self.write_buffer);
        self.tls = Some(Box::new(Session {
            conn,
            wire,
            rx: Vec::new(),
            rx_at: 0,
            plain_pending: 0,
            peer_closed: false,
            socket_eof: false,
            completion_reported: false,
            close_notify_sent: false,
            server_name,
        }));
        self.tls_flush_now(registry)?;
        self.sync_interest(registry, false).map_err(|err| {
            let err = crate::error::io_error_untargeted("tls start: watch the socket", &err);
            self.fail(err.clone(), registry);
            err
        })
    }

    /// `tls.info`: the session's parameters once its handshake completed.
    pub(crate) fn tls_info(&self) -> Option<SessionInfo> {
        let tls = self.tls.as_ref()?;
        if tls.conn.is_handshaking() {
            return None;
        }
        Some(crate::tls::session_info(
            &tls.conn,
            tls.server_name.as_deref(),
        ))
    }

    /// Whether the stream reads from its socket now: always during the handshake,
    /// afterwards while the guest reads.
    pub(super) fn tls_wants_read(&self, tls: &Session) -> bool {
        !self.read_closed && !tls.socket_eof && (tls.conn.is_handshaking() || self.reading)
    }

    /// Whether the stream holds input it read that the guest can take now: the reactor
    /// must serve it without waiting for the kernel.
    pub(crate) fn holds_input(&self) -> bool {
        match &self.tls {
            Some(tls) => {
                self.failure.is_none()
                    && tls.holds_input()
                    && (self.reading || tls.conn.is_handshaking())
                    && !self.read_closed
            }
            None => false,
        }
    }

    /// The TLS part of serving one readiness: reads and decrypts (appending plaintext to
    /// `data`), reports the handshake's completion, sends what is due. Returns the
    /// readiness to report, a failure, and whether the read stopped at a limit.
    pub(super) fn tls_io(
        &mut self,
        readable: bool,
        trouble: bool,
        data: &mut Vec<u8>,
        room: &mut usize,
    ) -> (Interest, Option<Error>, bool) {
        let mut readiness = Interest::empty();
        let mut failure = None;
        let mut rearm = false;
        let start = data.len();
        let wants_read = self
            .tls
            .as_ref()
            .is_some_and(|tls| self.tls_wants_read(tls));
        if wants_read && (readable || trouble) {
            let end = self.tls_read(data, room, trouble);
            failure = self.settle_read(end, &mut readiness, &mut rearm);
            if data.len() > start {
                readiness |= Interest::READABLE;
            }
        }
        if let Some(tls) = self.tls.as_mut()
            && !tls.completion_reported
            && !tls.conn.is_handshaking()
        {
            tls.completion_reported = true;
            readiness |= Interest::WRITABLE;
        }
        // Handshake messages, alerts (also the one of a failure), buffered plaintext.
        match self.tls_flush() {
            Ok(0) => {}
            Ok(_) => readiness |= Interest::WRITABLE,
            Err(err) => {
                if failure.is_none() {
                    failure = Some(err);
                }
            }
        }
        (readiness, failure, rearm)
    }

    /// Reads and decrypts until the socket has no more, the end of the stream, a failure,
    /// or the budget (or the batch's room) is used up.
    fn tls_read(&mut self, data: &mut Vec<u8>, room: &mut usize, to_end: bool) -> ReadEnd {
        let deliver = self.reading && !self.read_closed;
        let limit = if deliver {
            self.read_budget.min(*room)
        } else {
            0
        };
        let start = data.len();
        let peer = self.peer;
        let Stream { io, tls, .. } = self;
        let Some(tls) = tls.as_mut() else {
            return ReadEnd::Drained;
        };
        let mut drained = false;
        loop {
            if !tls.conn.is_handshaking() {
                if !deliver {
                    // Paused after the handshake: the rest waits in the socket.
                    return ReadEnd::Drained;
                }
                let left = limit - (data.len() - start);
                if left == 0 {
                    return ReadEnd::Stopped;
                }
                if tls.plain_pending > 0 {
                    let want = left.min(tls.plain_pending);
                    let at = data.len();
                    data.resize(at + want, 0);
                    let got = tls.conn.reader().read(&mut data[at..]).unwrap_or(0);
                    data.truncate(at + got);
                    *room -= got;
                    tls.plain_pending = if got == 0 { 0 } else { tls.plain_pending - got };
                    continue;
                }
                if tls.peer_closed {
                    return ReadEnd::Eof;
                }
                if tls.socket_eof {
                    return ReadEnd::Failed(error(
                        ErrorKind::Tls,
                        format!(
                            "tls session with {}: the peer closed the connection without \
                             close_notify (the data may be truncated)",
                            peer_name(peer)
                        ),
                    ));
                }
            } else if tls.socket_eof {
                return ReadEnd::Failed(error(
                    ErrorKind::Tls,
                    format!(
                        "tls handshake with {}: the peer closed the connection",
                        peer_name(peer)
                    ),
                ));
            }

            // More ciphertext for rustls: what is left of the last read, or a new read.
            if tls.rx_at == tls.rx.len() {
                if drained && !to_end {
                    return ReadEnd::Drained;
                }
                tls.rx.clear();
                tls.rx_at = 0;
                tls.rx.reserve(RECV_CHUNK);
                match io.read_into(&mut tls.rx, RECV_CHUNK, peer) {
                    Ok(0) => {
                        tls.socket_eof = true;
                        // An empty read tells rustls the transport ended.
                        if let Err(err) = tls.conn.read_tls(&mut &[][..]) {
                            return ReadEnd::Failed(tls_error(peer, &tls.conn, &err));
                        }
                    }
                    Ok(n) => drained = n < RECV_CHUNK,
                    Err(err) if err.kind == ErrorKind::WouldBlock => return ReadEnd::Drained,
                    Err(err) => return ReadEnd::Failed(err),
                }
            }
            if tls.rx_at < tls.rx.len() {
                match tls.conn.read_tls(&mut &tls.rx[tls.rx_at..]) {
                    Ok(n) => tls.rx_at += n,
                    Err(err) => return ReadEnd::Failed(tls_error(peer, &tls.conn, &err)),
                }
            }
            match tls.conn.process_new_packets() {
                Ok(state) => {
                    tls.plain_pending = state.plaintext_bytes_to_read();
                    tls.peer_closed = state.peer_has_closed();
                }
                Err(err) => return ReadEnd::Failed(tls_error(peer, &tls.conn, &err)),
            }
        }
    }

    /// Sends what is due, in order: the wire buffer, what rustls wants to send, then the
    /// guest's plaintext (once the handshake completed), a chunk at a time; then a
    /// requested `write-eof` (`close_notify`, then the socket's write side). Returns the
    /// bytes the socket took.
    pub(super) fn tls_flush(&mut self) -> Result<usize, Error> {
        let peer = self.peer;
        let Stream {
            io,
            tls,
            write_buffer,
            write_eof,
            ..
        } = self;
        let Some(tls) = tls.as_mut() else {
            return Ok(0);
        };
        let mut sent = 0;
        loop {
            while !tls.wire.is_empty() {
                match io.write(tls.wire.pending(), peer)? {
                    0 => return Ok(sent),
                    n => {
                        tls.wire.consume(n);
                        sent += n;
                    }
                }
            }
            if tls.conn.wants_write() {
                tls.wire.clear();
                while tls.conn.wants_write() {
                    // Writing into a vector cannot fail.
                    if let Err(err) = tls.conn.write_tls(&mut tls.wire.bytes) {
                        return Err(tls_error(peer, &tls.conn, &err));
                    }
                }
                continue;
            }
            if tls.conn.is_handshaking() {
                return Ok(sent);
            }
            if !write_buffer.is_empty() {
                let pending = write_buffer.pending();
                let chunk = &pending[..pending.len().min(SEAL_CHUNK)];
                let taken = tls
                    .conn
                    .writer()
                    .write(chunk)
                    .map_err(|err| tls_error(peer, &tls.conn, &err))?;
                write_buffer.consume(taken);
                if taken == 0 && !tls.conn.wants_write() {
                    return Ok(sent);
                }
                continue;
            }
            if *write_eof == WriteEof::Requested {
                if !tls.close_notify_sent {
                    tls.close_notify_sent = true;
                    tls.conn.send_close_notify();
                    continue;
                }
                *write_eof = WriteEof::Done;
                io.shutdown_write(peer)?;
            }
            return Ok(sent);
        }
    }

    /// [`Stream::tls_flush`] outside a wait (a write, `start`, `write-eof`): a failure ends
    /// the stream.
    pub(super) fn tls_flush_now(&mut self, registry: &mio::Registry) -> Result<(), Error> {
        match self.tls_flush() {
            Ok(_) => Ok(()),
            Err(err) => {
                self.fail(err.clone(), registry);
                Err(err)
            }
        }
    }
}

/// The peer as error messages name it.
fn peer_name(peer: Option<std::net::SocketAddr>) -> String {
    match peer {
        Some(addr) => addr.to_string(),
        None => "the peer".to_owned(),
    }
}

/// A rustls failure as a `tls` error naming the peer and the stage:
/// "tls handshake with 127.0.0.1:4433: invalid peer certificate: UnknownIssuer".
fn tls_error(
    peer: Option<std::net::SocketAddr>,
    conn: &Connection,
    err: &dyn std::fmt::Display,
) -> Error {
    let stage = if conn.is_handshaking() {
        "handshake"
    } else {
        "session"
    };
    error(
        ErrorKind::Tls,
        format!("tls {stage} with {}: {err}", peer_name(peer)),
    )
}
