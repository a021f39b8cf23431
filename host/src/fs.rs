//! Pipes and files: the host side of the WIT interface `sandloop:host/fs`.
//!
//! A [`Pipe`] is one end of an anonymous pipe the workload made (`fs.create-pipe`) or the
//! workload's own stdin, stdout or stderr (see `stdio.rs`). The guest drives it in
//! readiness mode (`pipe.source()` with the reactor, then `read`/`write`), or hands it to
//! a completion-mode [`Stream`](crate::net::stream::Stream) with `open-stream`, whose I/O the host does as for a
//! socket (see [`crate::net::stream`]).
//!
//! Pipes reach nothing outside the workload, and stdio is already the workload's: no
//! policy grant is needed. Every pipe end lives in the instance's resource table and is
//! closed when the guest drops it or when the instance ends.
//!
//! `open-file` opens a file of a preopened directory as `wasi:filesystem`'s `open-at`
//! does, but without blocking on a FIFO (see `file.rs`); the descriptor it returns is
//! wasmtime-wasi's own, with the directory's permissions, so WASI's calls and `send-file`
//! take it like any other.

mod file;
mod host;
mod pipe;
mod stdio;

#[cfg(test)]
mod tests;

use std::os::fd::{FromRawFd as _, OwnedFd};
use std::sync::Arc;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::{Descriptor, Dir, File};

use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::policy::Limits;

pub use pipe::Pipe;
pub(crate) use pipe::PipeEnd;
pub(crate) use pipe::without_sigpipe;
pub(crate) use stdio::{StdioAccess, StdioStream};

/// `create-pipe`: a new pipe, both ends non-blocking and close-on-exec.
pub(crate) fn create_pipe() -> Result<(Pipe, Pipe), Error> {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two descriptors into `fds` or fails.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        let err = std::io::Error::last_os_error();
        return Err(io_error_untargeted("pipe", &err));
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((
        Pipe::new(read, PipeEnd::Read, "pipe", false),
        Pipe::new(write, PipeEnd::Write, "pipe", false),
    ))
}

/// `stdin`, `stdout`, `stderr`: the workload's own `which` as a pipe end, if `access`
/// hands it out (see `stdio.rs`).
pub(crate) fn stdio(which: StdioStream, access: StdioAccess) -> Result<Pipe, Error> {
    stdio::open(which, access)
}

/// `open-file`: opens `path` beneath the preopened directory `dir` for reading, without
/// blocking (see `file.rs`), if `table` has room for one more handle under `limits`. The
/// descriptor has the directory's permissions. The outer error is a trap (a stale
/// handle).
pub(crate) fn open_file(
    table: &mut ResourceTable,
    limits: &Limits,
    dir: &Resource<Descriptor>,
    path: &str,
) -> wasmtime::Result<Result<Descriptor, Error>> {
    let (handle, perms) = match table.get(dir)? {
        Descriptor::Dir(dir) => (Arc::clone(&dir.dir), dir.perms),
        Descriptor::File(_) => {
            return Ok(Err(error(
                ErrorKind::InvalidInput,
                "the descriptor is a file, not a directory",
            )));
        }
    };
    if let Err(err) = crate::limits::check_room(table, limits, "open-file", 1) {
        return Ok(Err(err));
    }
    // Read-only, with the directory's permissions, as `open-at` makes them; `false`:
    // not allowed to block the instance's thread, as the host's `WasiCtx` is built
    // (wasmtime-wasi's default).
    Ok(match file::open(&handle, path) {
        Ok(file::Opened::File(f)) => {
            Ok(Descriptor::File(File::new(f, perms, OpenMode::READ, false)))
        }
        Ok(file::Opened::Dir(d)) => Ok(Descriptor::Dir(Dir::new(d, perms, OpenMode::READ, false))),
        Err(err) => Err(err),
    })
}
