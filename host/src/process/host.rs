//! The WIT interface `sandloop:host/process` over a [`ProcessView`].

use wasmtime::component::Resource;

use super::Child;
use crate::bindings::process::{self as wit, ExitStatus, SpawnOptions};
use crate::bindings::types::Error;
use crate::fs::Pipe;
use crate::reactor::Source;
use crate::state::ProcessView;

impl wit::Host for ProcessView<'_> {
    fn spawn(
        &mut self,
        program: String,
        args: Vec<String>,
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        match super::spawn(self.table, self.policy, &program, &args, options)? {
            Ok(child) => Ok(Ok(self.table.push(child)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn spawn_shell(
        &mut self,
        command: String,
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        match super::spawn_shell(self.table, self.policy, command, options)? {
            Ok(child) => Ok(Ok(self.table.push(child)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }
}

impl wit::HostChild for ProcessView<'_> {
    fn pid(&mut self, self_: Resource<Child>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&self_)?.pid())
    }

    // `take-stdin`/`take-stdout`/`take-stderr` return an option, not a result: they cannot
    // refuse at the handle limit, and need not (the pipe ends were counted at the spawn,
    // see `crate::limits::handles`).
    fn take_stdin(&mut self, self_: Resource<Child>) -> wasmtime::Result<Option<Resource<Pipe>>> {
        let pipe = self.table.get_mut(&self_)?.take_pipe(0);
        pipe.map(|p| Ok(self.table.push(p)?)).transpose()
    }

    fn take_stdout(&mut self, self_: Resource<Child>) -> wasmtime::Result<Option<Resource<Pipe>>> {
        let pipe = self.table.get_mut(&self_)?.take_pipe(1);
        pipe.map(|p| Ok(self.table.push(p)?)).transpose()
    }

    fn take_stderr(&mut self, self_: Resource<Child>) -> wasmtime::Result<Option<Resource<Pipe>>> {
        let pipe = self.table.get_mut(&self_)?.take_pipe(2);
        pipe.map(|p| Ok(self.table.push(p)?)).transpose()
    }

    fn exit_source(
        &mut self,
        self_: Resource<Child>,
    ) -> wasmtime::Result<Result<Resource<Source>, Error>> {
        match self.table.get(&self_)?.exit_source() {
            Ok(source) => Ok(crate::limits::push_limited(
                self.table,
                &self.policy.limits,
                "exit-source",
                source,
            )?
            .map_err(Into::into)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn exit_status(&mut self, self_: Resource<Child>) -> wasmtime::Result<Option<ExitStatus>> {
        Ok(self.table.get_mut(&self_)?.exit_status())
    }

    fn send_signal(
        &mut self,
        self_: Resource<Child>,
        sig: u32,
    ) -> wasmtime::Result<Result<(), Error>> {
        Ok(self
            .table
            .get_mut(&self_)?
            .send_signal(sig)
            .map_err(Into::into))
    }

    fn drop(&mut self, rep: Resource<Child>) -> wasmtime::Result<()> {
        // `Child`'s own `Drop` kills and reaps a child still running.
        self.table.delete(rep)?;
        Ok(())
    }
}
