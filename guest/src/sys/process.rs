//! The `sandloop:host/process` bindings (children of the workload), wrapped in the
//! crate's types.

use super::bindings::process as wit;
use super::errors::wit_result;
use super::fs::HostPipe;
use super::net::HostSource;
use crate::error::Result;

/// Where a child's stream goes, as the host takes it.
pub(crate) enum ChildStdio {
    Pipe,
    Null,
    Inherit,
    Handle(HostPipe),
    Stdout,
}

impl ChildStdio {
    fn into_wit(self) -> wit::Stdio {
        match self {
            ChildStdio::Pipe => wit::Stdio::Pipe,
            ChildStdio::Null => wit::Stdio::Null,
            ChildStdio::Inherit => wit::Stdio::Inherit,
            ChildStdio::Handle(pipe) => wit::Stdio::Handle(pipe.into_wit()),
            ChildStdio::Stdout => wit::Stdio::Stdout,
        }
    }
}

/// What a child is started with.
pub(crate) struct Spawn {
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<String>,
    pub(crate) stdio: [ChildStdio; 3],
}

impl Spawn {
    fn into_wit(self) -> wit::SpawnOptions {
        let [stdin, stdout, stderr] = self.stdio;
        wit::SpawnOptions {
            env: self.env,
            cwd: self.cwd,
            stdin: stdin.into_wit(),
            stdout: stdout.into_wit(),
            stderr: stderr.into_wit(),
        }
    }
}

/// How a child ended: asyncio's returncode, the exit code or minus the signal.
fn returncode(status: wit::ExitStatus) -> i32 {
    match status {
        wit::ExitStatus::Code(code) => code,
        wit::ExitStatus::Signal(sig) => -(sig as i32),
    }
}

/// A child process (`process.child`); dropping it kills and reaps a child still running.
pub(crate) struct HostChild(wit::Child);

impl HostChild {
    pub(crate) fn spawn(program: &str, args: &[String], spawn: Spawn) -> Result<HostChild> {
        wit_result(wit::spawn(program, args, spawn.into_wit())).map(HostChild)
    }

    pub(crate) fn spawn_shell(command: &str, spawn: Spawn) -> Result<HostChild> {
        wit_result(wit::spawn_shell(command, spawn.into_wit())).map(HostChild)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// The parent's ends of the pipes: stdin, stdout, stderr (each once).
    pub(crate) fn take_pipes(&self) -> [Option<HostPipe>; 3] {
        [
            self.0.take_stdin().map(HostPipe::from_wit),
            self.0.take_stdout().map(HostPipe::from_wit),
            self.0.take_stderr().map(HostPipe::from_wit),
        ]
    }

    /// A source that turns readable when the child exits.
    pub(crate) fn exit_source(&self) -> Result<HostSource> {
        wit_result(self.0.exit_source()).map(HostSource::from_wit)
    }

    /// The returncode once the child exited (reaping it); `None` while it runs.
    pub(crate) fn returncode(&self) -> Option<i32> {
        self.0.exit_status().map(returncode)
    }

    pub(crate) fn send_signal(&self, sig: u32) -> Result<()> {
        wit_result(self.0.send_signal(sig))
    }
}
