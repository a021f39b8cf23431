//! The error of a host call, as the guest will see it: a kind it can match and a message.
//!
//! A guest matches on the `kind` (it maps each one to a `std::io::ErrorKind`) and shows the
//! `message`, so the message says what was attempted on what, then the OS's own words:
//! `connect 127.0.0.1:1: Connection refused (os error 111)`. `would-block` and
//! `in-progress` are the hot path of every non-blocking call; they carry no message, so
//! they cost no allocation.
//!
//! Every domain module (sockets, streams, pipes, processes, lookups, TLS) speaks this
//! [`Error`]; the glue of each interface hands it to the guest as the WIT `types.error`,
//! converted in `bindings.rs` (one kind for one kind, the message as it is).

use std::fmt::Display;
use std::io;

/// A failed host call: what kind of failure, and the message the guest shows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Error {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

/// The kinds of failure a guest tells apart: the WIT's `error-kind`, one for one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    WouldBlock,
    InProgress,
    /// The workload's policy refused it.
    Denied,
    /// The operating system refused it.
    PermissionDenied,
    NotFound,
    ConnectionRefused,
    ConnectionReset,
    ConnectionAborted,
    NotConnected,
    AddressInUse,
    AddressNotAvailable,
    BrokenPipe,
    TimedOut,
    HostUnreachable,
    NetworkUnreachable,
    InvalidInput,
    Unsupported,
    /// One of the workload's limits (handles, children) was reached.
    LimitReached,
    /// TLS failed: a handshake, a certificate, or a record.
    Tls,
    Other,
}

/// An error of `kind` with `message`.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> Error {
    Error {
        kind,
        message: message.into(),
    }
}

/// The error of a failed `op` on `target`: "`op` `target`: `err`". The target is only
/// formatted when the message is built, so callers can pass something costly to print.
pub(crate) fn io_error(op: &str, target: impl Display, err: &io::Error) -> Error {
    let kind = kind_of(err);
    if matches!(kind, ErrorKind::WouldBlock | ErrorKind::InProgress) {
        return error(kind, String::new());
    }
    error(kind, format!("{op} {target}: {err}"))
}

/// The error of a failed `op` that has no target worth naming: "`op`: `err`".
pub(crate) fn io_error_untargeted(op: &str, err: &io::Error) -> Error {
    let kind = kind_of(err);
    if matches!(kind, ErrorKind::WouldBlock | ErrorKind::InProgress) {
        return error(kind, String::new());
    }
    error(kind, format!("{op}: {err}"))
}

/// `err` and its causes, as anyhow's `{:#}` prints them: "what failed: why: why".
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(err) = cause {
        text.push_str(": ");
        text.push_str(&err.to_string());
        cause = err.source();
    }
    text
}

/// A guest instance's ending as people read it, "<reason>\n<wasm backtrace>": the reason
/// first, because that is what a reader needs first; wasmtime's own `{:?}` puts the
/// backtrace on top and the reason under "Caused by".
pub(crate) fn trap_message(err: &wasmtime::Error) -> String {
    let reason = err.root_cause().to_string();
    match err.downcast_ref::<wasmtime::WasmBacktrace>() {
        Some(backtrace) => format!("{reason}\n{backtrace}"),
        None => format!("{err:?}"),
    }
}

/// The WIT kind of an OS error: by errno when there is one (it is more precise than
/// `io::ErrorKind`, which has no "in progress"), else by `io::ErrorKind`.
pub(crate) fn kind_of(err: &io::Error) -> ErrorKind {
    if let Some(errno) = err.raw_os_error() {
        return kind_of_errno(errno);
    }
    match err.kind() {
        io::ErrorKind::WouldBlock => ErrorKind::WouldBlock,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::ConnectionRefused => ErrorKind::ConnectionRefused,
        io::ErrorKind::ConnectionReset => ErrorKind::ConnectionReset,
        io::ErrorKind::ConnectionAborted => ErrorKind::ConnectionAborted,
        io::ErrorKind::NotConnected => ErrorKind::NotConnected,
        io::ErrorKind::AddrInUse => ErrorKind::AddressInUse,
        io::ErrorKind::AddrNotAvailable => ErrorKind::AddressNotAvailable,
        io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
        io::ErrorKind::TimedOut => ErrorKind::TimedOut,
        io::ErrorKind::HostUnreachable => ErrorKind::HostUnreachable,
        io::ErrorKind::NetworkUnreachable => ErrorKind::NetworkUnreachable,
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => ErrorKind::InvalidInput,
        io::ErrorKind::Unsupported => ErrorKind::Unsupported,
        _ => ErrorKind::Other,
    }
}

