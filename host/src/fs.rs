//! Pipes and files: the host side of the WIT interface `sandloop:host/fs`.
//!
//! A [`Pipe`] is one end of an anonymous pipe the workload made (`fs.create-pipe`) or the
//! workload's own stdin, stdout or stderr (see `stdio.rs`). The guest drives it in
//! readiness mode (`pipe.source()` with the reactor, then `read`/`write`), or hands it to
//! a completion-mode [`Stream`] with `open-stream`, whose I/O the host does as for a
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
mod pipe;
mod stdio;

#[cfg(test)]
mod tests;

use std::os::fd::{FromRawFd as _, OwnedFd};
use std::sync::Arc;

use wasmtime::component::Resource;
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::{Descriptor, Dir, File};

use crate::bindings::fs::{self as wit, PipeEnd};
use crate::bindings::types::{Error, ErrorKind};
use crate::error::{error, io_error_untargeted};
use crate::net::Stream;
use crate::reactor::Source;
use crate::state::FsView;

pub use pipe::Pipe;
pub(crate) use pipe::without_sigpipe;
pub(crate) use stdio::StdioAccess;
use stdio::StdioStream;

/// A new pipe, both ends non-blocking and close-on-exec.
fn new_pipe() -> std::io::Result<(Pipe, Pipe)> {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two descriptors into `fds` or fails.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((
        Pipe::new(read, PipeEnd::Read, "pipe", false),
        Pipe::new(write, PipeEnd::Write, "pipe", false),
    ))
}

impl FsView<'_> {
    fn stdio(&mut self, which: StdioStream) -> wasmtime::Result<Result<Resource<Pipe>, Error>> {
        if let Err(err) = crate::limits::check_room(self.table, self.limits, which.name(), 1) {
            return Ok(Err(err));
        }
        match stdio::open(which, self.stdio) {
            Ok(pipe) => Ok(Ok(self.table.push(pipe)?)),
            Err(err) => Ok(Err(err)),
        }
    }
}

impl wit::Host for FsView<'_> {
    fn create_pipe(&mut self) -> wasmtime::Result<Result<(Resource<Pipe>, Resource<Pipe>), Error>> {
        // Room for both ends before making either.
        if let Err(err) = crate::limits::check_room(self.table, self.limits, "create-pipe", 2) {
            return Ok(Err(err));
        }
        let (read, write) = match new_pipe() {
            Ok(pair) => pair,
            Err(err) => return Ok(Err(io_error_untargeted("pipe", &err))),
        };
        let read = self.table.push(read)?;
        let write = self.table.push(write)?;
        Ok(Ok((read, write)))
    }

    fn stdin(&mut self) -> wasmtime::Result<Result<Resource<Pipe>, Error>> {
        self.stdio(StdioStream::Stdin)
    }

    fn stdout(&mut self) -> wasmtime::Result<Result<Resource<Pipe>, Error>> {
        self.stdio(StdioStream::Stdout)
    }

    fn stderr(&mut self) -> wasmtime::Result<Result<Resource<Pipe>, Error>> {
        self.stdio(StdioStream::Stderr)
    }

    fn open_stream(
        &mut self,
        p: Resource<Pipe>,
        token: u64,
        read_budget: u32,
    ) -> wasmtime::Result<Result<Resource<Stream>, Error>> {
        // The guest hands the end over (`own<pipe>`): the stream owns it now, and takes
        // its place in the table (no handle limit to check: the count does not grow).
        let pipe = self.table.delete(p)?;
        let op = format!("open-stream of {}", pipe.describe());
        let stream = Stream::for_pipe(pipe, token, read_budget);
        crate::net::stream::install(self.table, self.reactor.registry(), stream, &op)
    }

    fn open_file(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<Descriptor>, Error>> {
        let (handle, perms) = match self.table.get(&dir)? {
            Descriptor::Dir(dir) => (Arc::clone(&dir.dir), dir.perms),
            Descriptor::File(_) => {
                return Ok(Err(error(
                    ErrorKind::InvalidInput,
                    "the descriptor is a file, not a directory",
                )));
            }
        };
        if let Err(err) = crate::limits::check_room(self.table, self.limits, "open-file", 1) {
            return Ok(Err(err));
        }
        // Read-only, with the directory's permissions, as `open-at` makes them; `false`:
        // not allowed to block the instance's thread, as the host's `WasiCtx` is built
        // (wasmtime-wasi's default).
        let descriptor = match file::open(&handle, &path) {
            Ok(file::Opened::File(f)) => {
                Descriptor::File(File::new(f, perms, OpenMode::READ, false))
            }
            Ok(file::Opened::Dir(d)) => Descriptor::Dir(Dir::new(d, perms, OpenMode::READ, false)),
            Err(err) => return Ok(Err(err)),
        };
        Ok(Ok(self.table.push(descriptor)?))
    }
}

impl wit::HostPipe for FsView<'_> {
    fn end(&mut self, self_: Resource<Pipe>) -> wasmtime::Result<PipeEnd> {
        Ok(self.table.get(&self_)?.end())
    }

    fn name(&mut self, self_: Resource<Pipe>) -> wasmtime::Result<String> {
        Ok(self.table.get(&self_)?.name().to_string())
    }

    fn read(
        &mut self,
        self_: Resource<Pipe>,
        max_len: u32,
    ) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let pipe = self.table.get(&self_)?;
        let max_len = (max_len as usize).min(crate::net::MAX_RECV);
        let mut data = Vec::with_capacity(max_len);
        Ok(pipe.read_into(&mut data, max_len).map(|_| data))
    }

    fn write(
        &mut self,
        self_: Resource<Pipe>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let pipe = self.table.get(&self_)?;
        // A wasm32 guest cannot pass more than 4 GiB, so the count always fits.
        Ok(pipe
            .write(&data)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    fn source(
        &mut self,
        self_: Resource<Pipe>,
    ) -> wasmtime::Result<Result<Resource<Source>, Error>> {
        let pipe = self.table.get(&self_)?;
        match pipe.duplicate() {
            Ok(dup) => {
                crate::limits::push_limited(self.table, self.limits, "source", Source::from_fd(dup))
            }
            Err(err) => Ok(Err(io_error_untargeted(
                &format!("source: duplicate {}", pipe.describe()),
                &err,
            ))),
        }
    }

    fn drop(&mut self, rep: Resource<Pipe>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
