//! The portable selector: nothing but standard WASI 0.2.
//!
//! Plain WASI 0.2 has none of the sandloop host's sockets or lookups, so this selector
//! watches no sources (a loop on it refuses host sockets with a clear error): waiting is a
//! monotonic-clock sleep, which the standard library implements with `wasi:io/poll` on a
//! `wasi:clocks` pollable.

use std::time::Duration;

use super::{Event, Selector};

/// Polls with plain `wasi:io/poll`, so the loop runs on any WASI 0.2 host.
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
