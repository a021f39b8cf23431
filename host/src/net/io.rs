//! The socket system calls every part of `net` makes: retried when a signal interrupts
//! them, and never raising SIGPIPE.
//!
//! `send` and `recv` are made by their system call numbers rather than through glibc's
//! wrappers: those are cancellation points, and in a process with threads (the host has
//! several) glibc brackets each call with `__pthread_enable_asynccancel` and
//! `__pthread_disable_asynccancel`, which a profile of the echo benchmark shows as a tenth
//! of the host's user time per message. The host never cancels a thread.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd as _;

/// Retries a syscall that a signal interrupted (the instance's thread may receive
/// signals meant for the process).
pub(crate) fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Sends what the kernel takes of `data`, without raising SIGPIPE when the peer is gone
/// (that would kill the whole host; EPIPE is reported instead).
pub(crate) fn send(socket: &socket2::Socket, data: &[u8]) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    retry(|| {
        // SAFETY: `data` is valid for reads of its length; no address (null, length 0),
        // as `send(2)` passes.
        let sent = unsafe {
            libc::syscall(
                libc::SYS_sendto,
                fd,
                data.as_ptr(),
                data.len(),
                libc::MSG_NOSIGNAL,
                std::ptr::null::<libc::sockaddr>(),
                0 as libc::socklen_t,
            )
        };
        syscall_result(sent)
    })
}

/// `recv(2)` into `buf` (possibly uninitialized), by its system call number.
fn recv_raw(socket: &socket2::Socket, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    let fd = socket.as_raw_fd();
    retry(|| {
        // SAFETY: `buf` is valid for writes of its length (the kernel writes at most that
        // many bytes); no address is asked for (two null pointers), as `recv(2)` passes.
        let received = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd,
                buf.as_mut_ptr(),
                buf.len(),
                0,
                std::ptr::null_mut::<libc::sockaddr>(),
                std::ptr::null_mut::<libc::socklen_t>(),
            )
        };
        syscall_result(received)
    })
}

/// What `syscall(2)` returned: a count, or -1 with the error in `errno`.
fn syscall_result(returned: libc::c_long) -> io::Result<usize> {
    usize::try_from(returned).map_err(|_| io::Error::last_os_error())
}

/// Reads at most `max_len` bytes into a vector of that capacity, once.
pub(crate) fn recv(socket: &socket2::Socket, max_len: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(max_len);
    let n = recv_raw(socket, data.spare_capacity_mut())?;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
    unsafe { data.set_len(n) };
    Ok(data)
}

/// Reads into the spare capacity of `data`, at most `max` bytes, and extends its length.
pub(crate) fn recv_into(
    socket: &socket2::Socket,
    data: &mut Vec<u8>,
    max: usize,
) -> io::Result<usize> {
    let spare: &mut [MaybeUninit<u8>] = data.spare_capacity_mut();
    let len = spare.len().min(max);
    let n = recv_raw(socket, &mut spare[..len])?;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
    unsafe { data.set_len(data.len() + n) };
    Ok(n)
}
