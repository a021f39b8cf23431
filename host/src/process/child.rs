//! A running (or exited, not yet reaped) child: the WIT `process.child`.
//!
//! # No child outlives the host
//!
//! Two mechanisms, because one alone leaves a gap:
//! - the host kills and reaps a child whose handle is dropped, and the instance's table
//!   drops every child when the instance ends, traps or is stopped ([`Child`]'s `Drop`);
//!   the `sandloop` CLI stops its workloads on SIGTERM, SIGINT and SIGHUP, so their
//!   children are reaped before the host exits;
//! - the kernel kills the child (SIGKILL) when the host dies without running any of that
//!   (SIGKILL of the host, a crash, an abort): each child is spawned with the parent-death
//!   signal set (`spawn.rs`).
//!
//! The parent-death signal fires when the *thread* that spawned the child ends, not the
//! process. That is right here because a child never outlives its spawning thread's run:
//! a spawn is a host call of the guest, made on the thread running the instance (the
//! caller of `Workload::run`, the thread `Workload::start` made for it, or an executor
//! worker's thread for its jobs), and the instance's store, whose table owns the child,
//! is dropped on that same thread before the run returns (each of `--instances` copies
//! has its own thread and store alike). So by the time the spawning thread ends, the
//! child was killed and reaped already, and the signal only matters when the whole
//! process dies, taking every thread with it. An embedding that calls `Workload::run`
//! from a pool thread that lives on changes nothing: the run's end kills the children.
//!
//! The kernel clears the parent-death signal when the child executes a set-user-ID or
//! set-group-ID program, or one with file capabilities: such a child is killed on every
//! exit path the host runs, but not when the host itself is killed.

use std::io;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::sync::Arc;

use super::spawn::{self, Request, Spawned};
use crate::error::{Error, ErrorKind, error, io_error};
use crate::fs::Pipe;
use crate::reactor::Source;

/// A child process of the workload, with its pidfd and the parent's pipe ends not yet
/// handed to the guest.
///
/// Dropping it before it was reaped kills it (SIGKILL through the pidfd) and reaps it
/// (a blocking `waitpid` that returns as soon as the kill lands): no child outlives the
/// guest's handle, and none is left a zombie.
pub struct Child {
    pid: libc::pid_t,
    /// Shared with the exit sources made from this child: one descriptor for all of
    /// them, closed when the last is gone (a pidfd names this process and no other, so
    /// a source outliving the child still watches the right one).
    pidfd: Arc<OwnedFd>,
    pipes: [Option<Pipe>; 3],
    /// Set once the child was reaped: it has no pid any more, and signals are refused.
    status: Option<ExitStatus>,
    /// The program, for messages.
    program: String,
}

impl Child {
    /// Starts `request` (see `spawn.rs`); `pipes` are the parent's ends; `program` names
    /// the child in messages.
    pub(super) fn spawn(
        request: Request<'_>,
        program: String,
        pipes: [Option<Pipe>; 3],
    ) -> Result<Child, Error> {
        let Spawned { pid, pidfd } =
            spawn::spawn(request).map_err(|err| io_error("spawn", &program, &err))?;
        Ok(Child {
            pid,
            pidfd: Arc::new(pidfd),
            pipes,
            status: None,
            program,
        })
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid.unsigned_abs()
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

    /// A reactor source that turns readable when the child exits, on the child's own
    /// pidfd, which it shares.
    pub(crate) fn exit_source(&self) -> Source {
        Source::from_fd(Arc::clone(&self.pidfd))
    }

    /// How the child ended, reaping it; `None` while it runs.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            match self.wait(libc::WNOHANG) {
                Ok(status) => self.status = status,
                Err(err) => tracing::warn!("waitpid for {} ({}): {err}", self.pid(), self.program),
            }
        }
        self.status
    }

    /// `waitpid` for this child with `flags`: its status once it has ended (reaping it),
    /// `None` while it runs (with `WNOHANG`).
    fn wait(&self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        let mut status = 0;
        loop {
            // SAFETY: waitpid on our own child, not yet reaped (`status` is unset), into a
            // local.
            let rc = unsafe { libc::waitpid(self.pid, &mut status, flags) };
            if rc > 0 {
                return Ok(Some(convert(status)));
            }
            if rc == 0 {
                return Ok(None);
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
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
        if let Err(err) = self.send_signal(libc::SIGKILL as u32) {
            tracing::warn!(
                "kill child {} ({}): {}",
                self.pid(),
                self.program,
                err.message
            );
        }
        if let Err(err) = self.wait(0) {
            tracing::warn!("reap child {} ({}): {err}", self.pid(), self.program);
        }
    }
}

/// How a child ended (the WIT's `process.exit-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// A signal killed it.
    Signal(u32),
}

/// A `waitpid` status: the code, else the signal.
fn convert(status: libc::c_int) -> ExitStatus {
    if libc::WIFEXITED(status) {
        ExitStatus::Code(libc::WEXITSTATUS(status))
    } else if libc::WIFSIGNALED(status) {
        ExitStatus::Signal(libc::WTERMSIG(status).unsigned_abs())
    } else {
        // Only a stopped or continued child is neither, and `waitpid` without WUNTRACED
        // or WCONTINUED does not report those.
        ExitStatus::Code(-1)
    }
}
