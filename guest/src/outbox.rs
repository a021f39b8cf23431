//! The stream writes a batch of callbacks queues for the loop's next wait.
//!
//! In completion mode a small transport write is not a crossing into the host. Its bytes are
//! appended to one buffer here, and the loop's next wait hands the host that buffer and one
//! record per run of writes to a stream (`reactor.wait`'s `write-data` and `writes`); the
//! host does them, in order, before it polls. A batch of callbacks that writes to many
//! streams thus makes one crossing and one copy into the host in all.
//!
//! The transports send the queue at once where the timing of the bytes shows (see
//! `transports.rs`): then every queued write goes, in order, each with its own crossing.

use std::rc::Rc;

use crate::sys::StreamWrite;
use crate::transports::TransportInner;

/// The buffer keeps its allocation between batches up to this size.
const KEPT_CAPACITY: usize = 256 * 1024;

/// Queued writes: their bytes, back to back, and who wrote how many.
#[derive(Default)]
pub(crate) struct Outbox {
    data: Vec<u8>,
    writes: Vec<Queued>,
}

/// A run of writes by one transport.
pub(crate) struct Queued {
    pub(crate) transport: Rc<TransportInner>,
    /// The host's number for the transport's stream.
    pub(crate) id: u32,
    pub(crate) len: usize,
}

/// The writes taken out of the outbox for a wait or a flush.
pub(crate) struct Taken {
    pub(crate) data: Vec<u8>,
    pub(crate) writes: Vec<Queued>,
}

impl Outbox {
    /// Queues `bytes` for `transport`'s stream `id`. Consecutive writes by one transport
    /// make one record.
    pub(crate) fn push(&mut self, transport: &Rc<TransportInner>, id: u32, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        match self.writes.last_mut() {
            Some(last)
                if Rc::ptr_eq(&last.transport, transport)
                    && last.len + bytes.len() <= u32::MAX as usize =>
            {
                last.len += bytes.len()
            }
            _ => self.writes.push(Queued {
                transport: transport.clone(),
                id,
                len: bytes.len(),
            }),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Everything queued; hand the buffer back with [`Outbox::recycle`].
    pub(crate) fn take(&mut self) -> Taken {
        Taken {
            data: std::mem::take(&mut self.data),
            writes: std::mem::take(&mut self.writes),
        }
    }

    /// Keeps `data`'s allocation for the next batch.
    pub(crate) fn recycle(&mut self, mut data: Vec<u8>) {
        if self.data.capacity() == 0 && data.capacity() <= KEPT_CAPACITY {
            data.clear();
            self.data = data;
        }
    }

    /// Drops what `transport` queued: its stream is gone (a fatal error), and a write to
    /// it would name a stream the host no longer has.
    pub(crate) fn discard(&mut self, transport: &Rc<TransportInner>) {
        if !self
            .writes
            .iter()
            .any(|w| Rc::ptr_eq(&w.transport, transport))
        {
            return;
        }
        let Taken { data, writes } = self.take();
        let mut at = 0;
        for w in writes {
            let bytes = &data[at..at + w.len];
            at += w.len;
            if !Rc::ptr_eq(&w.transport, transport) {
                self.push(&w.transport, w.id, bytes);
            }
        }
    }
}

impl Taken {
    /// The records of the writes, for `reactor.wait`.
    pub(crate) fn records(&self) -> Vec<StreamWrite> {
        self.writes
            .iter()
            .map(|w| StreamWrite {
                id: w.id,
                len: w.len as u32,
            })
            .collect()
    }

    /// Each write with its bytes, in order.
    pub(crate) fn each(&self) -> impl Iterator<Item = (&Queued, &[u8])> {
        let mut at = 0;
        self.writes.iter().map(move |w| {
            let bytes = &self.data[at..at + w.len];
            at += w.len;
            (w, bytes)
        })
    }
}
