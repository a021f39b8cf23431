//! How a stream transport ends: `close` (after what is buffered is sent), `abort` and
//! fatal errors (at once), and the last callback, `connection_lost`.

use std::io;
use std::rc::Rc;

use super::{TransportInner, is_connection_error};
use crate::error::Error;
use crate::exception_handler::ExceptionContext;
use crate::log::{self, Level};

impl TransportInner {
    pub(super) fn close(self: &Rc<Self>) {
        if self.closing.replace(true) {
            return;
        }
        if self.is_tls() {
            self.tls_close();
            return;
        }
        self.flush_queued();
        if !self.read_paused.get() {
            self.set_host_reading(false);
        }
        // What was queued went with the flush above: only the host's buffer and the
        // bytes it refused can be left.
        if self.write_buffer_size() == 0 && !self.conn_lost.replace(true) {
            let me = self.clone();
            self.lp.call_soon(move || me.call_connection_lost(None));
        }
    }

    pub(super) fn force_close(self: &Rc<Self>, exc: Option<Error>) {
        if self.handshaking() {
            // The protocol never saw this connection: only the handshake's waiter hears.
            self.handshake_failed(exc.unwrap_or_else(|| {
                Error::Os(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "the transport was aborted during the TLS handshake",
                ))
            }));
            return;
        }
        self.closing.set(true);
        if self.conn_lost.replace(true) {
            return;
        }
        *self.torn_down.borrow_mut() = Some(exc.clone().unwrap_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "the transport was aborted",
            ))
        }));
        if exc.is_none() {
            // `abort`: what asyncio's write would have sent already still goes.
            self.flush_queued();
        }
        // Discard what is still buffered (queued, refused, in the host): the stream goes
        // now.
        let io = self.io.borrow_mut().take();
        if let Some(io) = io {
            io.discard_writes();
        }
        self.eof_after_refused.set(false);
        let me = self.clone();
        self.lp.call_soon(move || me.call_connection_lost(exc));
    }

    pub(super) fn fatal_error(self: &Rc<Self>, err: Error, message: &str) {
        if is_connection_error(&err) {
            if self.lp.get_debug() {
                log::log(Level::Debug, format_args!("{self:?}: {message}: {err}"));
            }
        } else {
            self.lp.call_exception_handler(&ExceptionContext {
                message: message.into(),
                exception: Some(err.clone()),
                transport: Some(format!("{self:?}")),
                protocol: self.protocol().map(|_| "protocol".to_string()),
                ..Default::default()
            });
        }
        self.force_close(Some(err));
    }

    pub(super) fn call_connection_lost(self: &Rc<Self>, exc: Option<Error>) {
        let lost = exc.clone().unwrap_or_else(|| {
            Error::Os(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection was lost",
            ))
        });
        self.wake_write_waiters(Some(lost));
        let protocol = self.protocol.borrow_mut().take();
        if let Some(p) = protocol {
            p.borrow_mut().connection_lost(exc);
        }
        self.io.borrow_mut().take();
        if let Some(key) = self.key.take() {
            self.lp.deregister_io(key);
        }
        let hooks = std::mem::take(&mut *self.on_lost.borrow_mut());
        for hook in hooks {
            hook();
        }
    }
}
