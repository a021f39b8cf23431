//! Pipes and the workload's stdio as pipe ends (`sandloop::os`): not in the portable
//! build. WASI 0.2 has no pipes; its stdio streams are `std::io`'s.

use super::errors::{Progress, unsupported};
use super::net::{HostSource, HostStream};
use crate::error::Result;

pub use crate::sys::pipe_end::PipeEnd;

const NO_PIPES: &str = "WASI 0.2 has no pipes; use std::io for stdio";

/// One end of a host pipe: never made here.
pub(crate) struct HostPipe {
    never: std::convert::Infallible,
}

impl HostPipe {
    pub(crate) fn pair() -> Result<(HostPipe, HostPipe)> {
        Err(unsupported("os::pipe", NO_PIPES))
    }

    pub(crate) fn stdin() -> Result<HostPipe> {
        Err(unsupported("stdin as a pipe", NO_PIPES))
    }

    pub(crate) fn stdout() -> Result<HostPipe> {
        Err(unsupported("stdout as a pipe", NO_PIPES))
    }

    pub(crate) fn stderr() -> Result<HostPipe> {
        Err(unsupported("stderr as a pipe", NO_PIPES))
    }

    pub(crate) fn end(&self) -> PipeEnd {
        match self.never {}
    }

    pub(crate) fn name(&self) -> String {
        match self.never {}
    }

    pub(crate) fn read(&self, _max: usize) -> Result<Progress<Vec<u8>>> {
        match self.never {}
    }

    pub(crate) fn write(&self, _data: &[u8]) -> Result<Progress<usize>> {
        match self.never {}
    }

    pub(crate) fn source(&self) -> Result<HostSource> {
        match self.never {}
    }

    pub(crate) fn into_stream(self, _token: u64, _read_budget: u32) -> Result<HostStream> {
        match self.never {}
    }
}
