//! Native `sendfile(2)`: files of the workload sent to a socket by the kernel, without the
//! bytes crossing into the guest or through a host buffer.
//!
//! The guest names a file by its `wasi:filesystem` descriptor, which it opened through its
//! preopened directories (read-only, see `Policy::preopens`): the policy check already
//! happened when the file was opened, and the descriptor's open mode is checked again here
//! (a directory, or a file not opened for reading, is refused).
//!
//! Every `sendfile` passes an explicit offset, so the descriptor's own position (which
//! WASI does not use: its reads take offsets too) is never moved. A readiness-mode socket
//! does one call per `send-file`; a completion-mode stream queues a [`FileSegment`] in its
//! [`Outgoing`] queue, behind the bytes it buffers, and sends it on writability.

use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd as _, RawFd};
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::Descriptor;

use crate::error::{Error, ErrorKind, error};
use crate::fs::without_sigpipe;

/// The most one `sendfile(2)` is asked to move (Linux moves at most 0x7ffff000 anyway).
const MAX_CHUNK: u64 = 0x7fff_f000;

/// The file behind a guest's descriptor, if it is a regular file open for reading.
pub(crate) fn readable_file(
    table: &ResourceTable,
    file: &Resource<Descriptor>,
    op: &str,
) -> wasmtime::Result<Result<Arc<File>, Error>> {
    Ok(match table.get(file)? {
        Descriptor::Dir(_) => Err(error(
            ErrorKind::InvalidInput,
            format!("{op}: the descriptor is a directory, not a file"),
        )),
        Descriptor::File(f) if !f.open_mode.contains(OpenMode::READ) => Err(error(
            ErrorKind::InvalidInput,
            format!("{op}: the file was not opened for reading"),
        )),
        Descriptor::File(f) => Ok(Arc::clone(&f.file)),
    })
}

/// The size of `file` now, for clamping a segment.
fn file_size(file: &File, op: &str) -> Result<u64, Error> {
    file.metadata().map(|m| m.len()).map_err(|err| {
        error(
            crate::error::kind_of(&err),
            format!("{op}: reading the file's size: {err}"),
        )
    })
}

/// One `sendfile(2)` of at most `count` bytes of `file` from `offset` to `socket`.
/// Returns what the kernel took (0 at the end of the file); "would block" when the socket
/// takes nothing.
///
/// `sendfile(2)` has no `MSG_NOSIGNAL`: a peer that is gone raises SIGPIPE, which Rust
/// programs ignore (the standard library sets it to `SIG_IGN` at start-up), so the call
/// fails with EPIPE instead. An embedding that restores SIGPIPE's default action must
/// ignore it as well.
pub(crate) fn send(socket: RawFd, file: &File, offset: u64, count: u64) -> io::Result<usize> {
    let Ok(mut off) = libc::off_t::try_from(offset) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the offset is past the largest file offset",
        ));
    };
    let count = count.min(MAX_CHUNK) as usize;
    if count == 0 {
        return Ok(0);
    }
    loop {
        // `sendfile(2)` has no MSG_NOSIGNAL: a peer or reader that is gone must not kill
        // the host with SIGPIPE.
        let sent = without_sigpipe(|| {
            // SAFETY: both descriptors are open for the duration of the call (the caller
            // holds the socket and the file), and `off` is a valid, exclusively borrowed
            // offset that the kernel updates instead of the file's position.
            let n = unsafe { libc::sendfile(socket, file.as_raw_fd(), &mut off, count) };
            usize::try_from(n).map_err(|_| io::Error::last_os_error())
        });
        match sent {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Bytes `offset..end` of a file, still to be sent.
pub(crate) struct FileSegment {
    file: Arc<File>,
    offset: u64,
    end: u64,
}

impl FileSegment {
    pub(crate) fn new(file: Arc<File>, offset: u64, count: u64) -> FileSegment {
        FileSegment {
            file,
            offset,
            end: offset + count,
        }
    }

    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.offset
    }

    /// Sends what the socket takes now; returns how many bytes that was. A file that
    /// shrank below the segment since it was queued is an error: the guest was promised
    /// those bytes.
    fn send(&mut self, socket: RawFd) -> io::Result<usize> {
        let n = send(socket, &self.file, self.offset, self.remaining())?;
        if n == 0 && self.remaining() > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file ended at {} while {} more bytes were queued (it shrank)",
                    self.offset,
                    self.remaining()
                ),
            ));
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// What a stream sends after its byte buffer, in order: file segments and the bytes
/// written after them. Empty in the common case (no sendfile), when it costs nothing.
#[derive(Default)]
pub(crate) struct Outgoing {
    queue: VecDeque<Queued>,
    /// The bytes of all entries together.
    len: u64,
    /// The bytes of the `Bytes` entries: what is in memory.
    memory: u64,
}

