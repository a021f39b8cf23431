//! The WIT interface `sandloop:host/reactor` over a [`ReactorView`], and the conversions
//! of the reactor's vocabulary (interest, events, batches, queued writes) at the edge.

use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource, WasmList};

use super::{Batch, Interest, QueuedWrite, RegisterError, Source, WaitError};
use crate::bindings::reactor as wit;
use crate::guest_bytes::guest_bytes;
use crate::net::Stream;
use crate::state::{HasReactor, ReactorView, State};

/// The WIT name of the interface, as the linker knows it.
const INTERFACE: &str = "sandloop:host/reactor@0.1.0";

impl wit::Host for ReactorView<'_> {
    fn register(
        &mut self,
        src: Resource<Source>,
        token: u64,
        interest: wit::Interest,
    ) -> wasmtime::Result<Result<(), wit::ErrorCode>> {
        let registry = self.reactor.registry();
        let source = self.table.get_mut(&src)?;
        Ok(source
            .register(registry, src.rep(), token, interest.into())
            .map_err(Into::into))
    }

    fn reregister(
        &mut self,
        src: Resource<Source>,
        token: u64,
        interest: wit::Interest,
    ) -> wasmtime::Result<Result<(), wit::ErrorCode>> {
        let registry = self.reactor.registry();
        let source = self.table.get_mut(&src)?;
        Ok(source
            .reregister(registry, src.rep(), token, interest.into())
            .map_err(Into::into))
    }

    fn deregister(
        &mut self,
        src: Resource<Source>,
    ) -> wasmtime::Result<Result<(), wit::ErrorCode>> {
        let registry = self.reactor.registry();
        let source = self.table.get_mut(&src)?;
        Ok(source.deregister(registry).map_err(Into::into))
    }

    /// The generated glue's `wait`, which lifts `write-data` into a vector of its own; the
    /// linker links one that reads it in place instead (see [`add_to_linker`]).
    fn wait(
        &mut self,
        writes: Vec<wit::StreamWrite>,
        write_data: Vec<u8>,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<wit::Batch> {
        self.wait_with(writes, &write_data, timeout_ns)
    }
}

/// `wait`'s parameters as the linker lifts them: `write-data` stays in the guest's
/// memory ([`WasmList`]), so the bytes the guest queued are sent from there, not copied
/// into the host first (see `crate::guest_bytes`).
type WaitParams = (Vec<wit::StreamWrite>, WasmList<u8>, Option<u64>);

/// Links `sandloop:host/reactor`: the generated glue, with `wait` replaced by one that
/// reads `write-data` in place.
pub(crate) fn add_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    wit::add_to_linker::<State, HasReactor>(linker, State::reactor_view)?;
    linker.allow_shadowing(true);
    let linked = linker.instance(INTERFACE).and_then(|mut instance| {
        instance.func_wrap(
            "wait",
            |mut store: StoreContextMut<'_, State>,
             (writes, write_data, timeout_ns): WaitParams| {
                let write_data = guest_bytes(&store, &write_data);
                let mut view = store.data_mut().reactor_view();
                Ok((view.wait_with(writes, write_data, timeout_ns)?,))
            },
        )
    });
    linker.allow_shadowing(false);
    linked
}

/// Links `wait` for instances on shared threads over the generated (blocking) one: an
/// async host function, so that a wait with nothing ready suspends the instance's fiber
/// and parks its task ([`super::Reactor::wait_parked`]) instead of blocking the thread.
pub(crate) fn link_parked_wait(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.instance(INTERFACE)?.func_wrap_async(
        "wait",
        |mut store: StoreContextMut<'_, State>, (writes, write_data, timeout_ns): WaitParams| {
            Box::new(async move {
                let write_data = guest_bytes(&store, &write_data);
                let mut view = store.data_mut().reactor_view();
                view.count_wait_entry();
                let writes: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
                let timeout = timeout_ns.map(Duration::from_nanos);
                match view
                    .reactor
                    .wait_parked::<Stream>(view.table, &writes, write_data, timeout)
                    .await
                {
                    Ok(batch) => Ok((wit::Batch::from(batch),)),
                    Err(err) => Err(trap(err)),
                }
            })
        },
    )
}

impl ReactorView<'_> {
    /// `wait` with the guest's queued writes (`writes`, each the next `len` bytes of
    /// `write_data`).
    fn wait_with(
        &mut self,
        writes: Vec<wit::StreamWrite>,
        write_data: &[u8],
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<wit::Batch> {
        let writes: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
        let timeout = timeout_ns.map(Duration::from_nanos);
        self.count_wait_entry();
        match self
            .reactor
            .wait::<Stream>(self.table, &writes, write_data, timeout)
        {
            Ok(batch) => Ok(batch.into()),
            Err(err) => Err(trap(err)),
        }
    }

    /// The guest enters `wait`: its callbacks since the last one ran until now, and what
    /// it holds now is what it holds while it waits (see `stats.rs`).
    fn count_wait_entry(&mut self) {
        let table = &mut *self.table;
        self.stats
            .entering_wait(self.reactor.watch.callback_since, || {
                crate::limits::held(table)
            });
    }
}

impl wit::HostSource for ReactorView<'_> {
    fn drop(&mut self, src: Resource<Source>) -> wasmtime::Result<()> {
        let mut source = self.table.delete(src)?;
        source.release(self.reactor.registry());
        Ok(())
    }
}

