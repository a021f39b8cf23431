//! `ProactorEventLoop`: stream transports in the host's completion mode.

use crate::events::EventLoop;
use crate::stream_io::IoMode;
use crate::sys::HostSelector;

/// asyncio's `ProactorEventLoop`, the completion model on our platform: the host reads on
/// readiness and hands the bytes over inside the reactor's event batch, and a write copies
/// once into the host, which buffers what the kernel does not take. About one boundary
/// crossing per event batch and one per write. This is also what `EventLoop::new()` picks
/// on the sandloop host.
pub struct ProactorEventLoop;

impl ProactorEventLoop {
    /// A new loop on the host's reactor with completion-mode transports.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> EventLoop {
        let lp = EventLoop::with_selector(Box::new(HostSelector::new()));
        lp.set_io_mode(IoMode::Completion);
        lp
    }
}
