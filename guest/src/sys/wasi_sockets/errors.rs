//! How `wasi:sockets` answers read in the crate: an `error-code` becomes `crate::Error`
//! naming the operation and its target (a refusal of the host, `access-denied`, is
//! `Error::PermissionDenied`), and `would-block` becomes [`Progress::Pending`].

use std::io;

pub(crate) use super::super::Progress;
use super::bindings::network::ErrorCode;
use super::bindings::streams::StreamError;
use crate::error::{Error, Result};

/// The error of `op` (`"connect 127.0.0.1:80"`; empty where the caller names it), from
/// its `error-code`.
pub(crate) fn error_from_code(op: &str, code: ErrorCode) -> Error {
    use ErrorCode as C;
    let kind = match code {
        C::AccessDenied => {
            return Error::PermissionDenied(format!("{op}: the WASI host denies it"));
        }
        C::Unknown => io::ErrorKind::Other,
        C::NotSupported => io::ErrorKind::Unsupported,
        C::InvalidArgument => io::ErrorKind::InvalidInput,
        C::OutOfMemory => io::ErrorKind::OutOfMemory,
        C::Timeout => io::ErrorKind::TimedOut,
        C::ConcurrencyConflict => io::ErrorKind::ResourceBusy,
        C::NotInProgress => io::ErrorKind::InvalidInput,
        C::WouldBlock => io::ErrorKind::WouldBlock,
        C::InvalidState => io::ErrorKind::InvalidInput,
        C::NewSocketLimit => io::ErrorKind::QuotaExceeded,
        C::AddressNotBindable => io::ErrorKind::AddrNotAvailable,
        C::AddressInUse => io::ErrorKind::AddrInUse,
        C::RemoteUnreachable => io::ErrorKind::HostUnreachable,
        C::ConnectionRefused => io::ErrorKind::ConnectionRefused,
        C::ConnectionReset => io::ErrorKind::ConnectionReset,
        C::ConnectionAborted => io::ErrorKind::ConnectionAborted,
        C::DatagramTooLarge => io::ErrorKind::InvalidInput,
        C::NameUnresolvable => io::ErrorKind::NotFound,
        C::TemporaryResolverFailure => io::ErrorKind::Other,
        C::PermanentResolverFailure => io::ErrorKind::Other,
    };
    let message = if op.is_empty() {
        code.message().to_string()
    } else {
        format!("{op}: {}", code.message())
    };
    Error::Os(io::Error::new(kind, message))
}

/// `Done`, `Pending` on `would-block`, or the error of `op`.
pub(crate) fn progress<T>(
    op: impl FnOnce() -> String,
    r: std::result::Result<T, ErrorCode>,
) -> Result<Progress<T>> {
    match r {
        Ok(v) => Ok(Progress::Done(v)),
        Err(ErrorCode::WouldBlock) => Ok(Progress::Pending),
        Err(code) => Err(error_from_code(&op(), code)),
    }
}

/// The error of a failed stream operation `op` (`"recv"`).
pub(crate) fn error_from_stream(op: &str, err: StreamError) -> Error {
    match err {
        StreamError::Closed => Error::Os(io::Error::new(
            io::ErrorKind::BrokenPipe,
            format!("{op}: the stream is closed"),
        )),
        // `network-error-code`, which would name the socket's error, is unstable in
        // WASI 0.2: the host's description is what there is.
        StreamError::LastOperationFailed(e) => {
            Error::Os(io::Error::other(format!("{op}: {}", e.to_debug_string())))
        }
    }
}

/// The error of an operation WASI 0.2 has no way to do: `Unsupported`, naming `op` and
/// `why`.
pub(crate) fn unsupported(op: &str, why: &str) -> Error {
    Error::Os(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("{op}: not available in the portable build ({why})"),
    ))
}
