//! The native reactor: the host side of the WIT interface `sandloop:host/reactor`.
//!
//! One `Reactor` per instance wraps one `mio::Poll`, or, for an instance on shared threads,
//! a seat at the one shared epoll set (`hub.rs`, `park.rs`). A guest registers a [`Source`] (a
//! host resource with a native fd, handed out by the interfaces that own it) under a
//! token of its own choosing, then calls `wait` once per loop iteration and receives every
//! ready registration in one batch: cost O(ready), not O(registered).
//!
//! # Readiness is level-triggered
//!
//! mio is edge-triggered, but the guest loop follows asyncio, whose selectors are
//! level-triggered: a reader callback that reads only part of the pending data must be
//! called again on the next iteration. The reactor therefore re-arms every source it
//! reported (one `epoll_ctl(MOD)` each, which makes the kernel re-check readiness) before
//! the next wait. A source that is still ready is reported again; one that was drained is
//! not. The cost stays O(ready). A stream socket watched for reading only whose `recv`
//! emptied it since (a short read, or none to take) is not re-armed: the next bytes to
//! arrive are an edge of their own (see `source::Drained`).
//!
//! # Completions
//!
//! A completion-mode stream (the net module's `Stream`) is not a readiness source: on
//! readiness `wait` has it do its I/O, and it reports the outcome (bytes read, bytes still
//! buffered, end of stream, failure) in its event. The reactor knows it only as a
//! `Completion` (see `completion.rs`): it hands it one `Turn` at a time and remembers
//! what the `Follow` it returns says. The bytes carried by one batch are capped at
//! [`MAX_BATCH_DATA`] in all, so that a batch stays a bounded copy.
//!
//! Work done on host threads (DNS lookups, executor jobs, posts, signals) completes
//! through the `Completer` (see `waker.rs`).
//!
//! The files: `token.rs` (the mio tokens), `source.rs` (readiness sources), `event.rs`
//! (events, batches, queued writes), `completion.rs` (what a stream implements),
//! `room.rs` (the limit on host-buffered bytes), `waker.rs`, `watch.rs` (the stop flag
//! and callback clock the watchdog reads); `host.rs` is the WIT glue.

mod completion;
mod doorbell;
mod event;
mod host;
mod hub;
pub(crate) use host::{add_to_linker, link_parked_wait};
mod park;
pub(crate) mod room;
mod source;
mod token;
mod waker;
mod watch;

#[cfg(test)]
mod tests;

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use wasmtime::component::{Resource, ResourceTable, ResourceTableError};

pub use completion::MAX_BATCH_DATA;
pub(crate) use completion::{BatchOut, Completion, Follow, Ready, Turn, buffered};
pub(crate) use event::{Batch, Event, Interest, QueuedWrite, Readiness};
pub(crate) use hub::{Hub, Seated, seat_bits as current_seat};
pub use park::BUDGET;
use park::Park;
use room::BufferLimit;
pub use source::Source;
pub(crate) use source::{Drained, RegisterError};
pub(crate) use token::{TokenKind, decode, token};
pub(crate) use waker::Completer;
pub use waker::ReactorWaker;
use waker::{Alarm, Completions};
pub(crate) use watch::{Stopped, Watch};

/// How many events one `wait` can return; more stay queued in the kernel for the next.
const EVENTS_CAPACITY: usize = 1024;

/// One instance's reactor: a `mio::Poll`, its reusable event buffer and its waker.
///
/// On a thread of its own (`Reactor::new`) the instance blocks in `epoll_wait` and is
/// woken through an eventfd; on shared threads (`Reactor::parked`) it parks its task
/// instead (see `park.rs`) and is woken through a doorbell.
pub(crate) struct Reactor {
    io: Io,
    /// What the kernel reported for this instance, as the current wait serves it.
    ready: Vec<Readiness>,
    waker: Alarm,
    /// What the reactor remembers of what it served, by table index.
    followups: Followups,
    /// The work host threads finished, not yet reported.
    completions: Completions,
    /// The stop flag and the start of the guest's current callback, for the watchdog.
    pub(crate) watch: Watch,
    /// The limit on host-buffered bytes, and the streams waiting for room under it.
    pub(crate) buffers: BufferLimit,
    /// What the next batch's bytes are allocated with (see [`next_data_capacity`]).
    data_capacity: usize,
}

