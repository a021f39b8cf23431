//! Unix socket paths in the policy: which socket files, directories and abstract names a
//! workload may bind, listen on and connect to.
//!
//! A rule ([`UnixRule`]) is one of:
//! - a directory, written with a trailing `/` or naming a directory that exists when the
//!   rule is parsed: every path beneath it matches (`/run/app/` grants `/run/app/a.sock`
//!   and `/run/app/sub/b.sock`, not `/run/app` itself);
//! - a socket file, any other path: only that exact path matches;
//! - an abstract name (Linux), written `@NAME` (exactly that name) or `@PREFIX*` (every
//!   name that starts with PREFIX).
//!
//! Paths are compared after lexical normalization, without touching the file system:
//! `.` components and repeated slashes are dropped, and a relative path (in a rule or from
//! the guest) is resolved against the host's current directory first. A path with a `..`
//! component is never granted: the kernel resolves `..` after following symbolic links, so
//! a lexical check could not tell where it leads. Symbolic links inside a granted
//! directory are not followed by the check: whoever can write into a granted directory
//! decides what it holds.

use std::fmt;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::RuleError;

/// One `--allow-unix` rule: a socket file, a directory, or abstract names.
///
/// ```
/// use sandloop_host::policy::{UnixRule, UnixTarget};
///
/// let dir: UnixRule = "/run/app/".parse()?;
/// assert!(dir.matches(&UnixTarget::from_guest(b"/run/app/echo.sock")?));
/// assert!(!dir.matches(&UnixTarget::from_guest(b"/run/other.sock")?));
///
/// let names: UnixRule = "@app-*".parse()?;
/// assert!(names.matches(&UnixTarget::from_guest(b"\0app-1")?));
/// assert!(!names.matches(&UnixTarget::from_guest(b"\0other")?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixRule {
    /// Exactly this socket file (an absolute, normalized path).
    File(PathBuf),
    /// Every path beneath this directory (absolute, normalized).
    Dir(PathBuf),
    /// Exactly this abstract name (without the leading NUL).
    Abstract(Vec<u8>),
    /// Every abstract name that starts with these bytes.
    AbstractPrefix(Vec<u8>),
}

/// What a workload names in a unix socket operation, normalized for the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnixTarget {
    /// A path in the file system: absolute and lexically normalized.
    Path(PathBuf),
    /// An abstract name (Linux), without its leading NUL.
    Abstract(Vec<u8>),
    /// A path with a `..` component, as the guest wrote it: never granted.
    Escape(PathBuf),
}

impl UnixTarget {
    /// The target of a guest's unix address (`bytes` as the WIT `address.unix` carries
    /// them: a leading NUL makes an abstract name). Relative paths are resolved against
    /// the host's current directory. Fails on an empty address or a NUL inside a path.
    pub fn from_guest(bytes: &[u8]) -> Result<UnixTarget, String> {
        match bytes {
            [] => Err("an empty unix socket path".into()),
            [0, name @ ..] => Ok(UnixTarget::Abstract(name.to_vec())),
            path if path.contains(&0) => {
                Err("a unix socket path may not contain a NUL byte (except first, for an abstract name)".into())
            }
            path => {
                let path = Path::new(std::ffi::OsStr::from_bytes(path));
                Ok(match normalize(path) {
                    Some(path) => UnixTarget::Path(path),
                    None => UnixTarget::Escape(path.to_path_buf()),
                })
            }
        }
    }
}

impl fmt::Display for UnixTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixTarget::Path(path) | UnixTarget::Escape(path) => {
                write!(f, "unix path {}", path.display())
            }
            UnixTarget::Abstract(name) => {
                write!(f, "abstract unix name @{}", String::from_utf8_lossy(name))
            }
        }
    }
}

/// `path` made absolute (against the current directory) with `.` and repeated slashes
/// dropped; `None` when it has a `..` component.
fn normalize(path: &Path) -> Option<PathBuf> {
    // Without a current directory nothing relative can be placed: treat it as the root,
    // where no sensible rule grants anything by accident.
    super::paths::normalize(path, || {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
    })
}

