//! The selector over the sandloop host's native reactor (`sandloop:host/reactor`).

use std::time::Duration;

use super::{Event, Readiness, Selector, StreamWrite};

use super::bindings::reactor;
use super::net::error_from_wit;

/// Waits on the host's native reactor: one boundary crossing per loop iteration does the
/// batch's stream writes and returns every ready event at once, so the cost is O(ready)
/// rather than O(registered), and writes cost no crossing of their own.
pub struct HostSelector {
    _private: (),
}

impl HostSelector {
    /// A selector over the host's reactor. Building a workload with the `host-reactor`
    /// feature makes it import `sandloop:host/reactor`, so it needs the sandloop host.
    pub fn new() -> HostSelector {
        HostSelector { _private: () }
    }
}

impl Default for HostSelector {
    fn default() -> HostSelector {
        HostSelector::new()
    }
}

impl Selector for HostSelector {
    fn name(&self) -> &'static str {
        "HostSelector"
    }

    fn watches_host_sources(&self) -> bool {
        true
    }

    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) {
        self.select_after_writes(&mut [], timeout, events);
    }

    fn select_after_writes(
        &mut self,
        writes: &mut [StreamWrite],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) {
        let timeout_ns = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        let wit_writes: Vec<reactor::StreamWrite> = writes
            .iter_mut()
            .map(|w| reactor::StreamWrite {
                id: w.id,
                data: std::mem::take(&mut w.data),
            })
            .collect();
        let batch = reactor::wait(&wit_writes, timeout_ns);
        for (w, wit) in writes.iter_mut().zip(wit_writes) {
            w.data = wit.data;
        }
        for ev in batch {
            events.push(Event {
                token: ev.token,
                readiness: Readiness {
                    readable: ev.readiness.contains(reactor::Interest::READABLE),
                    writable: ev.readiness.contains(reactor::Interest::WRITABLE),
                    hangup: ev.readiness.contains(reactor::Interest::HANGUP),
                },
                data: ev.data,
                write_buffered: ev.write_buffered,
                error: ev.error.map(error_from_wit),
            });
        }
    }
}
