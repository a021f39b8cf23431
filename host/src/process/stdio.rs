//! The child's standard streams: what each `stdio` the guest asked for becomes on the
//! child's side (a descriptor, or the host's own stream), and the parent's pipe ends.

use std::fs::OpenOptions;
use std::os::fd::{AsFd as _, AsRawFd as _, FromRawFd as _, OwnedFd};

use wasmtime::component::ResourceTable;

use super::Stdio;
use crate::error::{Error, ErrorKind, error, io_error_untargeted};
use crate::fs::{Pipe, PipeEnd};

/// One of the child's streams, on the child's side.
enum End {
    /// This descriptor (blocking, as a child expects its stdio).
    Fd(OwnedFd),
    /// The host process's own stream.
    Inherit,
}

impl End {
    /// The descriptor to put in place, `None` for the host's own stream.
    fn into_fd(self) -> Option<OwnedFd> {
        match self {
            End::Fd(fd) => Some(fd),
            End::Inherit => None,
        }
    }
}

/// The three streams of a child about to be spawned, and the parent's pipe ends
/// (stdin, stdout, stderr) for those that are `pipe`.
pub(super) struct Setup {
    ends: [End; 3],
    parents: [Option<Pipe>; 3],
}

impl Setup {
    /// Resolves the guest's three requests. A `handle` is taken out of the table (the
    /// guest gave it up); a request that makes no sense (`stdout` for stdin or stdout, a
    /// handle of the wrong direction) is `invalid-input`.
    pub(super) fn new(
        table: &mut ResourceTable,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
    ) -> wasmtime::Result<Result<Setup, Error>> {
        let mut parents = [None, None, None];
        let stdin = match one(table, stdin, 0, &mut parents[0])? {
            Ok(end) => end,
            Err(err) => return Ok(Err(err)),
        };
        let stdout = match one(table, stdout, 1, &mut parents[1])? {
            Ok(end) => end,
            Err(err) => return Ok(Err(err)),
        };
        let stderr = if matches!(stderr, Stdio::Stdout) {
            let copy = match &stdout {
                End::Fd(fd) => fd.try_clone(),
                End::Inherit => std::io::stdout().as_fd().try_clone_to_owned(),
            };
            match copy {
                Ok(fd) => End::Fd(fd),
                Err(err) => {
                    return Ok(Err(io_error_untargeted(
                        "spawn: duplicate stdout for stderr",
                        &err,
                    )));
                }
            }
        } else {
            match one(table, stderr, 2, &mut parents[2])? {
                Ok(end) => end,
                Err(err) => return Ok(Err(err)),
            }
        };
        Ok(Ok(Setup {
            ends: [stdin, stdout, stderr],
            parents,
        }))
    }

    /// The child's stdin, stdout and stderr (`None` for the host's own), and the
    /// parent's ends.
    pub(super) fn into_parts(self) -> ([Option<OwnedFd>; 3], [Option<Pipe>; 3]) {
        (self.ends.map(End::into_fd), self.parents)
    }
}

/// The name of stream `fd` in messages.
fn name(fd: usize) -> &'static str {
    ["stdin", "stdout", "stderr"][fd]
}

/// Resolves the request for stream `fd` (0, 1 or 2); a `pipe` puts the parent's end in
/// `parent`.
fn one(
    table: &mut ResourceTable,
    stdio: Stdio,
    fd: usize,
    parent: &mut Option<Pipe>,
) -> wasmtime::Result<Result<End, Error>> {
    let child_reads = fd == 0;
    Ok(match stdio {
        Stdio::Inherit => Ok(End::Inherit),
        Stdio::Null => OpenOptions::new()
            .read(child_reads)
            .write(!child_reads)
            .open("/dev/null")
            .map(|file| End::Fd(file.into()))
            .map_err(|err| io_error_untargeted("spawn: open /dev/null", &err)),
        Stdio::Pipe => match pipe_for_child(child_reads) {
            Ok((ours, theirs)) => {
                *parent = Some(ours);
                Ok(End::Fd(theirs))
            }
            Err(err) => Err(io_error_untargeted(
                &format!("spawn: create the {} pipe", name(fd)),
                &err,
            )),
        },
        Stdio::Handle(handle) => {
            // The guest handed the end over (`own<pipe>`): it is the child's now.
            let pipe = table.delete(handle)?;
            let wanted = if child_reads {
                PipeEnd::Read
            } else {
                PipeEnd::Write
            };
            if pipe.end() != wanted {
                Err(error(
                    ErrorKind::InvalidInput,
                    format!(
                        "spawn: the {} handle is a {} end, the child's {} needs the other",
                        name(fd),
                        pipe.describe(),
                        name(fd)
                    ),
                ))
            } else {
                pipe.duplicate()
                    .and_then(set_blocking)
                    .map(End::Fd)
                    .map_err(|err| {
                        io_error_untargeted(
                            &format!("spawn: hand over the {} handle", name(fd)),
                            &err,
                        )
                    })
            }
        }
        Stdio::Stdout => Err(error(
            ErrorKind::InvalidInput,
            format!("spawn: `stdout` is only for stderr, not for {}", name(fd)),
        )),
    })
}

/// A pipe for one of the child's streams: (the parent's end, non-blocking; the child's
/// end, blocking). Both close-on-exec: the spawn puts the child's on 0, 1 or 2.
fn pipe_for_child(child_reads: bool) -> std::io::Result<(Pipe, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `pipe2` writes two descriptors into `fds` or fails.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    if child_reads {
        Ok((
            Pipe::new(set_nonblocking(write)?, PipeEnd::Write, "pipe", false),
            read,
        ))
    } else {
        Ok((
            Pipe::new(set_nonblocking(read)?, PipeEnd::Read, "pipe", false),
            write,
        ))
    }
}

fn set_nonblocking(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    set_flag(fd, true)
}

/// Clears O_NONBLOCK: a handed-over pipe end that the guest used non-blocking becomes
/// the child's ordinary blocking stream (the guest gave it up, nobody else shares it).
fn set_blocking(fd: OwnedFd) -> std::io::Result<OwnedFd> {
    set_flag(fd, false)
}

fn set_flag(fd: OwnedFd, nonblocking: bool) -> std::io::Result<OwnedFd> {
    let raw = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(raw, libc::F_GETFL);
        if flags < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let flags = if nonblocking {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        if libc::fcntl(raw, libc::F_SETFL, flags) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(fd)
}
