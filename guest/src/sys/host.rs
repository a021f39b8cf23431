//! The selector over the sandloop host's native reactor (`sandloop:host/reactor`).

use std::time::Duration;

use super::{Event, Readiness, Selector};

use super::bindings::reactor;
use super::net::error_from_wit;

/// Waits on the host's native reactor: one boundary crossing per loop iteration returns every
/// ready event at once, so the cost is O(ready) rather than O(registered).
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
        let timeout_ns = timeout.map(|t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        for ev in reactor::wait(timeout_ns) {
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
