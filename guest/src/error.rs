//! `sandloop::Error`: asyncio's exceptions as one enum users can match on.

use std::fmt;
use std::io;
use std::sync::Arc;

/// The result type of every fallible sandloop operation.
///
/// ```
/// fn parse_port(s: &str) -> sandloop::Result<u16> {
///     s.parse().map_err(sandloop::Error::other)
/// }
/// assert_eq!(parse_port("8080").unwrap(), 8080);
/// assert!(parse_port("http").is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the loop, mirroring asyncio's exceptions.
///
/// `Error` is `Clone` because a future's exception can be read many times (asyncio's
/// `Future.result()` re-raises it on every call); the `Os` variant keeps its OS error code
/// and message across clones.
///
/// `{:?}` prints what `{}` prints (then any causes, on the same line), so that a `main`
/// returning `Err` ends with one line a user can read, as a Python traceback's last line
/// or an `anyhow` error would: `Error: permission denied: policy denies connect to
/// 10.0.0.1:80`. `{:#?}` names the variant and its fields, for debugging:
/// `PermissionDenied("policy denies connect to 10.0.0.1:80")`.
///
/// ```
/// let err = sandloop::Error::PermissionDenied("policy denies the shell".into());
/// assert_eq!(format!("{err:?}"), "permission denied: policy denies the shell");
/// assert_eq!(format!("{err:#?}"), r#"PermissionDenied("policy denies the shell")"#);
/// ```
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// asyncio's `RuntimeError`: the loop is in the wrong state for the call
    /// (closed, already running, not running, ...).
    #[error("{0}")]
    Runtime(String),
    /// An operating-system error reported by the host.
    #[error(transparent)]
    Os(io::Error),
    /// asyncio's `CancelledError`, with the message given to `cancel(msg)` if any.
    #[error("cancelled{}", .0.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Cancelled(Option<String>),
    /// asyncio's `TimeoutError`: a deadline (`wait_for`, a handshake timeout) passed.
    #[error("timed out")]
    Timeout,
    /// asyncio's `InvalidStateError`: e.g. setting the result of a future that is done.
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The host's policy refused an operation; the message names the operation and target.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// A TLS failure (handshake, certificate verification, protocol).
    #[error("tls: {0}")]
    Tls(String),
    /// asyncio's `SendfileNotAvailableError`.
    #[error("sendfile not available: {0}")]
    SendfileNotAvailable(String),
    /// asyncio's `ExceptionGroup` (`all_errors=True`): every error of a group of attempts.
    #[error("{}", GroupDisplay(.0))]
    Group(Vec<Error>),
    /// Any other error, e.g. one returned by user code.
    #[error(transparent)]
    Other(Arc<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps any error as `Error::Other`.
    pub fn other(err: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        Error::Other(Arc::from(err.into()))
    }

    /// `true` for `Error::Cancelled`.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Cancelled(_))
    }

    /// The `std::io::ErrorKind` of this error, so code that classifies I/O errors (retry on
    /// `ConnectionRefused`, report `AddrInUse`) needs no match on the variants.
    ///
    /// | variant | kind |
    /// |---|---|
    /// | `Os(e)` | `e.kind()` |
    /// | `Timeout` | `TimedOut` |
    /// | `PermissionDenied` | `PermissionDenied` |
    /// | `Tls` | `InvalidData` (as rustls' and tokio-rustls' I/O errors) |
    /// | `SendfileNotAvailable` | `Unsupported` |
    /// | `Group` | the kind all its errors share, else `Other` |
    /// | `Other(e)` | `e`'s kind when `e` is an `io::Error` or a sandloop `Error`, else `Other` |
    /// | `Runtime`, `InvalidState`, `Cancelled` | `Other` |
    ///
    /// `Cancelled` is `Other` rather than `Interrupted`: std's and futures' read and write
    /// loops retry an `Interrupted` error, and a cancelled operation must not be retried. Use
    /// [`Error::is_cancelled`] to tell cancellation apart.
    ///
    /// ```
    /// use std::io::ErrorKind;
    /// let refused = sandloop::Error::from(std::io::Error::from(ErrorKind::ConnectionRefused));
    /// assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
    /// assert_eq!(sandloop::Error::Timeout.kind(), ErrorKind::TimedOut);
    /// ```
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Os(e) => e.kind(),
            Error::Timeout => io::ErrorKind::TimedOut,
            Error::PermissionDenied(_) => io::ErrorKind::PermissionDenied,
            Error::Tls(_) => io::ErrorKind::InvalidData,
            Error::SendfileNotAvailable(_) => io::ErrorKind::Unsupported,
            Error::Group(errors) => {
                let mut kinds = errors.iter().map(Error::kind);
                match kinds.next() {
                    Some(first) if kinds.all(|k| k == first) => first,
                    _ => io::ErrorKind::Other,
                }
            }
            Error::Other(e) => {
                if let Some(io) = e.downcast_ref::<io::Error>() {
                    io.kind()
                } else if let Some(inner) = e.downcast_ref::<Error>() {
                    inner.kind()
                } else {
                    io::ErrorKind::Other
                }
            }
            Error::Runtime(_) | Error::InvalidState(_) | Error::Cancelled(_) => {
                io::ErrorKind::Other
            }
        }
    }

    pub(crate) fn runtime(msg: impl Into<String>) -> Error {
        Error::Runtime(msg.into())
    }

    pub(crate) fn invalid_state(msg: impl Into<String>) -> Error {
        Error::InvalidState(msg.into())
    }
}

