//! Files for the sandloop host's native `sendfile(2)` (`sandloop::fs::File`): not in the
//! portable build. `std::fs` reads a WASI host's preopened directories as usual, and
//! `sendfile` sends what it reads with its read-and-write fallback.

use std::io;

/// A file the host could send natively: never made here.
pub(crate) struct HostFile {
    never: std::convert::Infallible,
}

impl HostFile {
    pub(crate) fn open(path: &str) -> io::Result<HostFile> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "sandloop::fs::File::open {path}: not available in the portable build (native \
                 sendfile needs the sandloop host; read the file with std::fs)"
            ),
        ))
    }

    pub(crate) fn read(&self, _len: usize, _offset: u64, _path: &str) -> io::Result<Vec<u8>> {
        match self.never {}
    }

    pub(crate) fn size(&self, _path: &str) -> io::Result<u64> {
        match self.never {}
    }

    pub(crate) fn is_dir(&self, _path: &str) -> io::Result<bool> {
        match self.never {}
    }

    /// Proof that no code path holding a `HostFile` runs in the portable build.
    pub(crate) fn never<T>(&self) -> T {
        match self.never {}
    }
}
