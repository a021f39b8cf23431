//! TLS on a stream transport (the transport half of asyncio's `sslproto.py`).
//!
//! The host does the cryptography: a TLS transport is always a completion-mode stream on
//! which the host ran `tls.start`, and its events carry plaintext. What is left to the
//! transport is the life cycle asyncio's `SSLProtocol` gives an application:
//! `connection_made` only once the handshake completed (the host reports it as a
//! `writable` event after which `tls.info` answers), a handshake that fails or takes
//! longer than `ssl_handshake_timeout` never reaching the protocol, and a `close` that
//! sends `close_notify` and waits for the peer's up to `ssl_shutdown_timeout`.

use std::io;
use std::rc::{Rc, Weak};
use std::time::Duration;

use super::{ExtraInfo, SharedProtocol, Transport, TransportInner};
use crate::error::{Error, Result};
use crate::events::EventLoop;
use crate::events::TimerHandle;
use crate::futures::Future;
use crate::io_registry::IoEntry;
use crate::log::{self, Level};
use crate::net::Socket;
use crate::stream_io::StreamIo;
use crate::sys::READ_BUDGET;
use crate::sys::tls::HostTlsContext;
use crate::tls::{TlsContext, TlsInfo};

/// How TLS starts on one connection: the context, the side, the name, the timeouts.
/// `sslproto.rs` makes it from the arguments of the connection and server calls, checked
/// as asyncio checks them.
#[derive(Clone, Debug)]
pub(crate) struct TlsSetup {
    pub(crate) context: TlsContext,
    pub(crate) server_side: bool,
    /// The name sent and checked; `Some("")` means "check no name" (explicit).
    pub(crate) server_hostname: Option<String>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl TlsSetup {
    /// The host configuration for this connection: the context's own, or the one that
    /// checks no hostname when `server_hostname` is `""`.
    pub(crate) fn host_context(&self) -> Result<Rc<HostTlsContext>> {
        let any_name = !self.server_side && self.server_hostname.as_deref() == Some("");
        self.context.host_context(any_name)
    }

    /// The name `tls.start` gets: none on a server, none for the explicit `""`.
    pub(crate) fn server_name(&self) -> Option<&str> {
        self.server_hostname.as_deref().filter(|n| !n.is_empty())
    }
}

/// The TLS side of a transport.
pub(crate) struct TlsState {
    context: TlsContext,
    /// What the handshake settled, once it completed.
    info: Option<TlsInfo>,
    /// While the handshake runs.
    handshake: Option<Handshake>,
    shutdown_timeout: Duration,
    /// Aborts a closing transport whose peer does not answer `close_notify`.
    shutdown_timer: Option<TimerHandle>,
    /// The peer ended its side (`close_notify`).
    peer_closed: bool,
}

struct Handshake {
    /// Told the outcome: `create_connection`, `start_tls`. `None` on a server's accepted
    /// connections, whose failures nobody awaits (logged in debug mode).
    waiter: Option<Future<()>>,
    timer: TimerHandle,
    /// Call the protocol's `connection_made` on completion (not after `start_tls`,
    /// whose caller has the protocol already, as in asyncio).
    call_connection_made: bool,
}

/// Python's `str(float)` of a duration in seconds: `60.0`, `0.3`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.1}")
    } else {
        format!("{s}")
    }
}

fn handshake_timeout_error(timeout: Duration) -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::ConnectionAborted,
        format!(
            "SSL handshake is taking longer than {} seconds: aborting the connection",
            seconds(timeout)
        ),
    ))
}

/// Aborts a transport whose handshake a caller was awaiting, if the caller goes away
/// first (its task was cancelled): asyncio closes the transport then too.
pub(crate) struct HandshakeGuard(Option<Transport>);

impl HandshakeGuard {
    pub(crate) fn new(transport: &Transport) -> HandshakeGuard {
        HandshakeGuard(Some(transport.clone()))
    }

    /// The handshake's outcome arrived: nothing to abort.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for HandshakeGuard {
    fn drop(&mut self) {
        if let Some(t) = self.0.take()
            && t.inner.handshaking()
        {
            t.abort();
        }
    }
}

