//! A running (or exited, not yet reaped) child: the WIT `process.child`.

use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;

use crate::bindings::process::ExitStatus;
use crate::bindings::types::{Error, ErrorKind};
use crate::error::{error, io_error, io_error_untargeted};
use crate::fs::Pipe;
use crate::reactor::Source;

/// A child process of the workload, with its pidfd and the parent's pipe ends not yet
/// handed to the guest.
///
/// Dropping it before it was reaped kills it (SIGKILL through the pidfd) and reaps it
/// (a blocking `waitpid` that returns as soon as the kill lands): no child outlives the
/// guest's handle, and none is left a zombie.
pub struct Child {
    process: std::process::Child,
    pidfd: OwnedFd,
    pipes: [Option<Pipe>; 3],
    /// Set once the child was reaped: it has no pid any more, and signals are refused.
    status: Option<ExitStatus>,
    /// The program, for messages.
    program: String,
}

impl Child {
    /// Spawns `command` and opens its pidfd; `pipes` are the parent's ends.
    pub(super) fn spawn(
        command: &mut Command,
        program: String,
        pipes: [Option<Pipe>; 3],
    ) -> Result<Child, Error> {
        let mut process = command
            .spawn()
            .map_err(|err| io_error("spawn", &program, &err))?;
        let pid = process.id();
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if raw < 0 {
            let err = std::io::Error::last_os_error();
            // Nothing can watch it: do not leave it running.
            let _ = process.kill();
            let _ = process.wait();
            return Err(io_error("pidfd_open for", &program, &err));
        }
        // SAFETY: the descriptor is fresh and ours (pidfds are close-on-exec).
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        Ok(Child {
            process,
            pidfd,
            pipes,
            status: None,
            program,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The parent's end of stream `fd` (0, 1, 2), once.
    pub(crate) fn take_pipe(&mut self, fd: usize) -> Option<Pipe> {
        self.pipes[fd].take()
    }

    /// How many of the parent's pipe ends the guest has not taken yet: handles it can
    /// take without asking, so the handle limit counts them from the spawn on.
    pub(crate) fn untaken_pipes(&self) -> usize {
        self.pipes.iter().flatten().count()
    }

    /// A reactor source that turns readable when the child exits.
    pub(crate) fn exit_source(&self) -> Result<Source, Error> {
        self.pidfd
            .try_clone()
            .map(Source::from_fd)
            .map_err(|err| io_error_untargeted("exit-source: duplicate the pidfd", &err))
    }

    /// How the child ended, reaping it; `None` while it runs.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.process.try_wait() {
                Ok(Some(status)) => self.status = Some(convert(status)),
                Ok(None) => {}
                Err(err) => tracing::warn!("waitpid for {} ({}): {err}", self.pid(), self.program),
            }
        }
        self.status
    }

    /// Sends `sig` to the child, through its pidfd (it cannot reach another process
    /// that took the pid over).
    pub(crate) fn send_signal(&mut self, sig: u32) -> Result<(), Error> {
        let target = format!("process {} ({})", self.pid(), self.program);
        if self.status.is_some() {
            return Err(error(
                ErrorKind::NotFound,
                format!("send signal {sig} to {target}: the process has exited"),
            ));
        }
        let Ok(sig) = i32::try_from(sig) else {
            return Err(error(
                ErrorKind::InvalidInput,
                format!("send signal {sig} to {target}: no such signal"),
            ));
        };
        // SAFETY: pidfd_send_signal with a valid pidfd, a null siginfo and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if rc < 0 {
            let err = std::io::Error::last_os_error();
            return Err(io_error(&format!("send signal {sig} to"), target, &err));
        }
        Ok(())
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exit_status().is_some() {
            return;
        }
        tracing::debug!(
            "killing child {} ({}): its handle was dropped",
            self.pid(),
            self.program
        );
        if let Err(err) = self.process.kill() {
            tracing::warn!("kill child {} ({}): {err}", self.pid(), self.program);
        }
        if let Err(err) = self.process.wait() {
            tracing::warn!("reap child {} ({}): {err}", self.pid(), self.program);
        }
    }
}

/// A std exit status as the WIT's: the code, else the signal.
fn convert(status: std::process::ExitStatus) -> ExitStatus {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitStatus::Code(code),
        (None, Some(sig)) => ExitStatus::Signal(sig as u32),
        // Neither is only possible for a stopped or continued child, which `try_wait`
        // does not report.
        (None, None) => ExitStatus::Code(-1),
    }
}
