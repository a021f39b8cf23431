//! Files of the workload's preopened directories, for reading and for `sendfile`.
//!
//! The host grants directories read-only (`sandloop run --dir HOST_DIR::GUEST_DIR`); a
//! [`File`] opens a file under one of them by its guest path. It reads like a
//! `std::fs::File` ([`Read`], [`Seek`]), and it is what
//! [`EventLoop::sendfile`](crate::EventLoop::sendfile) and
//! [`EventLoop::sock_sendfile`](crate::EventLoop::sock_sendfile) send with the host's native
//! `sendfile(2)`: the bytes go from the file to the socket in the kernel, never through
//! the sandbox. (`std::fs` reads the same directories, but its files can only be sent by
//! the read-and-write fallback.)
//!
//! ```no_run
//! use std::io::Read;
//!
//! let mut file = sandloop::fs::File::open("/www/index.html")?;
//! let mut text = String::new();
//! file.read_to_string(&mut text)?;
//! # Ok::<(), std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use crate::sys::files::HostFile;

/// The most one `read` asks the host for.
const MAX_READ: usize = 1 << 20;

/// A file of a preopened directory, open read-only, with a position (like
/// `std::fs::File`). Reads take explicit offsets, so the position is the `File`'s own.
///
/// ```no_run
/// use std::io::{Read, Seek, SeekFrom};
/// let mut file = sandloop::fs::File::open("/data/log.txt")?;
/// let size = file.len()?;
/// file.seek(SeekFrom::Start(size.saturating_sub(100)))?;
/// let mut tail = String::new();
/// file.read_to_string(&mut tail)?;
/// println!("last bytes of {}: {tail}", file.path());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct File {
    host: Rc<HostFile>,
    path: String,
    pos: u64,
}

impl File {
    /// Opens `path` for reading: a path under one of the preopened directories (the
    /// longest matching guest path wins). Errors name the path: not under any preopen
    /// (`NotFound`), missing (`NotFound`), a directory (`IsADirectory`), a FIFO, a socket
    /// or a device (`Unsupported`), or refused by the host (`PermissionDenied`, e.g. a
    /// `..` that leads out of the preopen).
    ///
    /// The open never blocks the loop: a FIFO is refused, not waited on until a writer
    /// comes (which `std::fs::File::open` does, blocking the whole instance).
    ///
    /// ```no_run
    /// // `sandloop run --dir ./public::/www app.wasm` grants ./public as /www.
    /// match sandloop::fs::File::open("/www/missing.html") {
    ///     Ok(file) => println!("{} bytes", file.len()?),
    ///     Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("404"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let path = path.to_str().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("open {}: the path is not UTF-8", path.display()),
            )
        })?;
        let host = HostFile::open(path)?;
        if host.is_dir(path)? {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("open {path}: is a directory"),
            ));
        }
        Ok(File {
            host: Rc::new(host),
            path: path.to_owned(),
            pos: 0,
        })
    }

    /// Opens `path` whatever it is, a directory too (only for tests of the host's
    /// refusals).
    #[doc(hidden)]
    pub fn open_unchecked(path: &str) -> io::Result<File> {
        Ok(File {
            host: Rc::new(HostFile::open(path)?),
            path: path.to_owned(),
            pos: 0,
        })
    }

    /// The file's size now.
    pub fn len(&self) -> io::Result<u64> {
        self.host.size(&self.path)
    }

    /// Whether the file is empty now.
    pub fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The guest path it was opened by.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn host(&self) -> &Rc<HostFile> {
        &self.host
    }
}

impl Read for File {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let len = buf.len().min(MAX_READ);
        let bytes = self.host.read(len, self.pos, &self.path)?;
        let n = bytes.len().min(len);
        buf[..n].copy_from_slice(&bytes[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for File {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let (base, delta) = match to {
            SeekFrom::Start(pos) => {
                self.pos = pos;
                return Ok(pos);
            }
            SeekFrom::Current(delta) => (self.pos, delta),
            SeekFrom::End(delta) => (self.len()?, delta),
        };
        match base.checked_add_signed(delta) {
            Some(pos) => {
                self.pos = pos;
                Ok(pos)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seek {}: to a negative or overflowing position", self.path),
            )),
        }
    }

    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File")
            .field("path", &self.path)
            .field("pos", &self.pos)
            .finish_non_exhaustive()
    }
}
