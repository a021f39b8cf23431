//! The selector over the sandloop host's native reactor (`sandloop:host/reactor`).

use std::rc::Rc;
use std::time::Duration;

use super::bindings::reactor;
use super::errors::error_from_wit;
use super::{Event, EventData, Readiness, Selector, StreamWrite};

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
        self.select_after_writes(&[], &[], timeout, events);
    }

    fn select_after_writes(
        &mut self,
        writes: &[StreamWrite],
        data: &[u8],
        timeout: Option<Duration>,
        events: &mut Vec<Event>,
    ) {
        let timeout_ns = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        let records: Vec<reactor::StreamWrite> = writes
            .iter()
            .map(|w| reactor::StreamWrite {
                id: w.id,
                len: w.len,
            })
            .collect();
        let batch = reactor::wait(&records, data, timeout_ns);
        let bytes = Rc::new(batch.data);
        let mut at = 0;
        for ev in batch.events {
            let end = at + ev.data_len as usize;
            events.push(Event {
                token: ev.token,
                readiness: Readiness {
                    readable: ev.readiness.contains(reactor::Interest::READABLE),
                    writable: ev.readiness.contains(reactor::Interest::WRITABLE),
                    hangup: ev.readiness.contains(reactor::Interest::HANGUP),
                },
                data: if end > at {
                    EventData::shared(&bytes, at..end)
                } else {
                    EventData::default()
                },
                write_buffered: ev.write_buffered,
                write_refused: ev.write_refused,
                error: ev.error.map(error_from_wit),
            });
            at = end;
        }
    }
}
