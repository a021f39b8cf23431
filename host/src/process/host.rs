//! The WIT interface `sandloop:host/process` over a [`ProcessView`].

use wasmtime::component::Resource;

use super::Child;
use crate::bindings::process::{self as wit, ExitStatus, SpawnOptions};
use crate::bindings::types::Error;
use crate::fs::Pipe;
use crate::reactor::Source;
use crate::state::ProcessView;

impl From<wit::Stdio> for super::Stdio {
    fn from(stdio: wit::Stdio) -> super::Stdio {
        match stdio {
            wit::Stdio::Pipe => super::Stdio::Pipe,
            wit::Stdio::Null => super::Stdio::Null,
            wit::Stdio::Inherit => super::Stdio::Inherit,
            wit::Stdio::Handle(pipe) => super::Stdio::Handle(pipe),
            wit::Stdio::Stdout => super::Stdio::Stdout,
        }
    }
}

impl From<SpawnOptions> for super::SpawnOptions {
    fn from(options: SpawnOptions) -> super::SpawnOptions {
        super::SpawnOptions {
            env: options.env,
            cwd: options.cwd,
            stdin: options.stdin.into(),
            stdout: options.stdout.into(),
            stderr: options.stderr.into(),
        }
    }
}

impl From<super::ExitStatus> for ExitStatus {
    fn from(status: super::ExitStatus) -> ExitStatus {
        match status {
            super::ExitStatus::Code(code) => ExitStatus::Code(code),
            super::ExitStatus::Signal(signal) => ExitStatus::Signal(signal),
        }
    }
}

impl wit::Host for ProcessView<'_> {
    fn spawn(
        &mut self,
        program: String,
        args: Vec<String>,
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        match super::spawn(self.table, self.policy, &program, &args, options.into())? {
            Ok(child) => Ok(Ok(self.table.push(child)?)),
            Err(err) => Ok(Err(err.into())),
        }
    }

    fn spawn_shell(
        &mut self,
        command: String,
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        match super::spawn_shell(self.table, self.policy, command, options.into())? {
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
        let source = self.table.get(&self_)?.exit_source();
        Ok(
            crate::limits::push_limited(self.table, &self.policy.limits, "exit-source", source)?
                .map_err(Into::into),
        )
    }

    fn exit_status(&mut self, self_: Resource<Child>) -> wasmtime::Result<Option<ExitStatus>> {
        Ok(self.table.get_mut(&self_)?.exit_status().map(Into::into))
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
