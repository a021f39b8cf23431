//! The WIT interface `sandloop:host/fs` over an [`FsView`].

use wasmtime::component::Resource;
use wasmtime_wasi::filesystem::Descriptor;

use super::{Pipe, StdioStream};
use crate::bindings::fs::{self as wit, PipeEnd};
use crate::bindings::types::Error;
use crate::net::Stream;
use crate::reactor::Source;
use crate::state::FsView;

impl From<super::PipeEnd> for PipeEnd {
    fn from(end: super::PipeEnd) -> PipeEnd {
        match end {
            super::PipeEnd::Read => PipeEnd::Read,
            super::PipeEnd::Write => PipeEnd::Write,
        }
    }
}

impl FsView<'_> {
    fn stdio(&mut self, which: StdioStream) -> wasmtime::Result<Result<Resource<Pipe>, Error>> {
        if let Err(err) = crate::limits::check_room(self.table, self.limits, which.name(), 1) {
            return Ok(Err(err.into()));
        }
        match super::stdio(which, self.stdio) {
            Ok(pipe) => Ok(Ok(self.table.push(pipe)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl wit::Host for FsView<'_> {
    fn create_pipe(&mut self) -> wasmtime::Result<Result<(Resource<Pipe>, Resource<Pipe>), Error>> {
        // Room for both ends before making either.
        if let Err(err) = crate::limits::check_room(self.table, self.limits, "create-pipe", 2) {
            return Ok(Err(err.into()));
        }
        let (read, write) = match super::create_pipe() {
            Ok(pair) => pair,
            Err(err) => return Ok(Err(err.into())),
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
        Ok(
            crate::net::stream::install(self.table, self.reactor.registry(), stream, &op)?
                .map_err(Into::into),
        )
    }

    fn open_file(
        &mut self,
        dir: Resource<Descriptor>,
        path: String,
    ) -> wasmtime::Result<Result<Resource<Descriptor>, Error>> {
        match super::open_file(self.table, self.limits, &dir, &path)? {
            Ok(descriptor) => Ok(Ok(self.table.push(descriptor)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl wit::HostPipe for FsView<'_> {
    fn end(&mut self, self_: Resource<Pipe>) -> wasmtime::Result<PipeEnd> {
        Ok(self.table.get(&self_)?.end().into())
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
        Ok(pipe
            .read((max_len as usize).min(crate::net::MAX_RECV))
            .map_err(Into::into))
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
            .map_err(Into::into)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    fn source(
        &mut self,
        self_: Resource<Pipe>,
    ) -> wasmtime::Result<Result<Resource<Source>, Error>> {
        let source = self.table.get(&self_)?.source();
        Ok(
            crate::limits::push_limited(self.table, self.limits, "source", source)?
                .map_err(Into::into),
        )
    }

    fn drop(&mut self, rep: Resource<Pipe>) -> wasmtime::Result<()> {
        self.table.delete(rep)?;
        Ok(())
    }
}
