//! The limit on host-buffered bytes (`Limits::buffered_bytes`): the bytes an instance's
//! streams together may hold in the host's memory, waiting for their sockets.
//!
//! Without it, a guest writing to a peer that never reads makes the host buffer without
//! end. Under it, a write sends what the kernel takes and buffers only what fits; the
//! guest keeps the rest (its own memory, under its own memory limit) and its transport
//! pauses the protocol's writing, as asyncio's flow control would. The guest writes the
//! rest again on the stream's next `writable` event, which comes when the stream's own
//! buffer is flushed or, for a stream that buffered nothing (another stream holds the
//! room), from the first wait that finds room again: such streams are *starved*.
//!
//! The room is measured by walking the instance's resource table (the callers pass the
//! walk, the reactor's `buffered`, as a closure), and only under a limit, where a
//! write needs to buffer or a starved stream waits: an exact count kept by every buffer
//! change would cost the fast path something in every run.

/// What an instance's streams may still buffer: `None` without a limit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Room(Option<usize>);

impl Room {
    /// No limit: every write buffers what the kernel does not take.
    pub(crate) const UNLIMITED: Room = Room(None);

    /// What `limit` leaves once `used` (the memory every stream buffers, counted only
    /// under a limit) is taken.
    pub(crate) fn measure(limit: Option<usize>, used: impl FnOnce() -> usize) -> Room {
        let Some(limit) = limit else {
            return Room::UNLIMITED;
        };
        Room(Some(limit.saturating_sub(used())))
    }

    /// Takes room for up to `wanted` bytes; returns how many fit.
    pub(crate) fn take(&mut self, wanted: usize) -> usize {
        match &mut self.0 {
            None => wanted,
            Some(left) => {
                let fits = wanted.min(*left);
                *left -= fits;
                fits
            }
        }
    }

    /// Whether at least one more byte fits.
    pub(crate) fn is_open(&self) -> bool {
        self.0 != Some(0)
    }
}

/// One instance's limit, and its starved streams: those that refused bytes with nothing
/// of their own buffered, so that no flush of theirs will announce room.
#[derive(Default)]
pub(crate) struct BufferLimit {
    limit: Option<usize>,
    /// Table indices of the starved streams (a stream dropped since is skipped).
    starved: Vec<u32>,
}

impl BufferLimit {
    pub(crate) fn new(limit: Option<u64>) -> BufferLimit {
        BufferLimit {
            limit: limit.map(|bytes| usize::try_from(bytes).unwrap_or(usize::MAX)),
            starved: Vec::new(),
        }
    }

    /// The room left now, when the streams buffer `used` bytes.
    pub(crate) fn room(&self, used: impl FnOnce() -> usize) -> Room {
        Room::measure(self.limit, used)
    }

    /// Notes that the stream at table index `rep` refused bytes with nothing buffered.
    pub(crate) fn starve(&mut self, rep: u32) {
        if !self.starved.contains(&rep) {
            self.starved.push(rep);
        }
    }

    /// Whether a starved stream waits for room.
    pub(crate) fn has_starved(&self) -> bool {
        !self.starved.is_empty()
    }

    /// The starved streams, if there is room for them now; they are no longer starved
    /// (one refused again starves again).
    pub(crate) fn fed(&mut self, used: impl FnOnce() -> usize) -> Vec<u32> {
        if self.starved.is_empty() || !self.room(used).is_open() {
            return Vec::new();
        }
        std::mem::take(&mut self.starved)
    }
}

#[cfg(test)]
mod tests {
    use super::Room;

    #[test]
    fn room_hands_out_what_is_left_and_no_more() {
        let mut room = Room(Some(10));
        assert_eq!(room.take(4), 4);
        assert_eq!(room.take(10), 6);
        assert!(!room.is_open());
        assert_eq!(room.take(1), 0);
        let mut unlimited = Room::UNLIMITED;
        assert_eq!(unlimited.take(usize::MAX), usize::MAX);
        assert!(unlimited.is_open());
    }
}
