//! `SelectorEventLoop`, and the stream under a readiness-mode transport (the I/O half of
//! asyncio's `_SelectorSocketTransport`, `selector_events.py`): the loop watches the socket
//! and reads and writes itself, one host call per `recv`/`send`, buffering unsent bytes in
//! the guest, as asyncio's selector transports do.
//!
//! The transport sees the same events as in completion mode (`proactor_events.rs`): the
//! stream (`selector_events/stream.rs`) does the I/O the host would have done, and fills
//! each event the way the host fills it. `add_reader`, `add_writer` and the `sock_*` coroutines, the
//! other half of asyncio's `selector_events.py`, are in `readiness.rs`.

mod endpoint;
mod stream;

use crate::events::EventLoop;
use crate::sys::Selector;

pub(crate) use endpoint::Endpoint;
pub(crate) use stream::ReadinessStream;

/// asyncio's `SelectorEventLoop(selector)`: a loop over the backend you pick, whose stream
/// transports read and write on readiness (one host call per `recv`/`send`), as asyncio's
/// selector transports do. `SelectorEventLoop::new(HostSelector::new())` runs the readiness
/// model on the host's reactor; `SelectorEventLoop::new(WasiPollSelector::new())` runs on
/// any WASI 0.2 host (with sockets in the portable build, over `wasi:sockets`; built with
/// the host's reactor, timers and callbacks only).
///
/// asyncio: `asyncio.SelectorEventLoop(selector)`. On a WASI 0.2 host of any kind:
///
/// ```
/// use std::time::Duration;
/// use sandloop::{SelectorEventLoop, WasiPollSelector};
/// let lp = SelectorEventLoop::new(WasiPollSelector::new());
/// let n = lp.run_until_complete(async {
///     sandloop::sleep(Duration::from_millis(10)).await?;
///     Ok::<_, sandloop::Error>(7)
/// })?;
/// assert_eq!(n, 7);
/// lp.close()?;
/// # Ok::<_, sandloop::Error>(())
/// ```
pub struct SelectorEventLoop;

impl SelectorEventLoop {
    /// A new loop waiting on `selector`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(selector: impl Selector + 'static) -> EventLoop {
        let lp = EventLoop::with_selector(Box::new(selector));
        lp.set_io_mode(crate::stream_io::IoMode::Readiness);
        lp
    }
}