enum Queued {
    File(FileSegment),
    Bytes(Vec<u8>),
}

/// How [`Outgoing::advance`] ended.
pub(crate) enum Advance {
    /// The kernel took what it would: wait for writability.
    Blocked,
    /// The queue's head is bytes: they are the stream's byte buffer now; flush them.
    Bytes(Vec<u8>),
    /// The queue is empty.
    Done,
}

impl Outgoing {
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// The bytes queued in memory (not the file segments).
    pub(crate) fn memory_len(&self) -> u64 {
        self.memory
    }

    pub(crate) fn push_file(&mut self, segment: FileSegment) {
        if segment.remaining() > 0 {
            self.len += segment.remaining();
            self.queue.push_back(Queued::File(segment));
        }
    }

    /// Appends bytes written while a file segment is queued.
    pub(crate) fn push_bytes(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len() as u64;
        self.memory += data.len() as u64;
        match self.queue.back_mut() {
            Some(Queued::Bytes(bytes)) => bytes.extend_from_slice(data),
            _ => self.queue.push_back(Queued::Bytes(data.to_vec())),
        }
    }

    /// Sends file segments at the head of the queue to `socket` until the kernel takes
    /// no more, the queue is empty, or bytes come next (handed back for the byte
    /// buffer). Adds the bytes sent to `sent`.
    pub(crate) fn advance(&mut self, socket: RawFd, sent: &mut usize) -> io::Result<Advance> {
        loop {
            match self.queue.front_mut() {
                None => return Ok(Advance::Done),
                Some(Queued::Bytes(_)) => {
                    let Some(Queued::Bytes(bytes)) = self.queue.pop_front() else {
                        unreachable!("the head was bytes");
                    };
                    self.len -= bytes.len() as u64;
                    self.memory -= bytes.len() as u64;
                    return Ok(Advance::Bytes(bytes));
                }
                Some(Queued::File(segment)) => {
                    match segment.send(socket) {
                        Ok(n) => {
                            self.len -= n as u64;
                            *sent += n;
                        }
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                            return Ok(Advance::Blocked);
                        }
                        Err(err) => return Err(err),
                    }
                    if segment.remaining() == 0 {
                        self.queue.pop_front();
                    }
                }
            }
        }
    }

    /// Drops everything queued (the stream failed or closes).
    pub(crate) fn clear(&mut self) {
        self.queue.clear();
        self.len = 0;
        self.memory = 0;
    }
}

impl super::Socket {
    /// `socket.send-file`: one non-blocking `sendfile(2)` of at most `count` bytes of
    /// `file` from `offset` to the socket.
    pub(crate) fn send_file(&self, file: &File, offset: u64, count: u64) -> Result<u64, Error> {
        send(self.inner.as_raw_fd(), file, offset, count)
            .map(|n| n as u64)
            .map_err(|err| {
                crate::error::io_error(
                    "sendfile to",
                    super::address::Peer(self.peer, &self.inner),
                    &err,
                )
            })
    }
}

/// The segment a stream's `send-file` queues: `count` bytes of the guest's `file` from
/// `offset`, cut to what the file holds now (a segment past the end sends what there
/// is: the guest learns the real count). The outer error is a trap (a stale handle).
pub(crate) fn segment(
    table: &ResourceTable,
    file: &Resource<Descriptor>,
    offset: u64,
    count: u64,
) -> wasmtime::Result<Result<FileSegment, Error>> {
    let file = match readable_file(table, file, "send-file")? {
        Ok(file) => file,
        Err(err) => return Ok(Err(err)),
    };
    let size = match file_size(&file, "send-file") {
        Ok(size) => size,
        Err(err) => return Ok(Err(err)),
    };
    let count = count.min(size.saturating_sub(offset));
    Ok(Ok(FileSegment::new(file, offset, count)))
}

#[cfg(test)]
mod tests;