impl Clone for Error {
    fn clone(&self) -> Error {
        match self {
            Error::Runtime(m) => Error::Runtime(m.clone()),
            Error::Os(e) => Error::Os(clone_io_error(e)),
            Error::Cancelled(m) => Error::Cancelled(m.clone()),
            Error::Timeout => Error::Timeout,
            Error::InvalidState(m) => Error::InvalidState(m.clone()),
            Error::PermissionDenied(m) => Error::PermissionDenied(m.clone()),
            Error::Tls(m) => Error::Tls(m.clone()),
            Error::SendfileNotAvailable(m) => Error::SendfileNotAvailable(m.clone()),
            Error::Group(v) => Error::Group(v.clone()),
            Error::Other(e) => Error::Other(e.clone()),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !f.alternate() {
            write!(f, "{self}")?;
            let mut source = std::error::Error::source(self);
            while let Some(cause) = source {
                write!(f, ": {cause}")?;
                source = cause.source();
            }
            return Ok(());
        }
        match self {
            Error::Runtime(m) => write!(f, "Runtime({m:?})"),
            Error::Os(e) => write!(f, "Os({e:?})"),
            Error::Cancelled(m) => write!(f, "Cancelled({m:?})"),
            Error::Timeout => f.write_str("Timeout"),
            Error::InvalidState(m) => write!(f, "InvalidState({m:?})"),
            Error::PermissionDenied(m) => write!(f, "PermissionDenied({m:?})"),
            Error::Tls(m) => write!(f, "Tls({m:?})"),
            Error::SendfileNotAvailable(m) => write!(f, "SendfileNotAvailable({m:?})"),
            Error::Group(errors) => {
                f.write_str("Group([")?;
                for (i, e) in errors.iter().enumerate() {
                    let comma = if i == 0 { "" } else { ", " };
                    write!(f, "{comma}{e:#?}")?;
                }
                f.write_str("])")
            }
            Error::Other(e) => write!(f, "Other({e:?})"),
        }
    }
}

/// `io::Error` is not `Clone`: keep the OS code when there is one, else kind and message.
fn clone_io_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Os(e)
    }
}

/// A oneshot channel whose sender was dropped: an ordinary error (`Other`), not
/// `Error::Cancelled`, which means that the awaiting task itself was cancelled.
impl From<futures_channel::oneshot::Canceled> for Error {
    fn from(e: futures_channel::oneshot::Canceled) -> Error {
        Error::other(e)
    }
}

/// `anyhow::Error` (feature `anyhow`): an `anyhow::Result` coroutine's `Err` becomes the
/// task's exception. A sandloop `Error` that `?` carried into anyhow with no context comes
/// back as itself (a `Timeout` stays `Timeout`); anything else becomes `Error::Other`,
/// which keeps anyhow's message and its chain of causes (shown by `{:?}`).
#[cfg(feature = "anyhow")]
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        // Only the outermost object is checked: with `.context(..)` on top, the context
        // message must not be lost by downcasting to the error underneath.
        let e = if e.chain().next().is_some_and(|o| o.is::<Error>()) {
            match e.downcast::<Error>() {
                Ok(ours) => return ours,
                Err(e) => e,
            }
        } else {
            e
        };
        Error::Other(Arc::from(Box::<dyn std::error::Error + Send + Sync>::from(
            e,
        )))
    }
}