impl UnixRule {
    /// Whether this rule grants `target`.
    pub fn matches(&self, target: &UnixTarget) -> bool {
        match (self, target) {
            (UnixRule::File(file), UnixTarget::Path(path)) => file == path,
            (UnixRule::Dir(dir), UnixTarget::Path(path)) => path != dir && path.starts_with(dir),
            (UnixRule::Abstract(rule), UnixTarget::Abstract(name)) => rule == name,
            (UnixRule::AbstractPrefix(prefix), UnixTarget::Abstract(name)) => {
                name.starts_with(prefix)
            }
            _ => false,
        }
    }
}

impl FromStr for UnixRule {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<UnixRule, RuleError> {
        let fail = |reason: &str| RuleError::new(input, reason);
        if let Some(name) = input.strip_prefix('@') {
            return Ok(match name.strip_suffix('*') {
                Some(prefix) => UnixRule::AbstractPrefix(prefix.as_bytes().to_vec()),
                None if name.is_empty() => {
                    return Err(fail("an empty abstract name (write @NAME or @PREFIX*)"));
                }
                None => UnixRule::Abstract(name.as_bytes().to_vec()),
            });
        }
        if input.is_empty() {
            return Err(fail(
                "an empty path (write a socket file, a directory/ or @NAME)",
            ));
        }
        if input.contains('\0') {
            return Err(fail("a path may not contain a NUL byte"));
        }
        let path = Path::new(input);
        let Some(normalized) = normalize(path) else {
            return Err(fail(
                "a path with `..` is never granted; write the directory itself",
            ));
        };
        if normalized == Path::new("/") {
            return Err(fail(
                "granting the whole file system is not a unix rule; name a directory",
            ));
        }
        if input.ends_with('/') || normalized.is_dir() {
            Ok(UnixRule::Dir(normalized))
        } else {
            Ok(UnixRule::File(normalized))
        }
    }
}

impl fmt::Display for UnixRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnixRule::File(path) => write!(f, "{}", path.display()),
            UnixRule::Dir(path) => write!(f, "{}/", path.display()),
            UnixRule::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
            UnixRule::AbstractPrefix(prefix) => write!(f, "@{}*", String::from_utf8_lossy(prefix)),
        }
    }
}

/// A unix operation the policy checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixOperation {
    /// Binding a socket to a path or name (creates the socket file). Removing a stale
    /// socket file before binding, and the server's own file on close, are checked as
    /// binds to that path.
    Bind,
    /// Listening on the bound path or name.
    Listen,
    /// Connecting to a path or name.
    Connect,
}

impl UnixOperation {
    fn as_str(self) -> &'static str {
        match self {
            UnixOperation::Bind => "bind to",
            UnixOperation::Listen => "listen on",
            UnixOperation::Connect => "connect to",
        }
    }
}

/// A denied unix operation. Displays as the guest reads it: `policy denies connect to
/// unix path /tmp/x.sock`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy denies {} {target}{}", operation.as_str(), match target {
    UnixTarget::Escape(_) => " (a path with `..` is never granted)",
    _ => "",
})]
pub struct UnixDenied {
    /// What the workload tried.
    pub operation: UnixOperation,
    /// On what.
    pub target: UnixTarget,
}

