//! The portable selector: nothing but standard WASI 0.2.
//!
//! In the portable build (without the `host-reactor` feature) it waits on the
//! `wasi:sockets` backend's reactor (`wasi_sockets/poll.rs`): one `wasi:io/poll.poll` per
//! wait over the pollables of what the loop watches, plus a timer. Built with the
//! sandloop host's reactor, the sockets are the host's, which this selector cannot watch
//! (a loop on it refuses them with a clear error): waiting is a monotonic-clock sleep.

use std::time::Duration;

use super::{Event, Selector};

/// Polls with plain `wasi:io/poll`, so the loop runs on any WASI 0.2 host.
///
/// ```
/// use sandloop::{SelectorEventLoop, WasiPollSelector};
/// let lp = SelectorEventLoop::new(WasiPollSelector::default());
/// lp.run_until_complete(async { println!("on any WASI 0.2 host") })?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct WasiPollSelector {
    _private: (),
}

impl WasiPollSelector {
    /// A portable selector.
    pub fn new() -> WasiPollSelector {
        WasiPollSelector { _private: () }
    }
}

impl Default for WasiPollSelector {
    fn default() -> WasiPollSelector {
        WasiPollSelector::new()
    }
}

impl Selector for WasiPollSelector {
    fn name(&self) -> &'static str {
        "WasiPollSelector"
    }

    /// In the portable build the sockets are `wasi:sockets`, which this selector watches.
    fn watches_host_sources(&self) -> bool {
        cfg!(not(feature = "host-reactor"))
    }

    #[cfg(not(feature = "host-reactor"))]
    fn select(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) {
        super::wasi_sockets::poll::select(timeout, events);
    }

    #[cfg(feature = "host-reactor")]
    fn select(&mut self, timeout: Option<Duration>, _events: &mut Vec<Event>) {
        match timeout {
            Some(t) if t.is_zero() => {}
            Some(t) => std::thread::sleep(t),
            // Nothing can ever become ready: block the way asyncio's selector would.
            None => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
        }
    }
}