struct GroupDisplay<'a>(&'a [Error]);

impl fmt::Display for GroupDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} errors:", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            write!(f, " [{}] {e}", i + 1)?;
        }
        Ok(())
    }
}

/// What a callback or a coroutine may return: a `Result` whose error converts into
/// [`Error`], or a plain value. An `Err` from a callback reaches the loop's exception
/// handler; an `Err` from a task's coroutine becomes the task's exception, as an exception
/// raised by an asyncio coroutine does. A plain value is the task's result (`Ok`).
///
/// Which plain values: Rust's coherence rules forbid a blanket `impl<T> IntoResult for T`
/// beside the one for `Result` (a `Result` is a `T` too), so the trait is implemented for
/// std's value types: `()`, integers, floats, `bool`, `char`, `String`, `&'static str`,
/// `Duration`, `SocketAddr`, `IpAddr`, `Vec`, `VecDeque`, `Option`, `Box`, `Rc`, `Arc`,
/// `HashMap`, `HashSet`, `BTreeMap`, `BTreeSet` and tuples of up to six elements (of any
/// `'static` types). So `create_task(async { 5 })` and `run(async { "done" })` compile.
/// For any other output type use `sandloop::spawn` / `EventLoop::spawn`, whose task yields
/// the future's output as it is (an `Err` in it is then a value, not the task's exception).
///
/// An integer literal takes its type from how the result is used, as anywhere in Rust, but
/// not across a `?` on the task's result (`task.join().await?` inside a `?`-returning
/// block): there the literal needs a suffix, `async { 5_u32 }`.
///
/// Errors: any `E: Into<Error>`: `Error` itself, `std::io::Error`, a oneshot channel's
/// `Canceled` (futures-channel), and with the `anyhow` feature `anyhow::Error`, so a
/// coroutine returning `anyhow::Result<T>` is accepted and its `Err` keeps its message and
/// causes.
///
/// ```no_run
/// let five = sandloop::run(async {
///     let task = sandloop::create_task(async { 5 });
///     task.await
/// });
/// assert_eq!(five.unwrap(), 5);
/// ```
pub trait IntoResult: 'static {
    /// The success value.
    type Ok: 'static;
    /// Converts into a sandloop [`Result`].
    fn into_result(self) -> Result<Self::Ok>;
}

impl<T: 'static, E: Into<Error> + 'static> IntoResult for std::result::Result<T, E> {
    type Ok = T;
    fn into_result(self) -> Result<T> {
        self.map_err(Into::into)
    }
}

/// `IntoResult` for plain value types: the value is the `Ok`.
macro_rules! plain_values {
    ($( [$($generics:tt)*] $ty:ty ),* $(,)?) => {
        $(
            impl<$($generics)*> IntoResult for $ty {
                type Ok = $ty;
                fn into_result(self) -> Result<$ty> {
                    Ok(self)
                }
            }
        )*
    };
}