/// The WIT kind of an errno value.
pub(crate) fn kind_of_errno(errno: i32) -> ErrorKind {
    match errno {
        // EWOULDBLOCK is EAGAIN on Linux.
        libc::EAGAIN => ErrorKind::WouldBlock,
        libc::EINPROGRESS => ErrorKind::InProgress,
        libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
        libc::ENOENT => ErrorKind::NotFound,
        libc::ECONNREFUSED => ErrorKind::ConnectionRefused,
        libc::ECONNRESET => ErrorKind::ConnectionReset,
        libc::ECONNABORTED => ErrorKind::ConnectionAborted,
        libc::ENOTCONN => ErrorKind::NotConnected,
        libc::EADDRINUSE => ErrorKind::AddressInUse,
        libc::EADDRNOTAVAIL => ErrorKind::AddressNotAvailable,
        libc::EPIPE => ErrorKind::BrokenPipe,
        libc::ETIMEDOUT => ErrorKind::TimedOut,
        libc::EHOSTUNREACH => ErrorKind::HostUnreachable,
        libc::ENETUNREACH => ErrorKind::NetworkUnreachable,
        // A datagram larger than the protocol carries: the caller's data is at fault.
        libc::EINVAL | libc::EMSGSIZE => ErrorKind::InvalidInput,
        libc::EOPNOTSUPP | libc::ENOPROTOOPT | libc::EPROTONOSUPPORT | libc::EAFNOSUPPORT => {
            ErrorKind::Unsupported
        }
        _ => ErrorKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_connect_names_the_target_and_the_os_words() {
        let err = io::Error::from_raw_os_error(libc::ECONNREFUSED);

        let wit = io_error("connect", "127.0.0.1:1", &err);

        assert_eq!(wit.kind, ErrorKind::ConnectionRefused);
        assert_eq!(
            wit.message,
            "connect 127.0.0.1:1: Connection refused (os error 111)"
        );
    }

    #[test]
    fn would_block_and_in_progress_carry_no_message() {
        let again = io_error("recv", "x", &io::Error::from_raw_os_error(libc::EAGAIN));
        let progress = io_error(
            "connect",
            "x",
            &io::Error::from_raw_os_error(libc::EINPROGRESS),
        );

        assert_eq!(
            (again.kind, again.message.as_str()),
            (ErrorKind::WouldBlock, "")
        );
        assert_eq!(
            (progress.kind, progress.message.as_str()),
            (ErrorKind::InProgress, "")
        );
    }

    #[test]
    fn errno_values_map_to_their_kinds() {
        let cases = [
            (libc::ECONNRESET, ErrorKind::ConnectionReset),
            (libc::ECONNABORTED, ErrorKind::ConnectionAborted),
            (libc::ENOTCONN, ErrorKind::NotConnected),
            (libc::EADDRINUSE, ErrorKind::AddressInUse),
            (libc::EADDRNOTAVAIL, ErrorKind::AddressNotAvailable),
            (libc::EPIPE, ErrorKind::BrokenPipe),
            (libc::ETIMEDOUT, ErrorKind::TimedOut),
            (libc::EHOSTUNREACH, ErrorKind::HostUnreachable),
            (libc::ENETUNREACH, ErrorKind::NetworkUnreachable),
            (libc::EACCES, ErrorKind::PermissionDenied),
            (libc::EPERM, ErrorKind::PermissionDenied),
            (libc::EINVAL, ErrorKind::InvalidInput),
            (libc::EMSGSIZE, ErrorKind::InvalidInput),
            (libc::EOPNOTSUPP, ErrorKind::Unsupported),
            (libc::EMFILE, ErrorKind::Other),
        ];
        for (errno, kind) in cases {
            assert_eq!(kind_of_errno(errno), kind, "errno {errno}");
        }
    }

    #[test]
    fn errors_without_errno_map_by_io_kind() {
        let err = io::Error::new(io::ErrorKind::InvalidInput, "bad");
        assert_eq!(kind_of(&err), ErrorKind::InvalidInput);
        assert_eq!(io_error_untargeted("parse", &err).message, "parse: bad");
    }
}
