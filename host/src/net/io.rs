//! The socket system calls every part of `net` makes: retried when a signal interrupts
//! them, and never raising SIGPIPE.

use std::io;
use std::mem::MaybeUninit;

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
    retry(|| socket.send_with_flags(data, libc::MSG_NOSIGNAL))
}

/// Reads at most `max_len` bytes into a vector of that capacity, once.
pub(crate) fn recv(socket: &socket2::Socket, max_len: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(max_len);
    let n = retry(|| socket.recv(data.spare_capacity_mut()))?;
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
    let n = retry(|| socket.recv(&mut spare[..len]))?;
    // SAFETY: `recv` initialized the first `n` bytes of the spare capacity.
    unsafe { data.set_len(data.len() + n) };
    Ok(n)
}
