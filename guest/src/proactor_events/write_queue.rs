//! The write path of completion-mode streams: one owner for every byte written to a stream
//! and not yet taken by the host.
//!
//! A small write is not a crossing into the host. Its bytes are appended to one buffer in
//! the loop's [`WriteQueue`], and the loop's next wait hands the host that buffer and one
//! record per run of writes to a stream (`reactor.wait`'s `write-data` and `writes`); the
//! host does them, in order, before it polls. A batch of callbacks that writes to many
//! streams thus makes one crossing and one copy into the host in all. The loop's iteration
//! calls [`Submit::submit`]; the transports send the queue at once where the timing of the
//! bytes shows (a large write, `write_eof`, `close`, the high-water mark: see
//! `transports/writes.rs`), and the loop does when it stops or closes: then every queued
//! write goes, in order, each with its own crossing.
//!
//! Under the host's limit on buffered bytes (the workload's policy, `--max-buffered`) the
//! host buffers only what fits: a write says how much it took, and a wait's event says how
//! many of the wait's writes to a stream it refused (the last bytes written). The stream
//! keeps the rest, in order, ahead of anything written later, and tells its transport,
//! which pauses the protocol: the host is full, whatever the transport's high-water mark.
//! So a peer that never reads costs the guest's memory (under its own limit), not the
//! host's, and a protocol that honours `pause_writing` stops writing. The host reports the
//! stream `writable` when it has room again; the transport then has the kept bytes
//! written again, and what is refused once more is kept again.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use super::CompletionStream;
use crate::events::{EventLoop, Submit};
use crate::sys::Event;
use crate::sys::host::{self, Writes};

/// Writes this large go to the host at once rather than into the write queue: at 4 KiB,
/// copying into the queue costs about what the crossing it saves does.
const DIRECT_WRITE_MIN: usize = 4 * 1024;

/// The queue is handed over at once past this many bytes, so that one wait never carries
/// more than a host call may copy, however many small writes a callback makes.
const MAX_QUEUED: usize = 16 << 20;

/// The queue's buffer keeps its allocation between batches up to this size.
const KEPT_CAPACITY: usize = 256 * 1024;

/// The most bytes one retry hands the host before it hears whether there was room: a
/// retry after the host made some room costs a few crossings, never a copy of everything
/// kept.
const RETRY_PART: usize = 1 << 20;

/// A loop's queued writes, in the loop's slot for them; the loop's waits submit them.
#[derive(Default)]
pub(crate) struct WriteQueue(RefCell<Queued>);

/// The writes queued for the next wait (kept ready to hand over, so a wait builds no list
/// of its own) and the stream that wrote each run.
#[derive(Default)]
struct Queued {
    writes: Writes,
    writers: Vec<Rc<CompletionStream>>,
}

impl Queued {
    /// Each run with its stream, in order.
    fn each(&self) -> impl Iterator<Item = (&Rc<CompletionStream>, &[u8])> {
        self.writers.iter().zip(self.writes.runs())
    }

    /// The last `count` bytes `stream` queued (the host refused them), in order.
    fn tail_of(&self, stream: &Rc<CompletionStream>, count: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (writer, run) in self.each() {
            if Rc::ptr_eq(writer, stream) {
                bytes.extend_from_slice(run);
            }
        }
        bytes.split_off(bytes.len().saturating_sub(count))
    }
}

impl EventLoop {
    /// The loop's write queue; the first use makes it what the loop's waits submit.
    pub(crate) fn write_queue(&self) -> Rc<WriteQueue> {
        if let Some(queue) = self.existing_slot::<WriteQueue>() {
            return queue;
        }
        let queue = self.slot::<WriteQueue>();
        self.set_submit(queue.clone());
        queue
    }
}

impl WriteQueue {
    /// Queues `bytes` for `stream`; consecutive writes to one stream make one run. Returns
    /// the bytes queued in all.
    fn push(&self, stream: &Rc<CompletionStream>, bytes: &[u8]) -> usize {
        let mut queued = self.0.borrow_mut();
        let same_run = queued.writers.last().is_some_and(|w| Rc::ptr_eq(w, stream));
        if !(same_run && queued.writes.extend_run(bytes)) {
            queued.writes.start_run(&stream.host, bytes);
            queued.writers.push(stream.clone());
        }
        queued.writes.len()
    }

    /// Everything queued; hand it back with [`WriteQueue::recycle`].
    fn take(&self) -> Queued {
        std::mem::take(&mut *self.0.borrow_mut())
    }

    /// Keeps the allocations of `taken` for the next batch (unless writes were queued
    /// meanwhile).
    fn recycle(&self, mut taken: Queued) {
        let mut queued = self.0.borrow_mut();
        if queued.writers.is_empty() && queued.writers.capacity() == 0 {
            taken.writes.clear(KEPT_CAPACITY);
            taken.writers.clear();
            *queued = taken;
        }
    }

    /// Drops what `stream` queued: its stream is gone (a fatal error), and a write to it
    /// would name a stream the host no longer has.
    fn discard(&self, stream: &Rc<CompletionStream>) {
        if !self
            .0
            .borrow()
            .writers
            .iter()
            .any(|w| Rc::ptr_eq(w, stream))
        {
            return;
        }
        let taken = self.take();
        for (writer, run) in taken.each() {
            if !Rc::ptr_eq(writer, stream) {
                self.push(writer, run);
            }
        }
    }
}

