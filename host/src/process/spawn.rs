//! Starting a child that dies with the host: `clone(CLONE_VM | CLONE_VFORK)`, as glibc's
//! `posix_spawn` does, plus the one step `posix_spawn` has no attribute for, setting the
//! child's parent-death signal.
//!
//! Why not `std::process::Command`: the parent-death signal must be set by the child
//! itself, between its creation and `exec`, and the only hook `Command` offers for that,
//! `pre_exec`, makes it `fork` instead of `posix_spawn`. A fork copies the page tables of
//! every anonymous mapping of the host, every tenant's linear memory included, and makes
//! all of it copy-on-write until the child execs: measured on the project's 2-core
//! machine, a spawn of `/usr/bin/true` took 1.3 ms with `posix_spawn` whatever the host's
//! size, and with fork 2 ms in a process of a few MiB, 5 to 8 ms with 64 MiB touched,
//! 19 to 25 ms with 256 MiB and 65 to 70 ms with 1 GiB. Here the child shares the host's
//! memory until it execs, as with `posix_spawn`, so a spawn costs the same in a host of
//! any size (0.9 to 1.3 ms in the same measurement, from 0 to 1 GiB).
//!
//! The child also gets what `Command` gives: the host's signal handlers back to the
//! default, SIGPIPE too (the Rust runtime ignores it in the host), no signal blocked, its
//! stdio on 0, 1 and 2, every other descriptor of the host closed at `exec` (they are all
//! close-on-exec), exactly the environment asked for, and no `PATH` lookup.
//!
//! The child runs on a small stack of its own, in the host's memory, while the thread that
//! spawned it is suspended: it may make system calls only, on data the parent prepared
//! (no allocation, no lock, no Rust runtime). If it fails before `exec` (a missing
//! directory, a program that is not executable) it stores the errno where the parent reads
//! it, and exits.

use std::ffi::{CString, c_char, c_int, c_void};
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

/// What to start.
pub(super) struct Request<'a> {
    /// The executable, as the policy resolved it (never looked up in `PATH`).
    pub(super) program: &'a Path,
    /// `argv[0]`.
    pub(super) argv0: &'a str,
    /// `argv[1..]`.
    pub(super) args: &'a [String],
    /// The child's whole environment.
    pub(super) env: &'a [(String, String)],
    /// The directory the child starts in; the host's when `None`.
    pub(super) cwd: Option<&'a str>,
    /// The child's stdin, stdout and stderr; the host's own stream where `None`.
    pub(super) stdio: [Option<OwnedFd>; 3],
}

/// A started child: its pid and a pidfd on it (from the same `clone`, so it names this
/// child even if the pid were reused).
pub(super) struct Spawned {
    pub(super) pid: libc::pid_t,
    pub(super) pidfd: OwnedFd,
}

/// The child's stack: the child runs a few system calls, so a few pages are plenty; a
/// guard page below catches an overflow instead of letting it write into the host.
const STACK_SIZE: usize = 64 << 10;
const GUARD_SIZE: usize = 4 << 10;

