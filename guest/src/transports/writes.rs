//! The writing side of a stream transport: `write` hands the bytes to the stream (in
//! completion mode the loop's write queue owns them until the host takes them: see
//! `proactor_events/write_queue.rs`), and flow control follows the write buffer, wherever
//! it lives (asyncio's `_maybe_pause_protocol` and `_maybe_resume_protocol`).

use std::rc::{Rc, Weak};

use super::TransportInner;
use crate::error::{Error, Result};
use crate::exception_handler::ExceptionContext;
use crate::proactor_events::{Retry, StreamOwner};
use crate::stream_io::StreamIo;

/// What the stream tells its transport: a write the queue did for it failed, or the host
/// refused bytes at a wait (it is full).
impl StreamOwner for TransportInner {
    fn write_failed(self: Rc<Self>, err: Error) {
        TransportInner::write_failed(&self, err);
    }

    fn host_full(self: Rc<Self>) {
        if !self.conn_lost.get() {
            self.maybe_pause_protocol();
        }
    }
}

impl TransportInner {
    /// The transport as its stream's owner.
    pub(super) fn as_owner(self: &Rc<Self>) -> Weak<dyn StreamOwner> {
        let me: Weak<TransportInner> = Rc::downgrade(self);
        me
    }

    /// Has the stream shut its write side down once what it buffers is sent.
    pub(super) fn shutdown_write_side(self: &Rc<Self>) {
        let result = match &mut *self.io.borrow_mut() {
            Some(io) => io.write_eof(),
            None => Ok(()),
        };
        if let Err(err) = result {
            let me = self.clone();
            self.lp
                .call_soon(move || me.fatal_error(err, "Fatal error on write_eof"));
        }
    }

    pub(super) fn write(self: &Rc<Self>, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if self.eof_written.get() {
            self.lp.call_exception_handler(&ExceptionContext {
                message: "Cannot call write() after write_eof()".into(),
                transport: Some(format!("{self:?}")),
                ..Default::default()
            });
            return;
        }
        if self.closing.get() {
            return;
        }
        let written = match &mut *self.io.borrow_mut() {
            Some(io) => io.write(data),
            None => return,
        };
        if let Err(err) = written {
            self.write_failed(err);
        }
        self.maybe_pause_protocol();
    }

    /// The bytes written and not yet taken by the kernel: buffered by the host (or, in
    /// readiness mode, the stream), queued for the loop's next wait, or refused by the host
    /// and kept.
    pub(super) fn write_buffer_size(&self) -> usize {
        self.io.borrow().as_ref().map_or(0, StreamIo::buffer_size)
    }

    /// Sends the queued bytes now, where the timing of the bytes shows; as the write queue
    /// keeps every transport's writes in one order, all of them go.
    pub(super) fn flush_queued(&self) {
        if let Some(io) = &*self.io.borrow() {
            io.flush_queued();
        }
    }

    /// The bytes the host refused and the stream keeps.
    pub(crate) fn refused_len(&self) -> usize {
        self.io.borrow().as_ref().map_or(0, StreamIo::refused_len)
    }

    /// On a `writable` report: has the bytes the host refused written again; once all
    /// are taken, does the `write_eof` or TLS close that waited for them.
    pub(super) fn retry_refused(self: &Rc<Self>) {
        let retried = match &*self.io.borrow() {
            Some(io) => io.retry_refused(),
            None => Retry::Done,
        };
        match retried {
            Retry::Done => {
                if self.eof_after_refused.replace(false) {
                    if self.is_tls() {
                        self.tls_close();
                    } else {
                        self.shutdown_write_side();
                    }
                }
            }
            Retry::Kept => {}
            Retry::Failed => self.eof_after_refused.set(false),
        }
    }

    /// Whether a `write_eof` (or a TLS close) must wait for kept bytes; if so, it is done
    /// once they are taken.
    pub(super) fn defer_eof_for_refused(&self) -> bool {
        if self.refused_len() == 0 {
            return false;
        }
        self.eof_after_refused.set(true);
        true
    }

