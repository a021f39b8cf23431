//! How the host's answers read in the crate: a WIT error becomes `crate::Error` (a denial
//! `Error::PermissionDenied`, every other kind an `Error::Os` with the matching
//! `io::ErrorKind` and the host's message), and "not yet" becomes [`Progress::Pending`].

use std::io;

pub(crate) use super::Progress;
use super::bindings::types;
use crate::error::{Error, Result};

/// Turns a WIT error into the crate's error.
pub(crate) fn error_from_wit(err: types::Error) -> Error {
    use types::ErrorKind as K;
    let kind = match err.kind {
        K::Denied => return Error::PermissionDenied(err.message),
        K::Tls => return Error::Tls(err.message),
        K::WouldBlock => io::ErrorKind::WouldBlock,
        K::InProgress => io::ErrorKind::WouldBlock,
        K::PermissionDenied => io::ErrorKind::PermissionDenied,
        K::NotFound => io::ErrorKind::NotFound,
        K::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        K::ConnectionReset => io::ErrorKind::ConnectionReset,
        K::ConnectionAborted => io::ErrorKind::ConnectionAborted,
        K::NotConnected => io::ErrorKind::NotConnected,
        K::AddressInUse => io::ErrorKind::AddrInUse,
        K::AddressNotAvailable => io::ErrorKind::AddrNotAvailable,
        K::BrokenPipe => io::ErrorKind::BrokenPipe,
        K::TimedOut => io::ErrorKind::TimedOut,
        K::HostUnreachable => io::ErrorKind::HostUnreachable,
        K::NetworkUnreachable => io::ErrorKind::NetworkUnreachable,
        K::InvalidInput => io::ErrorKind::InvalidInput,
        K::Unsupported => io::ErrorKind::Unsupported,
        K::LimitReached => io::ErrorKind::QuotaExceeded,
        K::Other => io::ErrorKind::Other,
    };
    if err.message.is_empty() {
        Error::Os(io::Error::from(kind))
    } else {
        Error::Os(io::Error::new(kind, err.message))
    }
}

/// `true` when a WIT error says "not yet": would-block or a connect in progress.
fn is_pending(err: &types::Error) -> bool {
    matches!(
        err.kind,
        types::ErrorKind::WouldBlock | types::ErrorKind::InProgress
    )
}

pub(crate) fn wit_result<T>(r: std::result::Result<T, types::Error>) -> Result<T> {
    r.map_err(error_from_wit)
}

pub(crate) fn progress<T>(r: std::result::Result<T, types::Error>) -> Result<Progress<T>> {
    match r {
        Ok(v) => Ok(Progress::Done(v)),
        Err(e) if is_pending(&e) => Ok(Progress::Pending),
        Err(e) => Err(error_from_wit(e)),
    }
}