impl Transport {
    /// Takes `sock` (connected) over as a completion-mode stream (on every loop), starts
    /// TLS on it as `setup` says, and returns the transport and, with `waiter`, a future
    /// told when the handshake completed (after `connection_made`) or failed.
    pub(crate) fn open_tls(
        lp: &EventLoop,
        sock: &Socket,
        protocol: SharedProtocol,
        setup: &TlsSetup,
        waiter: bool,
    ) -> Result<(Transport, Option<Future<()>>)> {
        let host_ctx = setup.host_context()?;
        let host = sock.take_host()?;
        let sockname = host.local_address().ok();
        let peername = host.peer_address().ok();
        let transport =
            Transport::register(lp, protocol, (sockname, peername), None, |inner, key| {
                let stream = host.into_stream(key, READ_BUDGET)?;
                crate::sys::tls::start(&stream, &host_ctx, setup.server_name())?;
                Ok(StreamIo::completion(lp, stream, key, inner.as_owner()))
            })?;
        let waiter = waiter.then(|| lp.create_future::<()>());
        transport.inner.begin_handshake(setup, waiter.clone(), true);
        Ok((transport, waiter))
    }
}

impl TransportInner {
    /// Whether the transport carries TLS (its bytes pass through the host's encryption).
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.borrow().is_some()
    }

    pub(super) fn handshaking(&self) -> bool {
        self.tls
            .borrow()
            .as_ref()
            .is_some_and(|t| t.handshake.is_some())
    }

    /// Installs the TLS state of a stream on which `tls.start` was called, and the
    /// handshake's timer.
    fn begin_handshake(
        self: &Rc<Self>,
        setup: &TlsSetup,
        waiter: Option<Future<()>>,
        call_connection_made: bool,
    ) {
        let weak: Weak<TransportInner> = Rc::downgrade(self);
        let timeout = setup.handshake_timeout;
        let timer = self.lp.call_later(timeout, move || {
            if let Some(me) = weak.upgrade()
                && me.handshaking()
            {
                me.handshake_failed(handshake_timeout_error(timeout));
            }
        });
        *self.tls.borrow_mut() = Some(TlsState {
            context: setup.context.clone(),
            info: None,
            handshake: Some(Handshake {
                waiter,
                timer,
                call_connection_made,
            }),
            shutdown_timeout: setup.shutdown_timeout,
            shutdown_timer: None,
            peer_closed: false,
        });
    }

    /// Follows the handshake with an event of the stream: `true` once it completed (the
    /// event is then processed as on any transport), `false` while it runs or when it
    /// failed (the transport is gone then).
    pub(super) fn advance_handshake(self: &Rc<Self>, ev: &mut crate::sys::Event) -> bool {
        if let Some(err) = ev.error.take() {
            self.handshake_failed(err);
            return false;
        }
        let info = match &*self.io.borrow() {
            Some(StreamIo::Completion(stream)) => crate::sys::tls::info(stream.host()),
            _ => None,
        };
        let Some(info) = info else {
            if ev.readiness.hangup {
                self.handshake_failed(Error::Os(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the peer closed the connection during the TLS handshake",
                )));
            }
            return false;
        };
        let handshake = {
            let mut tls = self.tls.borrow_mut();
            let Some(tls) = tls.as_mut() else {
                return true;
            };
            tls.info = Some(info);
            tls.handshake.take()
        };
        let Some(handshake) = handshake else {
            return true;
        };
        handshake.timer.cancel();
        if handshake.call_connection_made
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().connection_made(&Transport {
                inner: self.clone(),
            });
        }
        if let Some(waiter) = handshake.waiter {
            // A waiter whose caller was cancelled is done already.
            let _ = waiter.set_result(());
        }
        !self.conn_lost.get()
    }

    /// Ends a transport whose handshake failed: the protocol never saw it, so it is not
    /// told; the waiter is (a server's failures are logged in debug mode, as asyncio
    /// logs them).
    pub(super) fn handshake_failed(self: &Rc<Self>, err: Error) {
        let handshake = self
            .tls
            .borrow_mut()
            .as_mut()
            .and_then(|t| t.handshake.take());
        self.closing.set(true);
        if self.conn_lost.replace(true) {
            return;
        }
        *self.torn_down.borrow_mut() = Some(err.clone());
        if let Some(io) = &mut *self.io.borrow_mut() {
            io.discard_queued();
            io.set_unsent(0);
        }
        self.protocol.borrow_mut().take();
        match handshake {
            Some(Handshake {
                waiter: Some(waiter),
                timer,
                ..
            }) => {
                timer.cancel();
                let _ = waiter.set_exception(err);
            }
            Some(Handshake { timer, .. }) => {
                timer.cancel();
                if self.lp.get_debug() {
                    log::log(
                        Level::Debug,
                        format_args!("{self:?}: TLS handshake failed: {err}"),
                    );
                }
            }
            None => {}
        }
        self.call_connection_lost(None);
    }

    /// `close` of a TLS transport: `close_notify` after the buffered bytes, then the
    /// peer's awaited up to the shutdown timeout. During the handshake, an abort.
    pub(super) fn tls_close(self: &Rc<Self>) {
        if self.handshaking() {
            self.handshake_failed(Error::Os(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transport was closed during the TLS handshake",
            )));
            return;
        }
        self.flush_queued();
        if self.defer_eof_for_refused() {
            // `close_notify` goes after the bytes the host refused: `retry_refused` comes
            // back here once they are taken.
            return;
        }
        // `close_notify` joins what the host buffers: count it, so that the stream is not
        // dropped before it is on the wire.
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.write_eof().map(|()| io.write_buffered()),
            None => return,
        };
        match result {
            Ok(buffered) => self.set_buffered(buffered),
            Err(err) => {
                self.tls_shutdown_failed(err);
                return;
            }
        }
        let peer_closed = self.tls.borrow().as_ref().is_some_and(|t| t.peer_closed);
        if peer_closed {
            // The peer is done: once ours is sent, so are we (see `close_waits_for_peer`).
            if self.write_buffer_size() == 0 && !self.conn_lost.replace(true) {
                let me = self.clone();
                self.lp.call_soon(move || me.call_connection_lost(None));
            }
            return;
        }
        // The peer's close_notify must be read, even if the protocol paused reading.
        if self.read_paused.replace(false) {
            self.set_host_reading(true);
        }
        let timeout = self
            .tls
            .borrow()
            .as_ref()
            .map_or(Duration::ZERO, |t| t.shutdown_timeout);
        let weak = Rc::downgrade(self);
        let timer = self.lp.call_later(timeout, move || {
            if let Some(me) = weak.upgrade()
                && !me.conn_lost.get()
            {
                if me.lp.get_debug() {
                    log::log(
                        Level::Debug,
                        format_args!(
                            "{me:?}: no close_notify from the peer after {} seconds: aborting",
                            seconds(timeout)
                        ),
                    );
                }
                me.force_close(None);
            }
        });
        if let Some(tls) = &mut *self.tls.borrow_mut() {
            tls.shutdown_timer = Some(timer);
        }
    }

    /// Whether a closing transport whose buffer is empty must still wait for the peer's
    /// `close_notify` (TLS) before `connection_lost`.
    pub(super) fn close_waits_for_peer(&self) -> bool {
        self.tls.borrow().as_ref().is_some_and(|t| !t.peer_closed)
    }

    /// The stream ended cleanly (the peer's `close_notify` on a TLS transport). `true`
    /// when that finished a `close` (the connection is lost now); `false` when the
    /// protocol is to hear of the end as on any transport.
    pub(super) fn tls_peer_closed(self: &Rc<Self>) -> bool {
        let timer = {
            let mut tls = self.tls.borrow_mut();
            let Some(tls) = tls.as_mut() else {
                return false;
            };
            tls.peer_closed = true;
            tls.shutdown_timer.take()
        };
        if !self.closing.get() {
            return false;
        }
        if let Some(timer) = timer {
            timer.cancel();
        }
        // What we still send (our `close_notify` at least) goes first: the writable event
        // that empties the buffer ends the connection then.
        if self.write_buffer_size() == 0 && !self.conn_lost.replace(true) {
            self.call_connection_lost(None);
        }
        true
    }

    /// A failure while closing a TLS transport (the peer closed without `close_notify`,
    /// say): the connection is lost with it, logged in debug mode only.
    pub(super) fn tls_shutdown_failed(self: &Rc<Self>, err: Error) {
        if let Some(timer) = self
            .tls
            .borrow_mut()
            .as_mut()
            .and_then(|t| t.shutdown_timer.take())
        {
            timer.cancel();
        }
        if self.lp.get_debug() {
            log::log(
                Level::Debug,
                format_args!("{self:?}: error during the TLS shutdown: {err}"),
            );
        }
        self.force_close(Some(err));
    }

    /// The TLS names of `get_extra_info`.
    pub(super) fn tls_extra_info(&self, name: &str) -> Option<ExtraInfo> {
        let tls = self.tls.borrow();
        let tls = tls.as_ref()?;
        match name {
            "sslcontext" => Some(ExtraInfo::TlsContext(tls.context.clone())),
            "peercert" => tls
                .info
                .as_ref()
                .and_then(|i| i.peer_certificate())
                .map(|der| ExtraInfo::PeerCert(der.to_vec())),
            "cipher" => tls.info.as_ref().map(|i| {
                let (name, version, bits) = i.cipher();
                ExtraInfo::Cipher(name, version, bits)
            }),
            "ssl_object" => tls.info.clone().map(ExtraInfo::TlsInfo),
            _ => None,
        }
    }

    /// `start_tls`: moves this transport's connection to a new TLS transport bound to
    /// `protocol` (asyncio's `start_tls`), which keeps the loop's key. The bytes written
    /// so far go out first, as they are; a readiness-mode transport first waits until
    /// they are sent, then hands its socket to the host as a stream. This transport is
    /// detached: it reports nothing more, not even `connection_lost`.
    pub(crate) async fn upgrade_to_tls(
        self: &Rc<Self>,
        protocol: SharedProtocol,
        setup: &TlsSetup,
    ) -> Result<(Transport, Future<()>)> {
        if self.pipe.is_some() {
            return Err(Error::Os(io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_tls: a pipe transport cannot carry TLS",
            )));
        }
        if self.is_tls() {
            return Err(Error::Os(io::Error::new(
                io::ErrorKind::InvalidInput,
                "start_tls: the transport already has TLS",
            )));
        }
        if self.closing.get() {
            return Err(Error::Runtime("Transport is closing".into()));
        }
        let host_ctx = setup.host_context()?;
        // Nothing read from here on belongs to the old protocol.
        self.set_host_reading(false);
        self.flush_queued();
        if !self.host_reports_buffered() {
            while self.write_buffer_size() > 0 {
                if let Some(err) = self.torn_down() {
                    return Err(err);
                }
                self.write_progress().await?;
            }
        }
        if self.closing.get() {
            return Err(Error::Runtime("Transport is closing".into()));
        }
        let key = self
            .key
            .get()
            .ok_or_else(|| Error::Runtime("Transport is closing".into()))?;
        let io = self
            .io
            .borrow_mut()
            .take()
            .ok_or_else(|| Error::Runtime("Transport is closing".into()))?;
        let new = Transport::new_inner(
            &self.lp,
            protocol,
            (self.sockname.clone(), self.peername.clone()),
            None,
        );
        // From here on the old transport is detached, whatever happens to the new one.
        self.closing.set(true);
        self.conn_lost.set(true);
        self.key.set(None);
        self.protocol.borrow_mut().take();
        *new.on_lost.borrow_mut() = std::mem::take(&mut *self.on_lost.borrow_mut());
        new.key.set(Some(key));
        self.lp.replace_io(key, IoEntry::Held(new.clone()));
        let started = io
            .into_completion(&self.lp, key as u64, new.as_owner())
            .and_then(|io| {
                if let StreamIo::Completion(stream) = &io {
                    crate::sys::tls::start(stream.host(), &host_ctx, setup.server_name())?;
                    stream.set_reading(true)?;
                }
                Ok(io)
            });
        let io = match started {
            Ok(io) => io,
            Err(err) => {
                new.closing.set(true);
                new.conn_lost.set(true);
                new.protocol.borrow_mut().take();
                new.call_connection_lost(None);
                return Err(err);
            }
        };
        *new.io.borrow_mut() = Some(io);
        let waiter = self.lp.create_future::<()>();
        new.begin_handshake(setup, Some(waiter.clone()), false);
        Ok((Transport { inner: new }, waiter))
    }
}
