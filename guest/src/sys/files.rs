//! Files of the workload's preopened directories, as `wasi:filesystem` descriptors
//! (`sandloop::fs::File`).
//!
//! The host preopens the directories its policy grants (read-only); a file opened here
//! is a `wasi:filesystem/types.descriptor` the host can also send natively with
//! `sendfile(2)` (`net.socket.send-file`, `net.stream.send-file` take it by borrow).
//!
//! Files are opened with the host's `fs.open-file`, not WASI's `open-at`: `open-at` of a
//! FIFO blocks the whole instance until a writer appears, and checking the type first
//! would leave a window to swap the file for one. `open-file` opens without blocking and
//! refuses FIFOs, sockets and devices.

use std::io;

mod preopens {
    wit_bindgen::generate!({
        inline: "package sandloop:preopens; world preopens { import wasi:filesystem/preopens@0.2.12; }",
        path: "wit",
        world: "sandloop:preopens/preopens",
        with: {
            "wasi:filesystem/preopens@0.2.12": generate,
            "wasi:filesystem/types@0.2.12": super::super::bindings::wasi::filesystem::types,
            "wasi:io/error@0.2.12": super::super::bindings::wasi::io::error,
            "wasi:io/poll@0.2.12": super::super::bindings::wasi::io::poll,
            "wasi:io/streams@0.2.12": super::super::bindings::wasi::io::streams,
            "wasi:clocks/wall-clock@0.2.12": super::super::bindings::wasi::clocks::wall_clock,
        },
    });
}

use super::bindings::fs;
use super::bindings::wasi::filesystem::types::{Descriptor, DescriptorType, ErrorCode};
use super::errors::error_from_wit;
use crate::error::Error;

/// An open file of a preopened directory (`wasi:filesystem` descriptor).
pub(crate) struct HostFile(Descriptor);

impl HostFile {
    /// Opens `path` read-only: the preopen whose guest path is the longest prefix of
    /// `path` (at a `/` boundary) holds it; `.`-relative preopens match relative paths.
    /// A regular file or a directory; anything else is `Unsupported`.
    pub(crate) fn open(path: &str) -> io::Result<HostFile> {
        let dirs = preopens::wasi::filesystem::preopens::get_directories();
        let mut best: Option<(&Descriptor, &str, usize)> = None;
        for (dir, guest) in &dirs {
            if let Some(rest) = relative_to(path, guest)
                && best.is_none_or(|(_, _, len)| guest.len() > len)
            {
                best = Some((dir, rest, guest.len()));
            }
        }
        let Some((dir, rest, _)) = best else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("open {path}: not under any preopened directory"),
            ));
        };
        let rest = if rest.is_empty() { "." } else { rest };
        let file = fs::open_file(dir, rest).map_err(|err| match error_from_wit(err) {
            Error::Os(err) => io::Error::new(err.kind(), format!("open {path}: {err}")),
            err => io::Error::other(format!("open {path}: {err}")),
        })?;
        Ok(HostFile(file))
    }

    /// Reads up to `len` bytes at `offset`; empty at the end of the file.
    pub(crate) fn read(&self, len: usize, offset: u64, path: &str) -> io::Result<Vec<u8>> {
        let (bytes, _eof) = self
            .0
            .read(len as u64, offset)
            .map_err(|code| fs_error("read", path, code))?;
        Ok(bytes)
    }

    /// The file's size now.
    pub(crate) fn size(&self, path: &str) -> io::Result<u64> {
        let stat = self.0.stat().map_err(|code| fs_error("stat", path, code))?;
        Ok(stat.size)
    }

    /// Whether it is a directory.
    pub(crate) fn is_dir(&self, path: &str) -> io::Result<bool> {
        let ty = self
            .0
            .get_type()
            .map_err(|code| fs_error("stat", path, code))?;
        Ok(ty == DescriptorType::Directory)
    }

    /// The descriptor, for the host's `send-file`.
    pub(crate) fn descriptor(&self) -> &Descriptor {
        &self.0
    }
}

/// `path` relative to the preopen `guest`, if the preopen holds it.
fn relative_to<'a>(path: &'a str, guest: &str) -> Option<&'a str> {
    let guest_trimmed = guest.trim_end_matches('/');
    if guest == "." || guest == "./" {
        // A `.` preopen holds relative paths.
        return (!path.starts_with('/')).then(|| path.strip_prefix("./").unwrap_or(path));
    }
    if guest_trimmed.is_empty() {
        // The preopen is `/`.
        return path.strip_prefix('/');
    }
    let rest = path.strip_prefix(guest_trimmed)?;
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix('/')
}

/// A `wasi:filesystem` error as an `io::Error` naming the operation and the path.
fn fs_error(op: &str, path: &str, code: ErrorCode) -> io::Error {
    use ErrorCode as C;
    let kind = match code {
        C::NoEntry => io::ErrorKind::NotFound,
        C::Access | C::NotPermitted | C::ReadOnly => io::ErrorKind::PermissionDenied,
        C::IsDirectory => io::ErrorKind::IsADirectory,
        C::NotDirectory => io::ErrorKind::NotADirectory,
        C::Exist => io::ErrorKind::AlreadyExists,
        C::Invalid | C::NameTooLong | C::Loop => io::ErrorKind::InvalidInput,
        C::BadDescriptor => io::ErrorKind::InvalidInput,
        C::Unsupported => io::ErrorKind::Unsupported,
        C::InsufficientMemory => io::ErrorKind::OutOfMemory,
        C::Interrupted => io::ErrorKind::Interrupted,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, format!("{op} {path}: {}", code.name()))
}
