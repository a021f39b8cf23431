//! The workload's own stdin, stdout and stderr as pipe ends.
//!
//! Only when the run inherits the host's stdio: a run that captures its output or closes
//! its stdin has nothing to hand out (its WASI stdio is in memory), and says so. As in
//! asyncio's pipe transports, only pipes, sockets and character devices are accepted; a
//! regular file is always "ready" and cannot be watched by epoll.
//!
//! The host's own descriptors 0, 1 and 2 must stay blocking: the host and wasmtime-wasi's
//! stdio write through them. So a pipe or character device is opened again through
//! `/proc/self/fd/N`, which gives a new open file description of the same pipe or device
//! that can be non-blocking on its own; a socket is duplicated and read and written with
//! `MSG_DONTWAIT`.

use std::ffi::CString;
use std::os::fd::{FromRawFd as _, OwnedFd};

use crate::error::{Error, ErrorKind, error, io_error_untargeted};

use super::{Pipe, PipeEnd};

/// Which of the workload's stdio the run hands out as pipes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StdioAccess {
    /// The run inherits the host's stdin.
    pub(crate) stdin: bool,
    /// The run inherits the host's stdout and stderr (it does not capture them).
    pub(crate) output: bool,
}

/// One of the three.
#[derive(Clone, Copy)]
pub(crate) enum StdioStream {
    Stdin,
    Stdout,
    Stderr,
}

impl StdioStream {
    fn fd(self) -> i32 {
        match self {
            StdioStream::Stdin => 0,
            StdioStream::Stdout => 1,
            StdioStream::Stderr => 2,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            StdioStream::Stdin => "stdin",
            StdioStream::Stdout => "stdout",
            StdioStream::Stderr => "stderr",
        }
    }

    fn end(self) -> PipeEnd {
        match self {
            StdioStream::Stdin => PipeEnd::Read,
            StdioStream::Stdout | StdioStream::Stderr => PipeEnd::Write,
        }
    }
}

/// The workload's `which` as a pipe end, if `access` lets the run have it.
pub(crate) fn open(which: StdioStream, access: StdioAccess) -> Result<Pipe, Error> {
    let name = which.name();
    let inherited = match which {
        StdioStream::Stdin => access.stdin,
        StdioStream::Stdout | StdioStream::Stderr => access.output,
    };
    if !inherited {
        let why = match which {
            StdioStream::Stdin => "the run does not inherit the host's stdin",
            StdioStream::Stdout | StdioStream::Stderr => {
                "the run captures its output instead of inheriting the host's"
            }
        };
        return Err(error(
            ErrorKind::Unsupported,
            format!("{name} as a pipe: {why}"),
        ));
    }
    let fd = which.fd();
    // SAFETY: `fstat` fills the zeroed struct or fails; nothing else is touched.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        let err = std::io::Error::last_os_error();
        return Err(io_error_untargeted(
            &format!("{name} as a pipe: fstat"),
            &err,
        ));
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => {
            // SAFETY: duplicating a descriptor the process holds; the new one is ours.
            let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                let err = std::io::Error::last_os_error();
                return Err(io_error_untargeted(&format!("{name} as a pipe: dup"), &err));
            }
            // SAFETY: `dup` is a fresh descriptor owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(dup) };
            Ok(Pipe::new(fd, which.end(), name, true))
        }
        libc::S_IFIFO | libc::S_IFCHR => {
            let fd = reopen(fd, which.end()).map_err(|err| {
                io_error_untargeted(&format!("{name} as a pipe: open /proc/self/fd/{fd}"), &err)
            })?;
            Ok(Pipe::new(fd, which.end(), name, false))
        }
        mode => Err(error(
            ErrorKind::Unsupported,
            format!(
                "{name} as a pipe: it is {}; only pipes, sockets and character devices can be \
                 pipe ends",
                describe_mode(mode)
            ),
        )),
    }
}

/// A new non-blocking, close-on-exec open file description of what `fd` refers to.
fn reopen(fd: i32, end: PipeEnd) -> std::io::Result<OwnedFd> {
    let path = CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in the path");
    let access = match end {
        PipeEnd::Read => libc::O_RDONLY,
        PipeEnd::Write => libc::O_WRONLY,
    };
    let flags = access | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    // SAFETY: `path` is a valid C string; the returned descriptor is ours.
    let new = unsafe { libc::open(path.as_ptr(), flags) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// "a regular file", "a directory", ... for the error of an unsupported stdio.
fn describe_mode(mode: libc::mode_t) -> &'static str {
    match mode {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFBLK => "a block device",
        libc::S_IFLNK => "a symbolic link",
        _ => "of an unknown type",
    }
}
