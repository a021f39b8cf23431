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

/// The most bytes one retry hands the host before it hears whether there was room: a
/// retry after the host made some room costs a few crossings, never a copy of everything
/// kept.
const RETRY_PART: usize = 1 << 20;

/// The bytes a transport keeps, with the offset of the first one the host has not taken,
/// so that handing over a part moves nothing.
#[derive(Default)]
pub(super) struct Refused {
    bytes: Vec<u8>,
    start: usize,
}

impl Refused {
    fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    fn pending(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The host took the first `n` kept bytes.
    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.bytes.len() {
            self.bytes = Vec::new();
            self.start = 0;
        } else if self.start > self.bytes.len() / 2 {
            // Most of the allocation is spent: move the rest down once.
            self.bytes.drain(..self.start);
            self.start = 0;
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.bytes.extend_from_slice(data);
    }

    /// Puts `data` ahead of what is kept (bytes a wait's writes had queued before them).
    fn push_front(&mut self, data: &[u8]) {
        let later = self.bytes.split_off(self.start);
        self.bytes.clear();
        self.start = 0;
        self.bytes.extend_from_slice(data);
        self.bytes.extend_from_slice(&later);
    }

    fn clear(&mut self) {
        *self = Refused::default();
    }
}

impl TransportInner {
    /// The bytes the host refused and the transport keeps.
    pub(crate) fn refused_len(&self) -> usize {
        self.refused.borrow().len()
    }

    /// Keeps `data` after the bytes kept already: the host refused it, or it was written
    /// while refused bytes wait (it must follow them).
    pub(super) fn keep_refused(&self, data: &[u8]) {
        self.refused.borrow_mut().push(data);
    }

    /// Takes back the last bytes of a wait's writes, which the host refused: they go
    /// before whatever was kept since.
    pub(crate) fn take_back(self: &Rc<Self>, bytes: &[u8]) {
        if bytes.is_empty() || self.conn_lost.get() {
            return;
        }
        self.refused.borrow_mut().push_front(bytes);
        self.maybe_pause_protocol();
    }

    /// On a `writable` report: writes the kept bytes again, a part at a time, until the
    /// host cuts a part short (it has no more room); once all are taken, does the
    /// `write_eof` or TLS close that waited for them.
    pub(super) fn retry_refused(self: &Rc<Self>) {
        loop {
            let (offered, taken) = {
                let refused = self.refused.borrow();
                if refused.len() == 0 {
                    break;
                }
                let part = &refused.pending()[..refused.len().min(RETRY_PART)];
                (part.len(), self.send(part))
            };
            let Some(taken) = taken else {
                // The stream failed or is gone: nothing kept can be sent any more.
                self.drop_refused();
                return;
            };
            self.refused.borrow_mut().consume(taken);
            if taken < offered {
                return;
            }
        }
        if self.eof_after_refused.replace(false) {
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
