//! What a stream transport does with its events: the reading side, asyncio's
//! `_read_ready` and `_process_events` for one connection. The loop's I/O registry hands
//! the transport each event of its stream ([`EventTarget`]) and runs the transport later
//! in the same batch ([`Runnable`]), which delivers the data, the writability and the end
//! of the stream to the protocol.

use std::collections::VecDeque;
use std::rc::Rc;

use super::TransportInner;
use crate::events::{Ready, Runnable};
use crate::io_registry::EventTarget;
use crate::os::PipeEnd;
use crate::sys::Event;

/// A stream's event is kept in its transport, which the loop then runs in the batch.
impl EventTarget for TransportInner {
    fn take_event(self: Rc<Self>, ev: Event, ready: &mut VecDeque<Ready>) {
        self.queue_event(ev);
        ready.push_back(Ready::Run(self));
    }
}

/// Running a transport processes the event it keeps.
impl Runnable for TransportInner {
    fn run(self: Rc<Self>) {
        self.process_event();
    }

    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

impl TransportInner {
    /// Stores an event for the loop to process when it runs this transport.
    ///
    /// In completion mode the event's count of host-buffered bytes is taken now, as the
    /// batch arrives: the host measured it after the batch's writes, so it is the newest
    /// figure until the next write. Taken later, when the transport runs, a callback ahead
    /// of it in the batch (a `close` deciding whether anything is left to send) would see
    /// the figure the wait's writes left behind, and bytes still in the host would be lost.
    fn queue_event(&self, ev: Event) {
        if let Some(io) = &mut *self.io.borrow_mut()
            && io.host_reports_buffered()
        {
            io.set_unsent(ev.unsent);
        }
        let mut pending = self.pending.borrow_mut();
        match &mut *pending {
            None => *pending = Some(ev),
            // Two events before the transport ran (not expected): merge them in order.
            Some(first) => {
                first.data.extend_from_slice(&ev.data);
                first.readiness.readable |= ev.readiness.readable;
                first.readiness.writable |= ev.readiness.writable;
                first.readiness.hangup |= ev.readiness.hangup;
                first.unsent = ev.unsent;
                first.refused = ev.refused;
                if ev.error.is_some() {
                    first.error = ev.error;
                }
            }
        }
    }

    /// Runs the protocol callbacks of the event the host reported.
    fn process_event(self: &Rc<Self>) {
        let Some(mut ev) = self.pending.borrow_mut().take() else {
            return;
        };
        if self.conn_lost.get() {
            return;
        }
        if let Some(io) = &mut *self.io.borrow_mut() {
            io.complete(&mut ev);
        }
        if self.handshaking() && !self.advance_handshake(&mut ev) {
            return;
        }
        if !ev.data.is_empty() && !self.closing.get() {
            if self.read_paused.get() {
                self.held.borrow_mut().extend_from_slice(&ev.data);
            } else if let Some(p) = self.protocol() {
                p.borrow_mut().data_received(&ev.data);
            }
        }
        if ev.readiness.writable {
            if let Some(io) = &mut *self.io.borrow_mut()
                && !io.host_reports_buffered()
            {
                // Readiness mode: `complete` flushed the stream just now and counted what
                // is left.
                io.set_unsent(ev.unsent);
            }
            if ev.refused == 0 {
                // The host has room again (an event that refused bytes says it has not).
                self.retry_refused();
            }
            self.maybe_resume_protocol();
            self.wake_write_waiters(None);
            if self.closing.get()
                && self.write_buffer_size() == 0
                && !self.close_waits_for_peer()
                && !self.conn_lost.replace(true)
            {
                self.call_connection_lost(None);
                return;
            }
        }
        if let Some(err) = ev.error {
            if self.closing.get() && self.is_tls() {
                self.tls_shutdown_failed(err);
                return;
            }
            let message = match self.pipe.as_ref().map(|info| info.end) {
                Some(PipeEnd::Write) => "Fatal write error on pipe transport",
                Some(PipeEnd::Read) => "Fatal read error on pipe transport",
                None => "Fatal read error on socket transport",
            };
            self.unsent_at_failure.set(Some(ev.unsent as usize));
            self.fatal_error(err, message);
            return;
        }
        if ev.readiness.hangup && !self.conn_lost.get() {
            if self.tls_peer_closed() {
                return;
            }
            if self.read_paused.get() {
                self.held_eof.set(true);
            } else {
                self.eof_received();
            }
        }
    }

    fn eof_received(self: &Rc<Self>) {
        let keep_open = match self.protocol() {
            Some(p) => p.borrow_mut().eof_received(),
            None => false,
        };
        // A read pipe has nothing left to do after its end, whatever the protocol says
        // (asyncio's `_UnixReadPipeTransport` closes too); nor has a TLS transport, whose
        // peer sent `close_notify` (asyncio's SSL transport closes too).
        if !keep_open || self.pipe.is_some() || self.is_tls() {
            self.close();
        }
    }

    pub(super) fn deliver_held(self: &Rc<Self>) {
        if self.conn_lost.get() || self.read_paused.get() {
            return;
        }
        let data = std::mem::take(&mut *self.held.borrow_mut());
        if !data.is_empty()
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().data_received(&data);
        }
        if self.held_eof.replace(false) && !self.conn_lost.get() {
            self.eof_received();
        }
    }

    pub(super) fn set_host_reading(self: &Rc<Self>, on: bool) {
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.set_reading(on),
            None => Ok(()),
        };
        if let Err(err) = result {
            let me = self.clone();
            self.lp
                .call_soon(move || me.fatal_error(err, "Fatal error on pause/resume reading"));
        }
    }
}