/// Whether `rules` grant `op` on `target`; a denial is logged for audit.
pub(super) fn check(
    rules: &[UnixRule],
    operation: UnixOperation,
    target: &UnixTarget,
) -> Result<(), UnixDenied> {
    if rules.iter().any(|rule| rule.matches(target)) {
        return Ok(());
    }
    let denied = UnixDenied {
        operation,
        target: target.clone(),
    };
    super::audit::denied(operation.as_str(), &target.to_string(), &denied.to_string());
    Err(denied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> UnixRule {
        text.parse()
            .unwrap_or_else(|e| panic!("{text} should parse: {e}"))
    }

    fn target(bytes: &[u8]) -> UnixTarget {
        UnixTarget::from_guest(bytes).unwrap()
    }

    #[test]
    fn a_file_rule_matches_only_that_path_after_normalization() {
        let r = rule("/tmp/sl-test-nonexistent/x.sock");
        assert_eq!(r, UnixRule::File("/tmp/sl-test-nonexistent/x.sock".into()));
        assert!(r.matches(&target(b"/tmp/sl-test-nonexistent/x.sock")));
        assert!(r.matches(&target(b"/tmp//sl-test-nonexistent/./x.sock")));
        assert!(!r.matches(&target(b"/tmp/sl-test-nonexistent/y.sock")));
        assert!(!r.matches(&target(b"/tmp/sl-test-nonexistent/x.sock2")));
    }

    #[test]
    fn a_directory_rule_matches_everything_beneath_it_but_not_itself() {
        let r = rule("/run/sl-app/");
        assert_eq!(r.to_string(), "/run/sl-app/");
        assert!(r.matches(&target(b"/run/sl-app/a.sock")));
        assert!(r.matches(&target(b"/run/sl-app/sub/b.sock")));
        assert!(!r.matches(&target(b"/run/sl-app")));
        assert!(!r.matches(&target(b"/run/sl-apple/a.sock")));
        // An existing directory is a directory rule without the slash.
        let tmp = std::env::temp_dir();
        let r = rule(tmp.to_str().unwrap());
        assert!(matches!(r, UnixRule::Dir(_)));
    }

    #[test]
    fn dot_dot_is_never_granted_and_says_so() {
        let r = rule("/run/sl-app/");
        let escape = target(b"/run/sl-app/../../etc/x.sock");
        assert!(matches!(escape, UnixTarget::Escape(_)));
        assert!(!r.matches(&escape));
        assert!(!r.matches(&target(b"/run/sl-app/sub/../a.sock")));
        let denied = check(&[r], UnixOperation::Connect, &escape).unwrap_err();
        assert_eq!(
            denied.to_string(),
            "policy denies connect to unix path /run/sl-app/../../etc/x.sock (a path with `..` is never granted)"
        );
        assert!("/run/../x/".parse::<UnixRule>().is_err());
    }

    #[test]
    fn relative_paths_resolve_against_the_current_directory() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(target(b"./a.sock"), UnixTarget::Path(cwd.join("a.sock")));
        assert_eq!(
            rule("sl-rel-test.sock"),
            UnixRule::File(cwd.join("sl-rel-test.sock"))
        );
    }

    #[test]
    fn abstract_rules_match_names_exactly_or_by_prefix() {
        assert!(rule("@app").matches(&target(b"\0app")));
        assert!(!rule("@app").matches(&target(b"\0app2")));
        assert!(rule("@app*").matches(&target(b"\0app2")));
        assert!(rule("@*").matches(&target(b"\0anything")));
        // An abstract rule never grants a path of the same spelling, nor the other way.
        assert!(!rule("@app").matches(&target(b"app")));
        assert!(!rule("/tmp/").matches(&target(b"\0/tmp/x")));
        assert_eq!(rule("@app*").to_string(), "@app*");
    }

    #[test]
    fn bad_rules_and_addresses_are_refused_with_reasons() {
        for bad in ["", "@", "/", "/a\0b"] {
            assert!(bad.parse::<UnixRule>().is_err(), "{bad:?}");
        }
        assert!(UnixTarget::from_guest(b"").is_err());
        assert!(UnixTarget::from_guest(b"/tmp/a\0b").is_err());
    }

    #[test]
    fn denials_name_the_operation_and_the_target() {
        let err = check(&[], UnixOperation::Bind, &target(b"/tmp/x.sock")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy denies bind to unix path /tmp/x.sock"
        );
        let err = check(&[], UnixOperation::Listen, &target(b"\0name")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy denies listen on abstract unix name @name"
        );
    }
}
