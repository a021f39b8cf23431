//! Unix stream sockets on paths and abstract names: `bind`, `listen` and `connect` under
//! the policy's unix rules, and the two file operations `create_unix_server` needs (a
//! stale socket file removed before bind, the server's own file removed on close unless it
//! was replaced).
//!
//! The guest's path is checked in its normalized form (absolute, `.` and repeated slashes
//! dropped, see [`UnixTarget`]) and that normalized path is what the host binds or
//! connects to, so what the policy saw is what the kernel gets, whatever the host's
//! current directory does later. A path with `..` is always denied.
//!
//! These are functions of a socket's descriptor and family, which `socket.rs` calls for an
//! `Address::Unix`: this file does not name `Socket`, so imports point one way.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _};
use std::path::{Path, PathBuf};

use socket2::SockAddr;

use super::address::{self, Address, AddressFamily};
use super::io::retry;
use crate::error::{Error, ErrorKind, error, io_error};
use crate::policy::{Policy, UnixOperation, UnixTarget};

/// The socket file a `bind` created, identified as asyncio does (`st_dev`, `st_ino`), so
/// that the server removes it on close only if nobody replaced it since.
pub(crate) struct BoundFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

/// The guest's unix address checked for `op` and turned into a native address.
fn checked(
    policy: &Policy,
    op: UnixOperation,
    verb: &str,
    bytes: &[u8],
) -> Result<(UnixTarget, SockAddr), Error> {
    let target = UnixTarget::from_guest(bytes)
        .map_err(|reason| error(ErrorKind::InvalidInput, format!("{verb}: {reason}")))?;
    policy
        .check_unix(op, &target)
        .map_err(|denial| error(ErrorKind::Denied, denial.to_string()))?;
    let native = match &target {
        UnixTarget::Path(path) => SockAddr::unix(path),
        UnixTarget::Abstract(name) => {
            let mut bytes = Vec::with_capacity(name.len() + 1);
            bytes.push(0);
            bytes.extend_from_slice(name);
            SockAddr::unix(std::ffi::OsStr::from_bytes(&bytes))
        }
        // `check_unix` never grants an escape; refused here too rather than trusted.
        UnixTarget::Escape(_) => {
            return Err(error(
                ErrorKind::Denied,
                format!("{verb} {target}: a path with `..` is never granted"),
            ));
        }
    }
    .map_err(|err| {
        error(
            ErrorKind::InvalidInput,
            format!("{verb} {target}: {err} (at most 107 bytes)"),
        )
    })?;
    Ok((target, native))
}

/// Refuses a unix address for a socket of another family, before the OS does it with a
/// less helpful EINVAL.
fn check_family(verb: &str, family: AddressFamily) -> Result<(), Error> {
    if family == AddressFamily::Unix {
        return Ok(());
    }
    Err(error(
        ErrorKind::InvalidInput,
        format!(
            "{verb}: a unix path is not an address of this {} socket",
            address::family_name(family)
        ),
    ))
}

/// Binds `socket` (of `family`) to the unix path or name `bytes`; returns which file it
/// created, for `remove-bound-path`.
pub(super) fn bind(
    socket: &socket2::Socket,
    family: AddressFamily,
    policy: &Policy,
    bytes: &[u8],
) -> Result<Option<BoundFile>, Error> {
    check_family("bind", family)?;
    let (target, native) = checked(policy, UnixOperation::Bind, "bind", bytes)?;
    socket
        .bind(&native)
        .map_err(|err| io_error("bind", &target, &err))?;
    let UnixTarget::Path(path) = target else {
        return Ok(None);
    };
    // The identity of the file just created; if the stat fails the file cannot be told
    // from a replacement, so it will not be removed on close.
    Ok(fs::symlink_metadata(&path).ok().map(|meta| BoundFile {
        path,
        dev: meta.dev(),
        ino: meta.ino(),
    }))
}