/// What the reactor remembers between the steps of a wait and from one wait to the next:
/// table indices of sources and streams.
#[derive(Default)]
struct Followups {
    /// Sources reported by the last `wait`, re-armed before the next.
    reported: Vec<u32>,
    /// Streams whose read stopped at a limit, re-armed before the next wait.
    unfinished: Vec<u32>,
    /// Streams holding input the kernel will not announce (TLS plaintext a read budget
    /// left behind): the next wait serves them without blocking.
    held: Vec<u32>,
    /// Streams served by the current wait (each at most once).
    served: Vec<u32>,
    /// Streams that `wait`'s writes left with bytes buffered or refused, whose counts the
    /// batch reports at its end.
    written: Vec<u32>,
}

impl Followups {
    /// Remembers what serving the stream at table index `rep` asked for.
    fn note(&mut self, rep: u32, follow: Follow, buffers: &mut BufferLimit) {
        if follow.rearm {
            self.unfinished.push(rep);
        }
        if follow.hold {
            self.held.push(rep);
        }
        if follow.report {
            self.written.push(rep);
        }
        if follow.starve {
            buffers.starve(rep);
        }
    }
}

/// The capacity the next batch's bytes start with: what the last batch's grew to, so that
/// a steady load reads into one allocation instead of growing it stream by stream (each
/// growth a `realloc` that copies the bytes read so far: under 64 streams of 16 KiB, about
/// half as many bytes again as the batch carries). It halves when the last batch used less
/// than a quarter of it, so one burst does not keep a large allocation per wait; the bytes
/// are never zeroed, and only those read are copied into the guest.
fn next_data_capacity(data: &Vec<u8>) -> usize {
    let capacity = data.capacity();
    match data.len() < capacity / 4 {
        true => capacity / 2,
        false => capacity,
    }
}

/// Why a `wait` failed: each ends the instance (a trap), so the glue turns it into one.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WaitError {
    /// The instance was stopped from outside.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The writes' lengths add up to more than `write-data` holds.
    #[error("reactor.wait: the writes' lengths add up to more than the {len} bytes of write-data")]
    WriteData { len: usize },
    /// A write names a stream the table does not hold.
    #[error("reactor.wait: stream id {id} names no open stream")]
    NoStream {
        id: u32,
        #[source]
        source: ResourceTableError,
    },
    /// `epoll_wait` failed.
    #[error("reactor wait failed")]
    Poll(#[source] io::Error),
}

/// Where an instance's registrations live and how it waits for them.
enum Io {
    /// An epoll set of its own, in which it blocks its thread.
    Own { poll: Poll, events: Events },
    /// A seat at the shared reactor, where it parks its task.
    Parked(Park),
}

impl Io {
    fn registry(&self) -> &mio::Registry {
        match self {
            Io::Own { poll, .. } => poll.registry(),
            Io::Parked(park) => park.seat.registry(),
        }
    }
}

