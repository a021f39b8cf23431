//! `SelectorEventLoop`: a loop over an explicitly chosen I/O backend, with transports in
//! the readiness model.

use crate::events::EventLoop;
use crate::sys::Selector;

/// asyncio's `SelectorEventLoop(selector)`: a loop over the backend you pick, whose stream
/// transports read and write on readiness (one host call per `recv`/`send`), as asyncio's
/// selector transports do. `SelectorEventLoop::new(HostSelector::new())` runs the readiness
/// model on the host's reactor; `SelectorEventLoop::new(WasiPollSelector::new())` runs on
/// any WASI 0.2 host (timers and callbacks only: plain WASI has no sandloop sockets).
pub struct SelectorEventLoop;

impl SelectorEventLoop {
    /// A new loop waiting on `selector`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(selector: impl Selector + 'static) -> EventLoop {
        let lp = EventLoop::with_selector(Box::new(selector));
        #[cfg(feature = "host-reactor")]
        lp.set_io_mode(crate::stream_io::IoMode::Readiness);
        lp
    }
}