/// A failed wait as the trap that ends the instance (a stop stays recognisable as
/// [`super::Stopped`]).
fn trap(err: WaitError) -> wasmtime::Error {
    match err {
        WaitError::Stopped(stopped) => stopped.into(),
        err @ WaitError::WriteData { .. } => wasmtime::format_err!("{err}"),
        WaitError::NoStream { id, source } => wasmtime::Error::from(source)
            .context(format!("reactor.wait: stream id {id} names no open stream")),
        WaitError::Poll(err) => wasmtime::Error::from(err).context("reactor wait failed"),
    }
}

impl From<wit::Interest> for Interest {
    fn from(wit: wit::Interest) -> Interest {
        let mut interest = Interest::empty();
        if wit.contains(wit::Interest::READABLE) {
            interest |= Interest::READABLE;
        }
        if wit.contains(wit::Interest::WRITABLE) {
            interest |= Interest::WRITABLE;
        }
        if wit.contains(wit::Interest::HANGUP) {
            interest |= Interest::HANGUP;
        }
        interest
    }
}

impl From<Interest> for wit::Interest {
    fn from(interest: Interest) -> wit::Interest {
        let mut wit = wit::Interest::empty();
        if interest.contains(Interest::READABLE) {
            wit |= wit::Interest::READABLE;
        }
        if interest.contains(Interest::WRITABLE) {
            wit |= wit::Interest::WRITABLE;
        }
        if interest.contains(Interest::HANGUP) {
            wit |= wit::Interest::HANGUP;
        }
        wit
    }
}

/// The words of one event in `batch.events` (the WIT's `batch` documents the layout).
const EVENT_WORDS: usize = 4;

/// Word 1 of an event: the bit that says it carries the next failure of `batch.errors`.
const FAILED: u64 = 1 << 8;

/// Word 1 of an event: where `data-len` starts.
const DATA_LEN_SHIFT: u32 = 32;

/// Word 1 of an event: what is ready, as the bits of the WIT's `interest` flags.
fn readiness_bits(readiness: Interest) -> u64 {
    let mut bits = 0;
    if readiness.contains(Interest::READABLE) {
        bits |= 1;
    }
    if readiness.contains(Interest::WRITABLE) {
        bits |= 1 << 1;
    }
    if readiness.contains(Interest::HANGUP) {
        bits |= 1 << 2;
    }
    bits
}

impl From<Batch> for wit::Batch {
    /// Packs the events into four words each (the rare failures go to `errors`): a list of
    /// `u64` is lowered into the guest as one block copy, a list of records field by field.
    fn from(batch: Batch) -> wit::Batch {
        let mut events = Vec::with_capacity(batch.events.len() * EVENT_WORDS);
        let mut errors = Vec::new();
        for event in batch.events {
            let mut word =
                readiness_bits(event.readiness) | u64::from(event.data_len) << DATA_LEN_SHIFT;
            if let Some(error) = event.error {
                word |= FAILED;
                errors.push(error.into());
            }
            events.extend([event.token, word, event.write_buffered, event.write_refused]);
        }
        wit::Batch {
            events,
            errors,
            data: batch.data,
        }
    }
}

impl From<wit::StreamWrite> for QueuedWrite {
    fn from(write: wit::StreamWrite) -> QueuedWrite {
        QueuedWrite {
            id: write.id,
            len: write.len,
        }
    }
}

impl From<RegisterError> for wit::ErrorCode {
    fn from(err: RegisterError) -> wit::ErrorCode {
        match err {
            RegisterError::AlreadyRegistered => wit::ErrorCode::AlreadyRegistered,
            RegisterError::NotRegistered => wit::ErrorCode::NotRegistered,
            RegisterError::EmptyInterest => wit::ErrorCode::EmptyInterest,
            RegisterError::Os => wit::ErrorCode::OsError,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::Event;

    /// Every field of an event keeps its meaning in the packed form, the failures in
    /// event order.
    #[test]
    fn a_packed_batch_keeps_every_field_of_its_events() {
        let failure = crate::error::error(crate::error::ErrorKind::ConnectionReset, "reset");
        let batch: wit::Batch = Batch {
            events: vec![
                Event::readiness(1, Interest::READABLE | Interest::HANGUP),
                Event {
                    token: u64::MAX,
                    readiness: Interest::READABLE | Interest::WRITABLE,
                    data_len: u32::MAX,
                    write_buffered: 7,
                    write_refused: u64::MAX,
                    error: None,
                },
                Event {
                    token: 3,
                    readiness: Interest::HANGUP,
                    data_len: 0,
                    write_buffered: 9,
                    write_refused: 0,
                    error: Some(failure),
                },
            ],
            data: vec![0; 5],
        }
        .into();
        assert_eq!(
            batch.events,
            [
                1,
                0b101,
                0,
                0,
                u64::MAX,
                0b011 | (u64::from(u32::MAX) << 32),
                7,
                u64::MAX,
                3,
                0b100 | 1 << 8,
                9,
                0,
            ]
        );
        assert_eq!(batch.errors.len(), 1);
        assert_eq!(batch.errors[0].message, "reset");
        assert_eq!(batch.data.len(), 5);
    }

    /// `wait` runs once per loop iteration: taking the guest's queued writes must not copy
    /// them into a new vector.
    #[test]
    fn converting_queued_writes_reuses_their_vector() {
        let writes = vec![wit::StreamWrite { id: 3, len: 5 }; 4];
        let before = writes.as_ptr() as usize;
        let queued: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
        assert_eq!(queued.as_ptr() as usize, before);
    }
}