plain_values!(
    [] (), [] bool, [] char, [] f32, [] f64,
    [] u8, [] u16, [] u32, [] u64, [] u128, [] usize,
    [] i8, [] i16, [] i32, [] i64, [] i128, [] isize,
    [] String, [] &'static str, [] std::time::Duration,
    [] std::net::SocketAddr, [] std::net::IpAddr,
    [T: 'static] Vec<T>,
    [T: 'static] std::collections::VecDeque<T>,
    [T: 'static] Option<T>,
    [T: ?Sized + 'static] Box<T>,
    [T: ?Sized + 'static] std::rc::Rc<T>,
    [T: ?Sized + 'static] Arc<T>,
    [K: 'static, V: 'static, S: 'static] std::collections::HashMap<K, V, S>,
    [T: 'static, S: 'static] std::collections::HashSet<T, S>,
    [K: 'static, V: 'static] std::collections::BTreeMap<K, V>,
    [T: 'static] std::collections::BTreeSet<T>,
    [A: 'static] (A,),
    [A: 'static, B: 'static] (A, B),
    [A: 'static, B: 'static, C: 'static] (A, B, C),
    [A: 'static, B: 'static, C: 'static, D: 'static] (A, B, C, D),
    [A: 'static, B: 'static, C: 'static, D: 'static, E: 'static] (A, B, C, D, E),
    [A: 'static, B: 'static, C: 'static, D: 'static, E: 'static, F: 'static] (A, B, C, D, E, F),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_keeps_the_os_error_code() {
        let e = Error::Os(io::Error::from_raw_os_error(111));
        match e.clone() {
            Error::Os(c) => assert_eq!(c.raw_os_error(), Some(111)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clone_keeps_kind_and_message_without_a_code() {
        let e = Error::Os(io::Error::new(io::ErrorKind::TimedOut, "slow peer"));
        match e.clone() {
            Error::Os(c) => {
                assert_eq!(c.kind(), io::ErrorKind::TimedOut);
                assert_eq!(c.to_string(), "slow peer");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cancelled_shows_its_message() {
        assert_eq!(Error::Cancelled(None).to_string(), "cancelled");
        assert_eq!(
            Error::Cancelled(Some("bye".into())).to_string(),
            "cancelled: bye"
        );
    }

    #[test]
    fn debug_is_the_message_and_alternate_debug_the_variant() {
        let refused = Error::Os(io::Error::new(
            io::ErrorKind::AddrInUse,
            "bind 127.0.0.1:80: Address already in use",
        ));
        assert_eq!(
            format!("{refused:?}"),
            "bind 127.0.0.1:80: Address already in use"
        );
        assert_eq!(
            format!("{refused:#?}"),
            r#"Os(Custom { kind: AddrInUse, error: "bind 127.0.0.1:80: Address already in use" })"#
        );
        let group = Error::Group(vec![Error::Timeout, Error::Cancelled(None)]);
        assert_eq!(
            format!("{group:?}"),
            "2 errors: [1] timed out [2] cancelled"
        );
        assert_eq!(format!("{group:#?}"), "Group([Timeout, Cancelled(None)])");
    }

    #[test]
    fn group_lists_every_error() {
        let g = Error::Group(vec![Error::Timeout, Error::Runtime("x".into())]);
        assert_eq!(g.to_string(), "2 errors: [1] timed out [2] x");
    }

    #[test]
    fn kind_maps_every_variant() {
        use io::ErrorKind as K;
        let refused = || Error::Os(io::Error::from(K::ConnectionRefused));
        assert_eq!(refused().kind(), K::ConnectionRefused);
        assert_eq!(Error::Timeout.kind(), K::TimedOut);
        assert_eq!(
            Error::PermissionDenied("x".into()).kind(),
            K::PermissionDenied
        );
        assert_eq!(Error::Tls("bad cert".into()).kind(), K::InvalidData);
        assert_eq!(
            Error::SendfileNotAvailable("x".into()).kind(),
            K::Unsupported
        );
        assert_eq!(Error::Cancelled(None).kind(), K::Other);
        assert_eq!(Error::runtime("closed").kind(), K::Other);
        assert_eq!(Error::invalid_state("done").kind(), K::Other);
        assert_eq!(
            Error::Group(vec![refused(), refused()]).kind(),
            K::ConnectionRefused
        );
        assert_eq!(
            Error::Group(vec![refused(), Error::Timeout]).kind(),
            K::Other
        );
        assert_eq!(
            Error::other(io::Error::from(K::AddrInUse)).kind(),
            K::AddrInUse
        );
        assert_eq!(Error::other(Error::Timeout).kind(), K::TimedOut);
        assert_eq!(Error::other("user error").kind(), K::Other);
    }

    #[test]
    fn plain_values_are_ok() {
        assert_eq!(5.into_result().unwrap(), 5);
        assert_eq!("done".into_result().unwrap(), "done");
        assert_eq!((1, 'x').into_result().unwrap(), (1, 'x'));
        assert_eq!(Some(vec![1u8]).into_result().unwrap(), Some(vec![1]));
    }

    #[test]
    fn a_dropped_oneshot_sender_is_not_a_cancellation() {
        let err = Error::from(futures_channel::oneshot::Canceled);
        assert!(!err.is_cancelled());
        assert_eq!(err.to_string(), "oneshot canceled");
    }

    #[test]
    fn unit_and_results_convert_into_results() {
        assert!(().into_result().is_ok());
        let r: std::result::Result<u8, io::Error> = Err(io::Error::other("e"));
        assert!(matches!(r.into_result(), Err(Error::Os(_))));
    }
}