/// Starts `request`'s program as a child of the host that the kernel kills (SIGKILL) when
/// the thread calling this ends (see `child.rs` for why the thread is the right scope).
///
/// The child starts with the default action for every signal the host handles, SIGPIPE
/// back to its default (the Rust runtime ignores it in the host), every other ignored
/// signal still ignored, and no signal blocked: what `std::process::Command` gives.
pub(super) fn spawn(request: Request<'_>) -> io::Result<Spawned> {
    let program = c_string(request.program.as_os_str().as_bytes())?;
    let argv = std::iter::once(request.argv0)
        .chain(request.args.iter().map(String::as_str))
        .map(|arg| c_string(arg.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    // A name given twice is set once, to its last value (as `Command::envs` does).
    let envp = request
        .env
        .iter()
        .enumerate()
        .filter(|(i, (name, _))| !request.env[i + 1..].iter().any(|(later, _)| later == name))
        .map(|(_, (name, value))| c_string(format!("{name}={value}").as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let cwd = request
        .cwd
        .map(|dir| c_string(dir.as_bytes()))
        .transpose()?;
    // Above 0, 1 and 2, so that putting one stream in place never overwrites the source
    // of another (a host started with a closed stdin hands out descriptor 0 again).
    let stdio = request.stdio.map(|end| end.map(above_stdio).transpose());
    let [stdin, stdout, stderr] = stdio;
    let stdio = [stdin?, stdout?, stderr?];
    let argv_pointers = null_terminated(&argv);
    let envp_pointers = null_terminated(&envp);
    let stack = Stack::new()?;
    let args = ChildArgs {
        program: program.as_ptr(),
        argv: argv_pointers.as_ptr(),
        envp: envp_pointers.as_ptr(),
        cwd: cwd.as_ref().map_or(std::ptr::null(), |dir| dir.as_ptr()),
        stdio: stdio
            .each_ref()
            .map(|end| end.as_ref().map_or(-1, |fd| fd.as_raw_fd())),
        host: std::process::id(),
        errno: AtomicI32::new(0),
    };
    let mut pidfd: c_int = -1;
    let pid = {
        // Blocked for the parent thread, so for the child it becomes, until the child
        // has reset the handlers it must not run in the host's memory (see `child`).
        let _blocked = SignalsBlocked::all()?;
        // SAFETY: `child` runs on `stack`, which stays mapped until `clone` returns, and
        // CLONE_VFORK makes `clone` return only once the child has called execve or
        // _exit: it reads `args` (alive until the end of this function) and writes only
        // its errno there. CLONE_PIDFD stores the new pidfd in `pidfd`.
        let pid = unsafe {
            libc::clone(
                child,
                stack.top(),
                libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_PIDFD | libc::SIGCHLD,
                (&raw const args).cast_mut().cast::<c_void>(),
                &raw mut pidfd,
            )
        };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        pid
    };
    // SAFETY: CLONE_PIDFD made a new descriptor for the child, ours alone.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    let failed = args.errno.load(Ordering::Acquire);
    if failed != 0 {
        // The child failed before its program could run, and exited: reap it.
        reap(pid);
        return Err(io::Error::from_raw_os_error(failed));
    }
    Ok(Spawned { pid, pidfd })
}

/// Waits for child `pid`, which has exited or is about to, and discards its status.
fn reap(pid: libc::pid_t) {
    loop {
        // SAFETY: waitpid on our own child, with no status pointer.
        let rc = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if rc >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// What the child reads: pointers into the parent's buffers, valid until `clone` returns.
struct ChildArgs {
    program: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// Null for the host's directory.
    cwd: *const c_char,
    /// -1 for the host's own stream.
    stdio: [RawFd; 3],
    /// The host's pid, to tell whether it died before the parent-death signal was set.
    host: u32,
    /// Set by the child when it fails before its program runs.
    errno: AtomicI32,
}

/// The child, from `clone` to `execve`. Never returns.
extern "C" fn child(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the parent's `ChildArgs`, alive until this process execs or exits.
    let args = unsafe { &*arg.cast::<ChildArgs>() };
    // SAFETY: `prepare_and_exec` makes system calls only, on `args`.
    let errno = unsafe { prepare_and_exec(args) };
    args.errno.store(errno.max(1), Ordering::Release);
    // SAFETY: _exit ends this process without running anything of the host's.
    unsafe { libc::_exit(127) }
}

/// Sets the child up and execs its program; returns the errno of the step that failed.
///
/// # Safety
///
/// Only in the child of [`spawn`]'s `clone`, with every signal blocked.
unsafe fn prepare_and_exec(args: &ChildArgs) -> c_int {
    let errno = || {
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EINVAL)
    };
    // SAFETY (the whole block): system calls on this process and on the descriptors and
    // strings `args` points to.
    unsafe {
        // The host's handlers would run here in the host's memory: back to the default
        // (SIGPIPE too, which the Rust runtime ignores in the host). glibc's own
        // signals (32 and 33) cannot be changed through `sigaction` and are never sent
        // to another process by glibc; they stay blocked until the mask is set below.
        for signum in 1..=crate::policy::MAX_SIGNAL {
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signum, std::ptr::null(), &mut action) != 0 {
                continue;
            }
            let ignored = action.sa_sigaction == libc::SIG_IGN && signum != libc::SIGPIPE;
            if action.sa_sigaction == libc::SIG_DFL || ignored {
                continue;
            }
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signum, &action, std::ptr::null_mut());
        }
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            return errno();
        }
        // The host died before the signal was set: this child was re-parented, and no
        // signal will ever come; it must not run.
        if u32::try_from(libc::getppid()).ok() != Some(args.host) {
            return libc::ESRCH;
        }
        for (target, &source) in args.stdio.iter().enumerate() {
            // `source` is above 2 (see `spawn`), so `dup2` always makes a fresh copy,
            // without close-on-exec.
            if source >= 0 && libc::dup2(source, target as c_int) < 0 {
                return errno();
            }
        }
        if !args.cwd.is_null() && libc::chdir(args.cwd) != 0 {
            return errno();
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
        if rc != 0 {
            return rc;
        }
        libc::execve(args.program, args.argv, args.envp);
        errno()
    }
}

/// `bytes` as a C string; a NUL inside is the caller's error.
fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument, a variable or the directory contains a NUL byte",
        )
    })
}

/// The pointers of `strings`, then a null pointer: an `argv` or `envp`.
fn null_terminated(strings: &[CString]) -> Vec<*const c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// `fd`, moved above 2 if it is 0, 1 or 2 (the copy is close-on-exec, like the original).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own returns a new one or fails.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the copy is fresh and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// The child's stack, unmapped when dropped.
struct Stack {
    base: *mut c_void,
}

impl Stack {
    fn new() -> io::Result<Stack> {
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUARD_SIZE + STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = Stack { base };
        // SAFETY: the lowest page of our own mapping.
        if unsafe { libc::mprotect(base, GUARD_SIZE, libc::PROT_NONE) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The highest address: stacks grow down (x86-64 and aarch64).
    fn top(&self) -> *mut c_void {
        // SAFETY: one past the end of the mapping, 16-byte aligned as both ABIs want.
        unsafe { self.base.cast::<u8>().add(GUARD_SIZE + STACK_SIZE).cast() }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, used by nobody once `clone` returned.
        unsafe { libc::munmap(self.base, GUARD_SIZE + STACK_SIZE) };
    }
}

/// Every signal blocked for the calling thread (glibc's internal ones too, which
/// `pthread_sigmask` leaves alone), until dropped.
struct SignalsBlocked {
    previous: u64,
}

impl SignalsBlocked {
    fn all() -> io::Result<SignalsBlocked> {
        let all: u64 = u64::MAX;
        let mut previous: u64 = 0;
        // SAFETY: rt_sigprocmask with the kernel's 8-byte signal set, on this thread.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &raw const all,
                &raw mut previous,
                std::mem::size_of::<u64>(),
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(SignalsBlocked { previous })
    }
}

impl Drop for SignalsBlocked {
    fn drop(&mut self) {
        // SAFETY: as in `all`, restoring the mask it saved.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &raw const self.previous,
                std::ptr::null_mut::<u64>(),
                std::mem::size_of::<u64>(),
            )
        };
    }
}
