//! The `sandloop:host/fs` bindings (pipes and the workload's stdio as pipe ends), wrapped
//! in the crate's types. [`PipeEnd`] is public as `sandloop::os::PipeEnd`.

use super::bindings::fs;
use super::errors::{Progress, progress, wit_result};
use super::net::{HostSource, HostStream};
pub use super::pipe_end::PipeEnd;
use crate::error::Result;

/// One end of a host pipe (`fs.pipe`).
pub(crate) struct HostPipe(fs::Pipe);

impl HostPipe {
    /// A new pipe: `(read end, write end)`.
    pub(crate) fn pair() -> Result<(HostPipe, HostPipe)> {
        let (read, write) = wit_result(fs::create_pipe())?;
        Ok((HostPipe(read), HostPipe(write)))
    }

    /// Wraps a pipe end another interface handed out (a child's, from `process`).
    pub(crate) fn from_wit(pipe: fs::Pipe) -> HostPipe {
        HostPipe(pipe)
    }

    /// The WIT handle, given up (to a child, by `process.spawn`).
    pub(crate) fn into_wit(self) -> fs::Pipe {
        self.0
    }

    pub(crate) fn stdin() -> Result<HostPipe> {
        wit_result(fs::stdin()).map(HostPipe)
    }

    pub(crate) fn stdout() -> Result<HostPipe> {
        wit_result(fs::stdout()).map(HostPipe)
    }

    pub(crate) fn stderr() -> Result<HostPipe> {
        wit_result(fs::stderr()).map(HostPipe)
    }

    pub(crate) fn end(&self) -> PipeEnd {
        match self.0.end() {
            fs::PipeEnd::Read => PipeEnd::Read,
            fs::PipeEnd::Write => PipeEnd::Write,
        }
    }

    pub(crate) fn name(&self) -> String {
        self.0.name()
    }

    pub(crate) fn read(&self, max: usize) -> Result<Progress<Vec<u8>>> {
        progress(self.0.read(u32::try_from(max).unwrap_or(u32::MAX)))
    }

    pub(crate) fn write(&self, data: &[u8]) -> Result<Progress<usize>> {
        // A partial write, as the kernel may make one anyway (see `MAX_SEND`).
        let data = &data[..data.len().min(super::MAX_SEND)];
        match progress(self.0.write(data))? {
            Progress::Done(n) => Ok(Progress::Done(n as usize)),
            Progress::Pending => Ok(Progress::Pending),
        }
    }

    pub(crate) fn source(&self) -> Result<HostSource> {
        wit_result(self.0.source()).map(HostSource::from_wit)
    }

    /// Hands the end to the host for completion-mode I/O under `token`.
    pub(crate) fn into_stream(self, token: u64, read_budget: u32) -> Result<HostStream> {
        wit_result(fs::open_stream(self.0, token, read_budget)).map(HostStream::from_wit)
    }
}
