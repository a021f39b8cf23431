//! `SelectorEventLoop`: a loop over an explicitly chosen I/O backend.

use crate::base_events::EventLoop;
use crate::sys::Selector;

/// asyncio's `SelectorEventLoop(selector)`: a loop over the backend you pick, e.g.
/// `SelectorEventLoop::new(WasiPollSelector::new())` to run on any WASI 0.2 host.
pub struct SelectorEventLoop;

impl SelectorEventLoop {
    /// A new loop waiting on `selector`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(selector: impl Selector + 'static) -> EventLoop {
        EventLoop::with_selector(Box::new(selector))
    }
}
