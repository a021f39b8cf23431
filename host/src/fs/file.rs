//! Files of a preopened directory, opened without blocking (`fs.open-file`).
//!
//! `wasi:filesystem`'s `open-at` opens with a plain `open(2)`: on a FIFO that blocks until
//! some process opens it for writing, and the instance's thread blocks with it (every
//! connection of the workload waits). Checking the type first (`stat-at`, then `open-at`)
//! leaves a window in which the file can be swapped for a FIFO; so the open itself is
//! non-blocking (`O_NONBLOCK` returns at once on a FIFO, and `O_NOCTTY` keeps a terminal
//! from becoming the host's controlling one), and the type is read from the descriptor
//! it gave (`fstat`), which no rename can change. Anything but a regular file or a
//! directory is then closed and refused.
//!
//! The path is resolved beneath the directory by `cap-primitives`, the same confinement
//! wasmtime-wasi's own `open-at` applies (no `..` or symlink leads out).

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::FileTypeExt as _;
use std::path::Path;

use cap_primitives::fs::{FollowSymlinks, OpenOptions, OpenOptionsExt as _};

use crate::error::{Error, ErrorKind, error, kind_of};

#[cfg(test)]
mod tests;

/// What `open` opened.
#[derive(Debug)]
pub(crate) enum Opened {
    File(File),
    Dir(File),
}

/// Opens `path` beneath `dir` for reading without blocking; refuses what is neither a
/// regular file nor a directory. The error's message says why (the operating system's
/// words, or what the path names); the guest, which knows the path it was asked for,
/// names it.
pub(crate) fn open(dir: &File, path: &str) -> Result<Opened, Error> {
    let mut options = OpenOptions::new();
    options
        .read(true)
        ._cap_fs_ext_follow(FollowSymlinks::Yes)
        ._cap_fs_ext_nonblock(true)
        .custom_flags(libc::O_NOCTTY);
    let file = cap_primitives::fs::open(dir, Path::new(path), &options)
        .map_err(|err| error(kind_of(&err), err.to_string()))?;
    let file_type = file
        .metadata()
        .map_err(|err| error(kind_of(&err), format!("fstat: {err}")))?
        .file_type();
    if file_type.is_dir() {
        return Ok(Opened::Dir(file));
    }
    if !file_type.is_file() {
        return Err(error(
            ErrorKind::Unsupported,
            format!("{}, not a regular file", special_name(&file_type)),
        ));
    }
    // O_NONBLOCK was for the open alone: reads of a regular file never wait for a writer,
    // and `sendfile(2)` reads it as any other file.
    set_blocking(&file).map_err(|err| error(kind_of(&err), format!("fcntl: {err}")))?;
    Ok(Opened::File(file))
}

/// What a special file is, for messages.
fn special_name(file_type: &fs::FileType) -> &'static str {
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

/// Clears `O_NONBLOCK` on `file`.
fn set_blocking(file: &File) -> io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for the duration of both calls (`file` borrows it).
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above; only the status flags change.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
