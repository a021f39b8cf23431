//! A stream's reads on readiness: into the batch's bytes, within the stream's read budget
//! and the batch's room.

use super::{MAX_READ_BUDGET, MIN_READ_SIZE, Stream};
use crate::error::{Error, ErrorKind};
use crate::reactor::Interest;

/// How a read on readiness ended.
pub(super) enum ReadEnd {
    /// The kernel had no more ("would block"): the next edge will come.
    Drained,
    /// The budget or the batch's room ran out first: data may be left.
    Stopped,
    /// The peer ended its stream.
    Eof,
    /// Reading failed.
    Failed(Error),
}

impl Stream {
    /// What the end of a read on readiness means for the event: a re-arm (data may be
    /// left), the end of the stream, or the failure it returns.
    pub(super) fn settle_read(
        &mut self,
        end: ReadEnd,
        readiness: &mut Interest,
        rearm: &mut bool,
    ) -> Option<Error> {
        match end {
            ReadEnd::Drained => None,
            ReadEnd::Stopped => {
                *rearm = true;
                None
            }
            ReadEnd::Eof => {
                self.read_closed = true;
                *readiness |= Interest::HANGUP;
                None
            }
            ReadEnd::Failed(err) => Some(err),
        }
    }

    /// Reads, appending to `data`, until the kernel has no more, the end of stream, an
    /// error, or the budget (or the batch's room) is used up.
    ///
    /// A read that returns less than it asked for took everything the socket held, so it
    /// ends the reading without a second `recv` to hear "would block" (tokio does the
    /// same): data arriving later makes a new edge. Unless `to_end`: the event said the
    /// peer closed, and its end of stream must be read now, as no edge will announce it.
    ///
    /// The first `recv` asks for twice what the stream's last read took (at least
    /// [`MIN_READ_SIZE`]): a peer that sends messages of one size has each read in one
    /// call that comes back short, and a burst larger than the last read doubles the ask
    /// until it is read. The batch's bytes grow by about what is read, not by a fixed
    /// size per stream (they are allocated, not zeroed, and only what was read is copied
    /// into the guest).
    pub(super) fn read_ready(
        &mut self,
        data: &mut Vec<u8>,
        room: &mut usize,
        to_end: bool,
    ) -> ReadEnd {
        let limit = self.read_budget.min(*room);
        if limit == 0 {
            return ReadEnd::Stopped;
        }
        let start = data.len();
        data.reserve(limit.min(self.read_size));
        let end = self.read_some(data, room, to_end, start, limit);
        let read = data.len() - start;
        if read > 0 {
            self.read_size = (read * 2).clamp(MIN_READ_SIZE, MAX_READ_BUDGET);
        }
        end
    }

    /// The `recv` calls of [`Stream::read_ready`], into `data` from `start`, at most `limit`
    /// bytes in all.
    fn read_some(
        &mut self,
        data: &mut Vec<u8>,
        room: &mut usize,
        to_end: bool,
        start: usize,
        limit: usize,
    ) -> ReadEnd {
        loop {
            let left = limit - (data.len() - start);
            if left == 0 {
                return ReadEnd::Stopped;
            }
            if data.len() == data.capacity() {
                // Double, up to the limit.
                data.reserve((data.len() - start).min(left));
            }
            let asked = (data.capacity() - data.len()).min(left);
            match self.io.read_into(data, left, self.peer) {
                Ok(0) => return ReadEnd::Eof,
                Ok(n) => {
                    *room -= n;
                    if n < asked && !to_end {
                        return ReadEnd::Drained;
                    }
                }
                Err(err) if err.kind == ErrorKind::WouldBlock => return ReadEnd::Drained,
                Err(err) => return ReadEnd::Failed(err),
            }
        }
    }
}
