//! The socket system calls every part of `net` makes: retried when a signal interrupts
//! them, and never raising SIGPIPE.
//!
//! `send` and `recv` go to the kernel through rustix's raw system calls rather than
//! through glibc's wrappers: those are cancellation points, and in a process with threads
//! (the host has several) glibc brackets each call with `__pthread_enable_asynccancel` and
//! `__pthread_disable_asynccancel`, which a profile of the echo benchmark shows as a tenth
//! of the host's user time per message. The host never cancels a thread.

use std::io;
use std::mem::MaybeUninit;

use rustix::net::{RecvFlags, SendFlags};

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
    retry(|| rustix::net::send(socket, data, SendFlags::NOSIGNAL).map_err(io::Error::from))
}

/// `recv(2)` into `buf` (possibly uninitialized); the count of bytes it filled.
fn recv_raw(socket: &socket2::Socket, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    retry(|| {
        rustix::net::recv(socket, &mut *buf, RecvFlags::empty())
            .map(|((filled, _), _)| filled.len())
            .map_err(io::Error::from)
    })
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
