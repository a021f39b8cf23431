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

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::events::{EventLoop, Submit};
use crate::sys::{Event, Selector, StreamWrite};
use crate::transports::TransportInner;

/// The buffer keeps its allocation between batches up to this size.
const KEPT_CAPACITY: usize = 256 * 1024;

/// A loop's queued writes, in the loop's slot for them; the loop's waits submit them.
#[derive(Default)]
pub(crate) struct Outbox(RefCell<Queued>);

/// Queued writes: their bytes back to back, the records the host reads (stream and
/// length, one per run of writes to a stream), and who wrote each run. The records are kept
/// ready to hand over, so a wait builds no list of its own.
#[derive(Default)]
struct Queued {
    data: Vec<u8>,
    records: Vec<StreamWrite>,
    writers: Vec<Rc<TransportInner>>,
}

/// The writes taken out of the outbox for a wait or a flush.
struct Taken {
    data: Vec<u8>,
    records: Vec<StreamWrite>,
    writers: Vec<Rc<TransportInner>>,
}

impl EventLoop {
    /// The loop's outbox; the first use makes it what the loop's waits submit.
    pub(crate) fn outbox(&self) -> Rc<Outbox> {
        if let Some(outbox) = self.existing_slot::<Outbox>() {
            return outbox;
        }
        let outbox = self.slot::<Outbox>();
        self.set_submit(outbox.clone());
        outbox
    }
}

impl Outbox {
    /// Queues `bytes` for `transport`'s stream `id`; returns the bytes queued in all.
    pub(crate) fn push(&self, transport: &Rc<TransportInner>, id: u32, bytes: &[u8]) -> usize {
        let mut queued = self.0.borrow_mut();
        queued.push(transport, id, bytes);
        queued.data.len()
    }

    /// Drops what `transport` queued: its stream is gone (a fatal error), and a write to
    /// it would name a stream the host no longer has.
    pub(crate) fn discard(&self, transport: &Rc<TransportInner>) {
        self.0.borrow_mut().discard(transport);
    }
}

impl Submit for Outbox {
    fn is_empty(&self) -> bool {
        self.0.borrow().records.is_empty()
    }

    fn submit(
        &self,
        selector: &mut dyn Selector,
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) {
        let taken = self.0.borrow_mut().take();
        selector.select_after_writes(&taken.records, &taken.data, timeout, events);
        for (writer, record) in taken.writers.iter().zip(&taken.records) {
            writer.write_submitted(record.len as usize);
        }
        // Under the host's limit on buffered bytes, the last bytes of a stream's writes
        // may have been refused: they go back to their transport, which keeps them.
        if !taken.records.is_empty() {
            for ev in events.iter().filter(|ev| ev.write_refused > 0) {
                if let Some(writer) = taken.writers.iter().find(|w| w.has_key(ev.token)) {
                    writer.take_back(&taken.tail_of(writer, ev.write_refused as usize));
                }
            }
        }
        self.0.borrow_mut().recycle(taken);
    }

    /// Hands every queued write to the host now, each with its own crossing.
    fn flush(&self) {
        let taken = self.0.borrow_mut().take();
        for (writer, _, bytes) in taken.each() {
            writer.write_now(bytes, bytes.len());
        }
        self.0.borrow_mut().recycle(taken);
    }
}

impl Queued {
    /// Queues `bytes` for `transport`'s stream `id`. Consecutive writes by one transport
    /// make one record.
    fn push(&mut self, transport: &Rc<TransportInner>, id: u32, bytes: &[u8]) {
        self.data.extend_from_slice(bytes);
        if let (Some(last), Some(writer)) = (self.records.last_mut(), self.writers.last())
            && Rc::ptr_eq(writer, transport)
            && let Some(len) = u32::try_from(bytes.len())
                .ok()
                .and_then(|n| last.len.checked_add(n))
        {
            last.len = len;
            return;
        }
        self.records.push(StreamWrite {
            id,
            len: bytes.len() as u32,
        });
        self.writers.push(transport.clone());
    }

    /// Everything queued; hand the buffers back with [`Queued::recycle`].
    fn take(&mut self) -> Taken {
        Taken {
            data: std::mem::take(&mut self.data),
            records: std::mem::take(&mut self.records),
            writers: std::mem::take(&mut self.writers),
        }
    }

    /// Keeps the allocations of `taken` for the next batch.
    fn recycle(&mut self, taken: Taken) {
        let Taken {
            mut data,
            mut records,
            mut writers,
        } = taken;
        if self.data.capacity() == 0 && data.capacity() <= KEPT_CAPACITY {
            data.clear();
            self.data = data;
        }
        if self.records.capacity() == 0 {
            records.clear();
            writers.clear();
            self.records = records;
            self.writers = writers;
        }
    }

    fn discard(&mut self, transport: &Rc<TransportInner>) {
        if !self.writers.iter().any(|w| Rc::ptr_eq(w, transport)) {
            return;
        }
        let taken = self.take();
        for (writer, record, bytes) in taken.each() {
            if !Rc::ptr_eq(writer, transport) {
                self.push(writer, record.id, bytes);
            }
        }
    }
}

impl Taken {
    /// The last `count` bytes `writer` queued (the host refused them), in order.
    fn tail_of(&self, writer: &Rc<TransportInner>, count: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (w, _, run) in self.each() {
            if Rc::ptr_eq(w, writer) {
                bytes.extend_from_slice(run);
            }
        }
        bytes.split_off(bytes.len().saturating_sub(count))
    }

    /// Each run of writes with its writer and its bytes, in order.
    fn each(&self) -> impl Iterator<Item = (&Rc<TransportInner>, &StreamWrite, &[u8])> {
        let mut at = 0;
        self.writers
            .iter()
            .zip(&self.records)
            .map(move |(writer, record)| {
                let bytes = &self.data[at..at + record.len as usize];
                at += record.len as usize;
                (writer, record, bytes)
            })
    }
}