    pub(super) fn maybe_pause_protocol(self: &Rc<Self>) {
        // The host refused bytes: it is full, whatever the marks say.
        let host_full = || self.refused_len() > 0;
        if self.water.is_paused()
            || !(host_full() || self.water.over_high(self.write_buffer_size()))
        {
            return;
        }
        // Past the mark, send the queue now, as asyncio's write would have: the mark is
        // judged on what the kernel did not take.
        self.flush_queued();
        if !(host_full() || self.water.over_high(self.write_buffer_size())) {
            return;
        }
        // Never from inside the caller's write: the protocol may be the caller.
        self.water.pause();
        let me = self.clone();
        self.lp.call_soon(move || {
            if me.water.take_pending_pause()
                && let Some(p) = me.protocol()
            {
                p.borrow_mut().pause_writing();
            }
        });
    }

    pub(super) fn maybe_resume_protocol(self: &Rc<Self>) {
        if self.refused_len() == 0
            && self.water.resume(self.write_buffer_size())
            && let Some(p) = self.protocol()
        {
            p.borrow_mut().resume_writing();
        }
    }

    /// Wakes every [`TransportInner::write_progress`] waiter: with `lost` when the
    /// connection is gone.
    pub(super) fn wake_write_waiters(&self, lost: Option<Error>) {
        let waiters = std::mem::take(&mut *self.write_waiters.borrow_mut());
        for waiter in waiters {
            // A waiter whose task was cancelled is done already: nothing to wake.
            let _ = match &lost {
                None => waiter.set_result(()),
                Some(err) => waiter.set_exception(err.clone()),
            };
        }
    }

    /// Waits for the next report of the write buffer (the host flushed some of it), or
    /// the loss of the connection (`Err`).
    pub(crate) async fn write_progress(&self) -> Result<()> {
        if self.conn_lost.get() {
            return Err(Error::Runtime("Transport is closing".into()));
        }
        let waiter = self.lp.create_future::<()>();
        self.write_waiters.borrow_mut().push(waiter.clone());
        waiter.await
    }

    /// Why the transport was torn down with bytes maybe unsent (a failure or `abort`).
    pub(crate) fn torn_down(&self) -> Option<Error> {
        self.torn_down.borrow().clone()
    }

    /// The bytes left unsent when the stream failed, if it did.
    pub(crate) fn unsent_at_failure(&self) -> Option<usize> {
        self.unsent_at_failure.get()
    }

    /// The transport's I/O, for `sendfile`: `Err` once it is closed.
    pub(crate) fn with_io<T>(&self, f: impl FnOnce(&mut StreamIo) -> Result<T>) -> Result<T> {
        match &mut *self.io.borrow_mut() {
            Some(io) => f(io),
            None => Err(Error::Runtime("Transport is closing".into())),
        }
    }

    /// Takes a report of the bytes buffered after a call that queued some (`sendfile`).
    pub(crate) fn set_buffered(&self, buffered: u64) {
        if let Some(io) = &mut *self.io.borrow_mut() {
            io.set_unsent(buffered);
        }
    }

    /// The bytes written and not yet taken by the kernel, queued ones included; sends
    /// the queued ones first when `flush` (so that what follows goes after them).
    pub(crate) fn pending_writes(self: &Rc<Self>, flush: bool) -> usize {
        if flush {
            self.flush_queued();
        }
        self.write_buffer_size()
    }

    /// A write failure (of `write`, of the write queue, of `sendfile`): it ends the
    /// transport, from the loop, never from inside the call that failed.
    pub(crate) fn write_failed(self: &Rc<Self>, err: Error) {
        let me = self.clone();
        self.lp
            .call_soon(move || me.fatal_error(err, "Fatal write error on socket transport"));
    }
}
