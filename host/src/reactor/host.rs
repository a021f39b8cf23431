//! The WIT interface `sandloop:host/reactor` over a [`ReactorView`], and the conversions
//! of the reactor's vocabulary (interest, events, batches, queued writes) at the edge.

use std::time::Duration;

use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};

use super::{Batch, Event, Interest, QueuedWrite, RegisterError, Source, WaitError};
use crate::bindings::reactor as wit;
use crate::net::Stream;
use crate::state::{ReactorView, State};

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

    fn wait(
        &mut self,
        writes: Vec<wit::StreamWrite>,
        write_data: Vec<u8>,
        timeout_ns: Option<u64>,
    ) -> wasmtime::Result<wit::Batch> {
        let writes: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
        let timeout = timeout_ns.map(Duration::from_nanos);
        self.count_wait_entry();
        match self
            .reactor
            .wait::<Stream>(self.table, &writes, &write_data, timeout)
        {
            Ok(batch) => Ok(batch.into()),
            Err(err) => Err(trap(err)),
        }
    }
}

/// Links `wait` for instances on shared threads over the generated (blocking) one: an
/// async host function, so that a wait with nothing ready suspends the instance's fiber
/// and parks its task ([`super::Reactor::wait_parked`]) instead of blocking the thread.
pub(crate) fn link_parked_wait(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    type Params = (Vec<wit::StreamWrite>, Vec<u8>, Option<u64>);
    linker.instance(INTERFACE)?.func_wrap_async(
        "wait",
        |mut store: StoreContextMut<'_, State>, (writes, write_data, timeout_ns): Params| {
            Box::new(async move {
                let mut view = store.data_mut().reactor_view();
                view.count_wait_entry();
                let writes: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
                let timeout = timeout_ns.map(Duration::from_nanos);
                match view
                    .reactor
                    .wait_parked::<Stream>(view.table, &writes, &write_data, timeout)
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

impl From<Event> for wit::Event {
    fn from(event: Event) -> wit::Event {
        wit::Event {
            token: event.token,
            readiness: event.readiness.into(),
            data_len: event.data_len,
            write_buffered: event.write_buffered,
            write_refused: event.write_refused,
            error: event.error.map(Into::into),
        }
    }
}

impl From<Batch> for wit::Batch {
    /// The events are converted in place: both forms have the same size, so the batch's
    /// vector is reused, not copied (see the test below).
    fn from(batch: Batch) -> wit::Batch {
        wit::Batch {
            events: batch.events.into_iter().map(Into::into).collect(),
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

    /// `wait` runs once per loop iteration: handing its batch to the guest must not copy
    /// the events into a new vector, nor the guest's queued writes.
    #[test]
    fn converting_a_batch_and_its_writes_reuses_their_vectors() {
        let mut events = Vec::with_capacity(8);
        events.push(Event::readiness(1, Interest::READABLE | Interest::HANGUP));
        let before = events.as_ptr() as usize;
        let batch: wit::Batch = Batch {
            events,
            data: Vec::new(),
        }
        .into();
        assert_eq!(batch.events.as_ptr() as usize, before);
        assert_eq!(batch.events[0].token, 1);
        assert_eq!(
            batch.events[0].readiness,
            wit::Interest::READABLE | wit::Interest::HANGUP
        );

        let writes = vec![wit::StreamWrite { id: 3, len: 5 }; 4];
        let before = writes.as_ptr() as usize;
        let queued: Vec<QueuedWrite> = writes.into_iter().map(Into::into).collect();
        assert_eq!(queued.as_ptr() as usize, before);
    }
}
