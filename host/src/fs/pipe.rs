//! One end of a pipe as the host holds it: the descriptor, which way it carries bytes, and
//! the non-blocking reads and writes on it.
//!
//! The workload's stdio may also be a socket or a character device (asyncio accepts all
//! three for its pipe transports). A socket end is read and written with `recv`/`send`
//! and `MSG_DONTWAIT`, so the host's own descriptor stays blocking; pipes and character
//! devices get a descriptor of their own (see `stdio.rs`) that is non-blocking.

use std::fmt;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};

use crate::error::{Error, ErrorKind, error, io_error};
use crate::reactor::Source;

/// Which way a pipe end carries bytes (the WIT's `fs.pipe-end`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PipeEnd {
    /// Bytes come out of it.
    Read,
    /// Bytes go into it.
    Write,
}

/// One end of a pipe of the workload: the WIT `fs.pipe`.
///
/// Made by `fs.create-pipe` or the stdio functions; closed when the guest drops its handle (or
/// when the `net.stream` that took it over is dropped).
pub struct Pipe {
    /// Shared with the reactor sources made from this end: one descriptor for all of
    /// them, closed when the last is gone.
    fd: Arc<OwnedFd>,
    end: PipeEnd,
    name: &'static str,
    /// The descriptor is a socket: `recv`/`send` with `MSG_DONTWAIT` instead of
    /// `read`/`write` on a non-blocking descriptor.
    socket: bool,
}

impl Pipe {
    /// Wraps `fd`, which must be non-blocking unless `socket` is set.
    pub(crate) fn new(fd: OwnedFd, end: PipeEnd, name: &'static str, socket: bool) -> Pipe {
        Pipe {
            fd: Arc::new(fd),
            end,
            name,
            socket,
        }
    }

    /// Which way this end carries bytes.
    pub(crate) fn end(&self) -> PipeEnd {
        self.end
    }

    /// `pipe`, `stdin`, `stdout` or `stderr`.
    pub(crate) fn name(&self) -> &'static str {
        self.name
    }

    /// What error messages call this end: "pipe (read end)", "stdout". Formatted only
    /// when a message is built (a would-block error, the hot path, builds none).
    pub(crate) fn describe(&self) -> Describe {
        Describe(self.name, self.end)
    }

    /// Reads into the spare capacity of `data`, at most `max` bytes, and extends its
    /// length; 0 at the end of the stream.
    pub(crate) fn read_into(&self, data: &mut Vec<u8>, max: usize) -> Result<usize, Error> {
        if self.end != PipeEnd::Read {
            return Err(self.wrong_end("read from"));
        }
        let spare: &mut [MaybeUninit<u8>] = data.spare_capacity_mut();
        let len = spare.len().min(max);
        let buf = spare[..len].as_mut_ptr().cast::<libc::c_void>();
        let fd = self.fd.as_raw_fd();
        let n = retry(|| {
            // SAFETY: `buf` points to `len` writable bytes of `data`'s spare capacity.
            let n = if self.socket {
                unsafe { libc::recv(fd, buf, len, libc::MSG_DONTWAIT) }
            } else {
                unsafe { libc::read(fd, buf, len) }
            };
            cvt(n)
        })
        .map_err(|err| io_error("read from", self.describe(), &err))?;
        // SAFETY: the read initialized the first `n` bytes of the spare capacity.
        unsafe { data.set_len(data.len() + n) };
        Ok(n)
    }

    /// Writes what the pipe takes of `data`. Never raises SIGPIPE: a reader that is gone
    /// is an error of kind `broken-pipe`.
    pub(crate) fn write(&self, data: &[u8]) -> Result<usize, Error> {
        if self.end != PipeEnd::Write {
            return Err(self.wrong_end("write to"));
        }
        let fd = self.fd.as_raw_fd();
        let written = if self.socket {
            retry(|| {
                // SAFETY: `data` is a valid slice for the whole call.
                cvt(unsafe {
                    libc::send(
                        fd,
                        data.as_ptr().cast(),
                        data.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                })
            })
        } else {
            without_sigpipe(|| {
                retry(|| {
                    // SAFETY: `data` is a valid slice for the whole call.
                    cvt(unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) })
                })
            })
        };
        written.map_err(|err| io_error("write to", self.describe(), &err))
    }

    /// `read`: what the pipe holds now, at most `max_len` bytes; empty at the end.
    pub(crate) fn read(&self, max_len: usize) -> Result<Vec<u8>, Error> {
        let mut data = Vec::with_capacity(max_len);
        self.read_into(&mut data, max_len).map(|_| data)
    }

    /// A duplicate of the descriptor (close-on-exec), for a child's stdio: the child gets
    /// a descriptor of its own, whatever sources still share this one.
    pub(crate) fn duplicate(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }

    /// `source`: a reactor source on this end's own descriptor, which it shares (no
    /// descriptor of its own per source).
    pub(crate) fn source(&self) -> Source {
        Source::from_fd(Arc::clone(&self.fd))
    }

    /// The error of a read on a write end or a write on a read end.
    fn wrong_end(&self, op: &str) -> Error {
        let end = match self.end {
            PipeEnd::Read => "read",
            PipeEnd::Write => "write",
        };
        error(
            ErrorKind::Unsupported,
            format!("{op} {}: this is the {end} end", self.describe()),
        )
    }
}

/// The name of a pipe end in messages; see [`Pipe::describe`].
pub(crate) struct Describe(&'static str, PipeEnd);

impl fmt::Display for Describe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            ("pipe", PipeEnd::Read) => f.write_str("pipe (read end)"),
            ("pipe", PipeEnd::Write) => f.write_str("pipe (write end)"),
            (name, _) => f.write_str(name),
        }
    }
}

impl AsRawFd for Pipe {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// A syscall's `ssize_t` as an `io::Result`.
fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Retries a call that a signal interrupted.
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Whether the process ignores SIGPIPE (Rust binaries do, from before `main`), looked up
/// once.
fn sigpipe_ignored() -> bool {
    static IGNORED: OnceLock<bool> = OnceLock::new();
    *IGNORED.get_or_init(|| {
        // SAFETY: querying the disposition with a null new action changes nothing.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
        }
    })
}

/// Runs a pipe write (or a `sendfile(2)`, see `net/sendfile.rs`) so that a reader that is
/// gone cannot kill the host with SIGPIPE.
///
/// `write(2)` and `sendfile(2)` have no `MSG_NOSIGNAL`. When the process ignores SIGPIPE (the `sandloop`
/// CLI and every Rust binary do) there is nothing to do. Otherwise (a C embedding) the
/// signal is blocked on this thread for the call, and the SIGPIPE the write raised is
/// taken off the thread's pending set before the mask is restored.
pub(crate) fn without_sigpipe(write: impl FnOnce() -> io::Result<usize>) -> io::Result<usize> {
    if sigpipe_ignored() {
        return write();
    }
    // SAFETY: plain signal-mask calls on this thread with initialized sets.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        let mut pending: libc::sigset_t = std::mem::zeroed();
        libc::sigpending(&mut pending);
        let was_pending = libc::sigismember(&pending, libc::SIGPIPE) == 1;
        let result = write();
        if matches!(&result, Err(err) if err.raw_os_error() == Some(libc::EPIPE)) && !was_pending {
            let zero = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}
