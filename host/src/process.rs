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
mod host;
mod spawn;
mod stdio;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use wasmtime::component::{Resource, ResourceTable};

use crate::error::{Error, ErrorKind, error};
use crate::fs::Pipe;
use crate::policy::Policy;

pub use child::Child;
pub(crate) use child::ExitStatus;

/// Where one of the child's standard streams goes (the WIT's `process.stdio`).
#[derive(Debug)]
pub(crate) enum Stdio {
    /// A new pipe; the parent's end is handed out by `take-stdin`/`-stdout`/`-stderr`.
    Pipe,
    /// `/dev/null`.
    Null,
    /// The host process's own stream.
    Inherit,
    /// This pipe end (given up by the guest: the host closes its copy after the spawn).
    Handle(Resource<Pipe>),
    /// stderr only: wherever the child's stdout goes.
    Stdout,
}

/// What the child is started with (the WIT's `process.spawn-options`).
#[derive(Debug)]
pub(crate) struct SpawnOptions {
    /// The child's whole environment (it gets nothing else); each name must be in the
    /// policy's `child-env`.
    pub(crate) env: Vec<(String, String)>,
    /// The child's working directory; the host's current one when none.
    pub(crate) cwd: Option<String>,
    pub(crate) stdin: Stdio,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
}

/// The shell `spawn-shell` runs, as asyncio's `subprocess_shell` on Unix.
const SHELL: &str = "/bin/sh";

/// `spawn`: `program` (as the policy resolves it, never looked up in the host's `PATH`)
/// with `args` and `options`, if the policy grants it and the table has room for the
/// child and its pipe ends. The outer error is a trap (a stale stdio handle).
pub(crate) fn spawn(
    table: &mut ResourceTable,
    policy: &Policy,
    program: &str,
    args: &[String],
    options: SpawnOptions,
) -> wasmtime::Result<Result<Child, Error>> {
    let path = match policy.check_exec(program) {
        Ok(path) => path,
        Err(denied) => return Ok(Err(error(ErrorKind::Denied, denied.to_string()))),
    };
    start(table, policy, path, program, args, options)
}

/// `spawn-shell`: [`SHELL`] `-c command`, if the policy grants the shell.
pub(crate) fn spawn_shell(
    table: &mut ResourceTable,
    policy: &Policy,
    command: String,
    options: SpawnOptions,
) -> wasmtime::Result<Result<Child, Error>> {
    if let Err(denied) = policy.check_shell() {
        return Ok(Err(error(ErrorKind::Denied, denied.to_string())));
    }
    start(
        table,
        policy,
        SHELL.into(),
        "sh",
        &["-c".to_owned(), command],
        options,
    )
}

/// Checks the environment, sets up stdio and starts `program` (already granted) as
/// `argv0 args...`.
fn start(
    table: &mut ResourceTable,
    policy: &Policy,
    program: PathBuf,
    argv0: &str,
    args: &[String],
    options: SpawnOptions,
) -> wasmtime::Result<Result<Child, Error>> {
    for (name, _) in &options.env {
        if let Err(denied) = policy.check_child_env(name) {
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
    let limits = &policy.limits;
    if let Err(err) = crate::limits::check_children(table, limits, &what)
        .and_then(|()| crate::limits::check_room(table, limits, "spawn", 1 + piped))
    {
        return Ok(Err(err));
    }
    let setup = match stdio::Setup::new(table, options.stdin, options.stdout, options.stderr) {
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
    Ok(Child::spawn(request, what, parents))
}
