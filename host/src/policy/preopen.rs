//! Preopened directories: the files a workload may read, and those it may also write.
//!
//! A preopen maps a host directory to a guest path, read-only unless it says
//! [`writable`](Preopen::writable) (CLI `--dir-rw`, file `writable = true`): the workload opens files
//! under it through `wasi:filesystem` (so `std::fs` reads them too, and
//! `sandloop::fs::File` opens them for `sendfile`), and nothing outside any preopen can be
//! named at all. wasmtime-wasi confines paths to the directory (`..` and symlinks that
//! lead out are refused).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::RuleError;

/// A host directory the workload may read, under a guest path: CLI
/// `--dir HOST_DIR[::GUEST_DIR]` (like wasmtime's flag; the guest path defaults to the
/// host path).
///
/// ```
/// use sandloop_host::policy::Preopen;
///
/// let dir: Preopen = "./public::/www".parse()?;
/// assert_eq!(dir.host, std::path::PathBuf::from("./public"));
/// assert_eq!(dir.guest, "/www");
/// let same: Preopen = "/srv/data".parse()?;
/// assert_eq!(same.guest, "/srv/data");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preopen {
    /// The directory on the host.
    pub host: PathBuf,
    /// Where the workload sees it.
    pub guest: String,
    /// Whether the workload may also create, write, rename and remove files and
    /// directories under it (wasmtime-wasi's `FsPerms::ReadWrite`). `false` (the default,
    /// and what [`Preopen::new`] and `--dir` give) refuses every change with
    /// `PermissionDenied`-style errors from `wasi:filesystem`.
    pub writable: bool,
}

impl Preopen {
    /// `host` under the guest path `guest`, read-only.
    pub fn new(host: impl Into<PathBuf>, guest: impl Into<String>) -> Preopen {
        Preopen {
            host: host.into(),
            guest: guest.into(),
            writable: false,
        }
    }

    /// `host` under the guest path `guest`, readable and writable (CLI `--dir-rw`).
    pub fn read_write(host: impl Into<PathBuf>, guest: impl Into<String>) -> Preopen {
        Preopen {
            writable: true,
            ..Preopen::new(host, guest)
        }
    }
}

impl FromStr for Preopen {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<Preopen, RuleError> {
        let (host, guest) = match input.split_once("::") {
            Some((host, guest)) => (host, guest),
            None => (input, input),
        };
        Preopen::checked(input, host, guest)
    }
}

impl Preopen {
    /// A read-only preopen of `host` as `guest` once both are checked; `input` is what
    /// errors name (the flag's value, or the policy file's entry).
    pub(crate) fn checked(input: &str, host: &str, guest: &str) -> Result<Preopen, RuleError> {
        if host.is_empty() {
            return Err(RuleError::new(
                input,
                "expected HOST_DIR[::GUEST_DIR], e.g. ./public::/www",
            ));
        }
        if guest.is_empty() || guest.contains('\0') {
            return Err(RuleError::new(
                input,
                format!("{guest:?} is not a guest path"),
            ));
        }
        Ok(Preopen::new(host, guest))
    }
}

/// `HOST_DIR::GUEST_DIR`, as `--dir` takes it (or `--dir-rw` for a writable one: the
/// mode is not part of the text, so no path can be mistaken for it).
impl fmt::Display for Preopen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{}", self.host.display(), self.guest)
    }
}