impl Submit for WriteQueue {
    fn is_empty(&self) -> bool {
        self.0.borrow().writes.is_empty()
    }

    fn submit(&self, timeout: Option<Duration>, events: &mut Vec<Event>) {
        let taken = self.take();
        host::wait(&taken.writes, timeout, events);
        for (writer, run) in taken.each() {
            writer.submitted(run.len());
        }
        // Under the host's limit on buffered bytes, the last bytes of a stream's writes
        // may have been refused: their stream keeps them.
        if !taken.writers.is_empty() {
            for ev in events.iter().filter(|ev| ev.refused > 0) {
                if let Some(writer) = taken.writers.iter().find(|w| w.token == ev.token) {
                    writer.refused_at_wait(&taken.tail_of(writer, ev.refused as usize));
                }
            }
        }
        self.recycle(taken);
    }

    fn flush(&self) {
        let taken = self.take();
        for (writer, run) in taken.each() {
            writer.write_now(run, run.len());
        }
        self.recycle(taken);
    }
}

impl CompletionStream {
    /// Writes `data`: into the write queue when it is small, to the host at once (after
    /// what is queued) when it is large, behind the kept bytes when the host refused some.
    pub(crate) fn write(self: &Rc<Self>, data: &[u8]) {
        if self.refused_len() > 0 {
            // Bytes the host refused wait: these follow them.
            self.keep(data);
        } else if data.len() < DIRECT_WRITE_MIN {
            let queued = self.queue.push(self, data);
            self.queued.set(self.queued.get() + data.len());
            if queued > MAX_QUEUED {
                self.queue.flush();
            }
        } else {
            // A large write: copying it into the queue would cost more than the crossing
            // it saves.
            self.flush_queued();
            self.write_now(data, 0);
        }
    }

    /// Sends the queued bytes now, where the timing of the bytes shows; as the queue keeps
    /// every stream's writes in one order, all of them go.
    pub(crate) fn flush_queued(&self) {
        if self.queued.get() > 0 {
            self.queue.flush();
        }
    }

    /// Drops what the stream queued (it is torn down).
    pub(crate) fn discard_queued(self: &Rc<Self>) {
        if self.queued.replace(0) > 0 {
            self.queue.discard(self);
        }
    }

    /// Writes `data` now (after the bytes the host refused, if any wait); `from_queue` of
    /// its bytes came out of the write queue.
    fn write_now(&self, data: &[u8], from_queue: usize) {
        self.queued.set(self.queued.get() - from_queue);
        if self.refused_len() > 0 {
            self.keep(data);
            return;
        }
        if let Some(taken) = self.send(data)
            && taken < data.len()
        {
            self.keep(&data[taken..]);
        }
    }

    /// Hands `data` to the host; returns how many bytes it took (fewer than all only under
    /// its limit on buffered bytes). `None` when the write failed (the owner is told).
    fn send(&self, data: &[u8]) -> Option<usize> {
        match self.host.write(data) {
            Ok(written) => {
                self.reported.set(written.buffered as usize);
                Some(written.taken)
            }
            Err(err) => {
                self.failed(err);
                None
            }
        }
    }

    /// The loop's wait did `len` queued bytes: the host buffers nothing unless the batch
    /// says otherwise (an event with the count, which the transport takes after this).
    fn submitted(&self, len: usize) {
        self.queued.set(self.queued.get() - len);
        self.reported.set(0);
    }

    /// The host refused the last bytes of the wait's writes: they go before whatever was
    /// kept since, and the owner hears that the host is full.
    fn refused_at_wait(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.refused.borrow_mut().push_front(bytes);
        let owner = self.owner.borrow().upgrade();
        if let Some(owner) = owner {
            owner.host_full();
        }
    }

    /// The bytes the host refused and the stream keeps.
    pub(crate) fn refused_len(&self) -> usize {
        self.refused.borrow().len()
    }

    /// Keeps `data` after the bytes kept already: the host refused it, or it was written
    /// while refused bytes wait (it must follow them).
    fn keep(&self, data: &[u8]) {
        self.refused.borrow_mut().push(data);
    }

    /// On a `writable` report: writes the kept bytes again, a part at a time, until the
    /// host cuts a part short (it has no more room).
    pub(crate) fn retry_refused(&self) -> Retry {
        loop {
            let (offered, taken) = {
                let refused = self.refused.borrow();
                if refused.len() == 0 {
                    return Retry::Done;
                }
                let part = &refused.pending()[..refused.len().min(RETRY_PART)];
                (part.len(), self.send(part))
            };
            let Some(taken) = taken else {
                // The stream failed: nothing kept can be sent any more.
                self.drop_refused();
                return Retry::Failed;
            };
            self.refused.borrow_mut().consume(taken);
            if taken < offered {
                return Retry::Kept;
            }
        }
    }

    /// Drops the kept bytes: the transport is torn down.
    pub(crate) fn drop_refused(&self) {
        self.refused.borrow_mut().clear();
    }
}

/// What writing the kept bytes again came to.
pub(crate) enum Retry {
    /// Nothing is kept any more: what waited for that (a `write_eof`, a TLS close) can go.
    Done,
    /// The host took a part and has no more room: bytes are still kept.
    Kept,
    /// The stream failed (its owner is told): the kept bytes are dropped.
    Failed,
}

/// The bytes a stream keeps, with the offset of the first one the host has not taken, so
/// that handing over a part moves nothing.
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
