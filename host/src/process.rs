//! Subprocesses: the host side of the WIT interface `sandloop:host/process`.
//!
//! `spawn` checks the program against the policy (`allow_exec`, a bare name is looked up
//! in the granted places only), `spawn-shell` checks `allow_shell`, and both check every
//! environment variable against `child_env`; then `spawn` starts the child with exactly
//! that environment (nothing of the host's), the requested stdio, the close-on-exec
//! descriptors of the host left behind, and the parent-death signal set so that it dies
//! with the host (see `child.rs`). The parent's pipe ends are `fs.pipe` ends, so the
//! guest's pipe transports drive them.
//!
//! The child's exit reaches the guest as readiness: `exit-source` is its pidfd, which the
//! kernel reports readable once the child has exited, and `exit-status` then reaps it
//! (`waitpid` with `WNOHANG`). A [`Child`] dropped before it was reaped is killed and
//! reaped, and the instance's table drops every child when the instance ends.

mod child;
mod spawn;
mod stdio;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use wasmtime::component::Resource;

use crate::bindings::process::{self as wit, ExitStatus, SpawnOptions, Stdio};
use crate::bindings::types::{Error, ErrorKind};
use crate::error::error;
use crate::fs::Pipe;
use crate::reactor::Source;
use crate::state::ProcessView;

pub use child::Child;

/// The shell `spawn-shell` runs, as asyncio's `subprocess_shell` on Unix.
const SHELL: &str = "/bin/sh";

impl ProcessView<'_> {
    /// Checks the environment, sets up stdio and starts `program` (already granted) as
    /// `argv0 args...`.
    fn start(
        &mut self,
        program: PathBuf,
        argv0: &str,
        args: &[String],
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        for (name, _) in &options.env {
            if let Err(denied) = self.policy.check_child_env(name) {
                return Ok(Err(error(ErrorKind::Denied, denied.to_string())));
            }
        }
        // What messages call the child: the program, and the directory when one was asked
        // for (a spawn into a missing directory fails with the OS's "not found").
        let what = match &options.cwd {
            Some(cwd) => format!("{} (in {cwd})", program.display()),
            None => program.display().to_string(),
        };
        // The child and each pipe end it will hand out: those count from now on.
        let piped = [&options.stdin, &options.stdout, &options.stderr]
            .into_iter()
            .filter(|stdio| matches!(stdio, Stdio::Pipe))
            .count();
        let limits = &self.policy.limits;
        if let Err(err) = crate::limits::check_children(self.table, limits, &what)
            .and_then(|()| crate::limits::check_room(self.table, limits, "spawn", 1 + piped))
        {
            return Ok(Err(err));
        }
        let setup =
            match stdio::Setup::new(self.table, options.stdin, options.stdout, options.stderr) {
                Ok(Ok(setup)) => setup,
                Ok(Err(err)) => return Ok(Err(err)),
                Err(trap) => return Err(trap),
            };
        let (stdio, parents) = setup.into_parts();
        let request = spawn::Request {
            program: &program,
            argv0,
            args,
            env: &options.env,
            cwd: options.cwd.as_deref(),
            stdio,
        };
        match Child::spawn(request, what, parents) {
            Ok(child) => Ok(Ok(self.table.push(child)?)),
            Err(err) => Ok(Err(err)),
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
        let path = match self.policy.check_exec(&program) {
            Ok(path) => path,
            Err(denied) => return Ok(Err(error(ErrorKind::Denied, denied.to_string()))),
        };
        self.start(path, &program, &args, options)
    }

    fn spawn_shell(
        &mut self,
        command: String,
        options: SpawnOptions,
    ) -> wasmtime::Result<Result<Resource<Child>, Error>> {
        if let Err(denied) = self.policy.check_shell() {
            return Ok(Err(error(ErrorKind::Denied, denied.to_string())));
        }
        self.start(SHELL.into(), "sh", &["-c".to_owned(), command], options)
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
            Ok(source) => {
                crate::limits::push_limited(self.table, &self.policy.limits, "exit-source", source)
            }
            Err(err) => Ok(Err(err)),
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
        Ok(self.table.get_mut(&self_)?.send_signal(sig))
    }

    fn drop(&mut self, rep: Resource<Child>) -> wasmtime::Result<()> {
        // `Child`'s own `Drop` kills and reaps a child still running.
        self.table.delete(rep)?;
        Ok(())
    }
}