impl Reactor {
    /// Creates the poller (an epoll fd) of an instance that blocks a thread of its own;
    /// its waker makes an eventfd when the instance first may block (see `Bell`).
    pub(crate) fn new() -> io::Result<Reactor> {
        let io = Io::Own {
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_CAPACITY),
        };
        Ok(Reactor::with(io, Alarm::Eventfd(Arc::default())))
    }

    /// The reactor of an instance on shared threads: a seat at `hub`, where it parks its
    /// task in [`wait_parked`](Reactor::wait_parked), woken by a doorbell. No descriptor.
    pub(crate) fn parked(hub: &Arc<Hub>) -> io::Result<Reactor> {
        let park = Park::new(hub)?;
        let waker = Alarm::Doorbell(Arc::clone(&park.doorbell));
        Ok(Reactor::with(Io::Parked(park), waker))
    }

    fn with(io: Io, waker: Alarm) -> Reactor {
        Reactor {
            io,
            ready: Vec::new(),
            waker,
            followups: Followups::default(),
            completions: Completions::default(),
            watch: Watch::new(),
            buffers: BufferLimit::default(),
            data_capacity: 0,
        }
    }

    /// Puts the instance's streams under a limit of `bytes` buffered in the host
    /// (`Limits::buffered_bytes`); `None` lifts it.
    pub(crate) fn limit_buffers(&mut self, bytes: Option<u64>) {
        self.buffers = BufferLimit::new(bytes);
    }

    /// The registry that sources and streams register with.
    pub(crate) fn registry(&self) -> &mio::Registry {
        self.io.registry()
    }

    /// The seat bits of an instance on shared threads, which its task sets while it runs
    /// (see [`Seated`]); 0 on a thread of its own.
    pub(crate) fn seat_bits(&self) -> usize {
        match &self.io {
            Io::Own { .. } => 0,
            Io::Parked(park) => park.seat.bits(),
        }
    }

    /// Has the next wait serve the stream at table index `rep`, which holds input no
    /// kernel event will announce, without blocking.
    pub(crate) fn hold(&mut self, rep: u32) {
        if !self.followups.held.contains(&rep) {
            self.followups.held.push(rep);
        }
    }

    /// What host threads use to report finished work under a guest token.
    pub(crate) fn completer(&self) -> Completer {
        self.completions.completer(&self.waker)
    }

    /// A handle that host threads use to interrupt `wait`.
    pub(crate) fn waker(&self) -> ReactorWaker {
        ReactorWaker(self.waker.clone())
    }

    /// One `wait`: does the `writes` the guest queued (each `len` bytes of `write_data`,
    /// in order), then waits up to `timeout` for readiness and returns every event ready,
    /// with the bytes read for the completion-mode streams (`C`).
    ///
    /// The steps, in order: the queued writes; re-arming what the last wait left; the
    /// timeout (none when something is already known to report); the kernel's wait; the
    /// kernel's events (sources reported, streams served); held input; the reports of
    /// what the writes left buffered or refused; room for starved streams; completions.
    pub(crate) fn wait<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        writes: &[QueuedWrite],
        write_data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Batch, WaitError> {
        let batch = self.begin::<C>(table, writes, write_data)?;
        let timeout = self.timeout::<C>(table, timeout, &batch);
        self.poll(timeout)?;
        self.finish::<C>(table, batch)
    }

    /// The `wait` of an instance on shared threads: the same steps as [`Reactor::wait`],
    /// but where that blocks in the kernel this parks the task (see `park.rs`), and it
    /// yields the thread first when the instance has run its budget.
    pub(crate) async fn wait_parked<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        writes: &[QueuedWrite],
        write_data: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Batch, WaitError> {
        let Io::Parked(park) = &mut self.io else {
            // An instance with a reactor of its own (an executor worker's) blocks.
            return self.wait::<C>(table, writes, write_data, timeout);
        };
        park.take_turn().await;
        let batch = self.begin::<C>(table, writes, write_data)?;
        let timeout = self.timeout::<C>(table, timeout, &batch);
        let Io::Parked(park) = &mut self.io else {
            unreachable!("checked above")
        };
        park.take(&mut self.ready).map_err(WaitError::Poll)?;
        if self.ready.is_empty() && timeout != Some(Duration::ZERO) {
            park.park(timeout).await;
            park.take(&mut self.ready).map_err(WaitError::Poll)?;
        }
        self.finish::<C>(table, batch)
    }

    /// The steps of a wait before the kernel's: the queued writes, re-arming what the last
    /// wait left.
    fn begin<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        writes: &[QueuedWrite],
        write_data: &[u8],
    ) -> Result<BatchOut, WaitError> {
        self.check_stopped()?;
        let mut batch = BatchOut::new(self.data_capacity);
        self.write_queued::<C>(table, writes, write_data, &mut batch)?;
        self.rearm::<C>(table);
        Ok(batch)
    }

    /// The steps of a wait after the kernel's: what it reported, held input, what the
    /// writes left, room, completions.
    fn finish<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        mut batch: BatchOut,
    ) -> Result<Batch, WaitError> {
        self.check_stopped()?;
        let held = std::mem::take(&mut self.followups.held);
        self.serve_events::<C>(table, &mut batch);
        self.serve_held::<C>(table, held, &mut batch);
        self.report_written::<C>(table, &mut batch);
        self.report_room::<C>(table, &mut batch);
        self.completions.drain_into(&mut batch.events);
        self.data_capacity = next_data_capacity(&batch.data);
        // The guest's next callback starts now: the watchdog charges it from here.
        self.watch.callback_since = Instant::now();
        Ok(Batch {
            events: batch.events,
            data: batch.data,
        })
    }

    fn check_stopped(&self) -> Result<(), Stopped> {
        match self.watch.stopped() {
            true => Err(Stopped),
            false => Ok(()),
        }
    }

    /// Does the writes the guest queued for this wait, in order, each through its
    /// stream's [`Turn::Write`]. A failure is reported in the batch; a write that left
    /// bytes buffered or refused is reported at the batch's end.
    fn write_queued<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        writes: &[QueuedWrite],
        write_data: &[u8],
        batch: &mut BatchOut,
    ) -> Result<(), WaitError> {
        if !writes.is_empty() {
            batch.write_room = self.buffers.room(|| buffered::<C>(table));
        }
        let registry = self.io.registry();
        let mut at: usize = 0;
        for write in writes {
            let bytes = at
                .checked_add(write.len as usize)
                .and_then(|end| write_data.get(at..end))
                .ok_or(WaitError::WriteData {
                    len: write_data.len(),
                })?;
            at += bytes.len();
            let stream = table
                .get_mut(&Resource::<C>::new_borrow(write.id))
                .map_err(|source| WaitError::NoStream {
                    id: write.id,
                    source,
                })?;
            let follow = stream.serve(Turn::Write(bytes), registry, batch);
            self.followups.note(write.id, follow, &mut self.buffers);
        }
        Ok(())
    }

    /// Re-arms the sources the last wait reported, so that those still ready are reported
    /// again (level-triggered semantics on top of edge-triggered mio), and the streams
    /// whose read stopped at a limit.
    fn rearm<C: Completion>(&mut self, table: &mut ResourceTable) {
        let registry = self.io.registry();
        for rep in self.followups.reported.drain(..) {
            // The guest may have dropped or deregistered the source since: skip it then.
            if let Ok(source) = table.get_mut(&Resource::<Source>::new_borrow(rep)) {
                source.rearm(registry, rep);
            }
        }
        for rep in self.followups.unfinished.drain(..) {
            if let Ok(stream) = table.get_mut(&Resource::<C>::new_borrow(rep)) {
                stream.rearm(registry);
            }
        }
    }

    /// The wait's timeout: `asked`, or none at all when finished work, a failed write,
    /// held input or room for a starved stream is waiting to be reported now (with
    /// whatever else is ready).
    fn timeout<C: Completion>(
        &self,
        table: &mut ResourceTable,
        asked: Option<Duration>,
        batch: &BatchOut,
    ) -> Option<Duration> {
        if self.completions.pending()
            || !batch.events.is_empty()
            || !self.followups.held.is_empty()
            || (self.buffers.has_starved() && self.buffers.room(|| buffered::<C>(table)).is_open())
        {
            return Some(Duration::ZERO);
        }
        asked
    }

    /// The kernel's wait, into the reusable event buffer.
    fn poll(&mut self, timeout: Option<Duration>) -> Result<(), WaitError> {
        let (Io::Own { poll, events }, Alarm::Eventfd(bell)) = (&mut self.io, &self.waker) else {
            unreachable!("only an instance with its own epoll blocks in it")
        };
        self.ready.clear();
        let rung = bell
            .take(poll.registry(), timeout != Some(Duration::ZERO))
            .map_err(WaitError::Poll)?;
        let timeout = if rung { Some(Duration::ZERO) } else { timeout };
        match poll.poll(events, timeout) {
            Ok(()) => {
                self.ready.extend(events.iter().map(Readiness::of));
                Ok(())
            }
            // A signal interrupted the wait: no readiness, and the guest loop comes back.
            // The batch still reports what its writes left buffered (the guest counts on
            // it) and finished work.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(err) => Err(WaitError::Poll(err)),
        }
    }

    /// Reports the sources the kernel found ready, and serves the streams it reported.
    fn serve_events<C: Completion>(&mut self, table: &mut ResourceTable, batch: &mut BatchOut) {
        batch.events.reserve(self.ready.len());
        self.followups.served.clear();
        let registry = self.io.registry();
        for event in &self.ready {
            let Some((kind, rep)) = decode(event.token) else {
                continue;
            };
            match kind {
                TokenKind::Source => {
                    let Ok(source) = table.get(&Resource::<Source>::new_borrow(rep)) else {
                        continue;
                    };
                    let Some(registration) = source.registration() else {
                        continue;
                    };
                    let ready = source::readiness(event, registration.interest);
                    if ready == Interest::empty() {
                        // Readable data on a hangup-only registration: nothing to report,
                        // and not re-armed, so it cannot turn into a busy loop.
                        continue;
                    }
                    batch.push(Event::readiness(registration.token, ready));
                    source.reported(ready);
                    self.followups.reported.push(rep);
                }
                TokenKind::Stream => {
                    let Ok(stream) = table.get_mut(&Resource::<C>::new_borrow(rep)) else {
                        continue;
                    };
                    let follow = stream.serve(Turn::Ready(Ready::of(event)), registry, batch);
                    self.followups.note(rep, follow, &mut self.buffers);
                    self.followups.served.push(rep);
                }
            }
        }
    }

    /// Serves the streams holding input that the kernel did not report again, as if
    /// readable (one event per stream per batch still).
    fn serve_held<C: Completion>(
        &mut self,
        table: &mut ResourceTable,
        held: Vec<u32>,
        batch: &mut BatchOut,
    ) {
        let registry = self.io.registry();
        for rep in held {
            if self.followups.served.contains(&rep) {
                continue;
            }
            let Ok(stream) = table.get_mut(&Resource::<C>::new_borrow(rep)) else {
                continue;
            };
            let follow = stream.serve(Turn::Held, registry, batch);
            self.followups.note(rep, follow, &mut self.buffers);
        }
    }

    /// Reports what this wait's writes left buffered or refused, for the streams whose
    /// event did not carry the count already.
    fn report_written<C: Completion>(&mut self, table: &mut ResourceTable, batch: &mut BatchOut) {
        let registry = self.io.registry();
        for rep in self.followups.written.drain(..) {
            if let Ok(stream) = table.get_mut(&Resource::<C>::new_borrow(rep)) {
                stream.serve(Turn::Written, registry, batch);
            }
        }
    }

    /// Tells the streams that refused bytes with nothing of their own buffered that there
    /// is room again, if there is.
    fn report_room<C: Completion>(&mut self, table: &mut ResourceTable, batch: &mut BatchOut) {
        let registry = self.io.registry();
        for rep in self.buffers.fed(|| buffered::<C>(table)) {
            if let Ok(stream) = table.get_mut(&Resource::<C>::new_borrow(rep)) {
                stream.serve(Turn::Fed, registry, batch);
            }
        }
    }
}