/// Connects `socket` (of `family`) to the unix path or name `bytes`. A unix connect
/// completes at once or fails; EAGAIN means the listener's backlog is full, which is
/// reported as such rather than as "in progress" (nothing would complete it later).
pub(super) fn connect(
    socket: &socket2::Socket,
    family: AddressFamily,
    policy: &Policy,
    bytes: &[u8],
) -> Result<(), Error> {
    check_family("connect", family)?;
    let (target, native) = checked(policy, UnixOperation::Connect, "connect", bytes)?;
    retry(|| socket.connect(&native)).map_err(|err| {
        if err.raw_os_error() == Some(libc::EAGAIN) {
            return error(
                ErrorKind::Other,
                format!("connect {target}: the listener's backlog is full ({err})"),
            );
        }
        io_error("connect", &target, &err)
    })
}

/// Sends `data` as one datagram to the unix path or name `bytes` (a unix datagram
/// socket), checked as a connect there: the policy's unix rules say whom a workload may
/// reach, whatever the socket type.
pub(super) fn send_to(
    socket: &socket2::Socket,
    family: AddressFamily,
    policy: &Policy,
    data: &[u8],
    bytes: &[u8],
) -> Result<u32, Error> {
    check_family("send-to", family)?;
    let (target, native) = checked(policy, UnixOperation::Connect, "send-to", bytes)?;
    let sent = retry(|| socket.send_to_with_flags(data, &native, libc::MSG_NOSIGNAL))
        .map_err(|err| io_error("send-to", &target, &err))?;
    // A wasm32 guest cannot pass more than 4 GiB, so this always fits.
    Ok(u32::try_from(sent).unwrap_or(u32::MAX))
}

/// `remove-bound-path`: removes the socket file a socket's bind created (`bound`), if the
/// path still names it.
pub(super) fn remove_bound_path(bound: Option<&BoundFile>, policy: &Policy) -> Result<bool, Error> {
    let Some(bound) = bound else {
        return Ok(false);
    };
    let target = UnixTarget::Path(bound.path.clone());
    policy
        .check_unix(UnixOperation::Bind, &target)
        .map_err(|denial| error(ErrorKind::Denied, denial.to_string()))?;
    let same = match fs::symlink_metadata(&bound.path) {
        Ok(meta) => meta.dev() == bound.dev && meta.ino() == bound.ino,
        Err(err) if err.kind() == io::ErrorKind::NotFound => false,
        Err(err) => return Err(io_error("remove bound socket file", &target, &err)),
    };
    if !same {
        return Ok(false);
    }
    remove(&bound.path, &target)
}

/// Checks a `listen` on a unix socket against the policy, with the address it is bound
/// to. An unbound unix socket would listen on a name the kernel makes up (autobind):
/// that is refused, since no rule could have named it.
pub(crate) fn check_listen(policy: &Policy, local: &SockAddr) -> Result<(), Error> {
    let bytes = match address::from_native(local) {
        Address::Unix(bytes) => bytes,
        Address::Inet(_) => Vec::new(),
    };
    if bytes.is_empty() {
        let message =
            "policy denies listen on an unnamed unix socket (bind it to a granted path first)";
        crate::policy::audit::denied("listen on", "(unnamed unix socket)", message);
        return Err(error(ErrorKind::Denied, message));
    }
    checked(policy, UnixOperation::Listen, "listen", &bytes).map(|_| ())
}

/// Removes `bytes` if it names a socket file (asyncio's stale-socket cleanup before a
/// server binds). Symbolic links are not followed and are left alone, like every
/// other kind of file.
pub(crate) fn remove_stale_socket_file(policy: &Policy, bytes: &[u8]) -> Result<bool, Error> {
    let verb = "remove stale socket file";
    let (target, _) = checked(policy, UnixOperation::Bind, verb, bytes)?;
    let UnixTarget::Path(path) = &target else {
        return Ok(false);
    };
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => remove(path, &target),
        Ok(_) => Ok(false),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(io_error(verb, &target, &err)),
    }
}

fn remove(path: &Path, target: &UnixTarget) -> Result<bool, Error> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(io_error("remove socket file", target, &err)),
    }
}

#[cfg(test)]
mod tests;
