//! The writes a wait of the sandloop host's reactor does for its completion-mode streams
//! (`sys/host.rs`): none in the portable build, where no such stream can be made. The
//! loop's write queue names this module as `sys::host`; it stays empty, so the loop never
//! hands it a wait.

use std::time::Duration;

use super::net::HostStream;
use crate::sys::Event;

/// Runs of writes to completion-mode streams: always empty here.
#[derive(Default)]
pub(crate) struct Writes {
    _private: (),
}

impl Writes {
    pub(crate) fn start_run(&mut self, stream: &HostStream, _bytes: &[u8]) {
        let _ = stream.id();
    }

    pub(crate) fn extend_run(&mut self, _bytes: &[u8]) -> bool {
        false
    }

    pub(crate) fn len(&self) -> usize {
        0
    }

    pub(crate) fn is_empty(&self) -> bool {
        true
    }

    pub(crate) fn runs(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::empty()
    }

    pub(crate) fn clear(&mut self, _kept_capacity: usize) {}
}

/// The loop submits writes only when some are queued, and none can be: should it ever
/// call this, it is the portable reactor's wait.
pub(crate) fn wait(_writes: &Writes, timeout: Option<Duration>, events: &mut Vec<Event>) {
    super::poll::select(timeout, events);
}
