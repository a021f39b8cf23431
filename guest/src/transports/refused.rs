//! Bytes the host refused to buffer: its limit on host-buffered bytes (the workload's
//! policy, `--max-buffered`).
//!
//! In completion mode the host buffers what the kernel does not take, but under that limit
//! it buffers only what fits: `stream.write` says how much it took, and a wait's event says
//! how many of the wait's writes to the stream it refused (the last bytes written). The
//! transport keeps the rest here, in order, ahead of anything written later, and pauses
//! the protocol: the host is full, whatever the transport's high-water mark. So a peer
//! that never reads costs the guest's memory (under its own limit), not the host's, and a
//! protocol that honours `pause_writing` stops writing.
//!
//! The host reports the stream `writable` when it has room again; the kept bytes are then
//! written again, and what is refused once more is kept again. The protocol resumes only
//! once every kept byte is taken and the buffer is below the low-water mark. A `write_eof`
//! (or a TLS close's `close_notify`) waits for the kept bytes, as it waits for the host's.

use std::rc::Rc;

use super::TransportInner;

impl TransportInner {
    /// The bytes the host refused and the transport keeps.
    pub(crate) fn refused_len(&self) -> usize {
        self.refused.borrow().len()
    }

    /// Keeps `data` after the bytes kept already: the host refused it, or it was written
    /// while refused bytes wait (it must follow them).
    pub(super) fn keep_refused(&self, data: &[u8]) {
        self.refused.borrow_mut().extend_from_slice(data);
    }

    /// Takes back the last bytes of a wait's writes, which the host refused: they go
    /// before whatever was kept since.
    pub(crate) fn take_back(self: &Rc<Self>, bytes: &[u8]) {
        if bytes.is_empty() || self.conn_lost.get() {
            return;
        }
        {
            let mut refused = self.refused.borrow_mut();
            let later = std::mem::take(&mut *refused);
            refused.extend_from_slice(bytes);
            refused.extend_from_slice(&later);
        }
        self.maybe_pause_protocol();
    }

    /// On a `writable` report: writes the kept bytes again (the host keeps refusing what
    /// does not fit yet); once all are taken, does the `write_eof` or TLS close that
    /// waited for them.
    pub(super) fn retry_refused(self: &Rc<Self>) {
        let kept = std::mem::take(&mut *self.refused.borrow_mut());
        if kept.is_empty() {
            return;
        }
        self.write_now(&kept, 0);
        if self.refused_len() == 0 && self.eof_after_refused.replace(false) {
            if self.is_tls() {
                self.tls_close();
            } else {
                self.shutdown_write_side();
            }
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

    /// Drops the kept bytes: the transport is torn down.
    pub(super) fn drop_refused(&self) {
        self.refused.borrow_mut().clear();
        self.eof_after_refused.set(false);
    }
}
