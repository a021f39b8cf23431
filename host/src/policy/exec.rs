//! Subprocesses in the policy: which executables a workload may run, whether it may run a
//! shell, and which environment variables it may hand its children.
//!
//! An [`ExecRule`] is an absolute path: a directory (written with a trailing `/`, or one
//! that exists when the rule is parsed) grants every file directly beneath it, any other
//! path grants exactly that file. A program the workload names with a `/` must be an
//! absolute path without `..`; a bare name (`sort`) is looked up only in the granted
//! directories and among the granted files' names, never in the host's `PATH`.
//!
//! The shell (`subprocess_shell`) is a separate grant (`allow_shell`): it runs
//! `/bin/sh -c CMD`, which can run anything the host user can, so `/bin/sh` in
//! `allow_exec` does not grant it and `allow_shell` does not need `/bin/sh` in
//! `allow_exec`.
//!
//! A child starts with an empty environment plus the variables the workload passes, and
//! each of those must be named in `child_env`: a variable that is not is refused (the
//! spawn fails with `denied` naming it) rather than silently dropped, so a workload never
//! runs a child in an environment other than the one it asked for.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::RuleError;

/// One `--allow-exec` rule: an executable file, or a directory of them.
///
/// ```
/// use sandloop_host::policy::ExecRule;
///
/// let dir: ExecRule = "/usr/bin/".parse()?;
/// assert!(dir.matches("/usr/bin/sort".as_ref()));
/// assert!(!dir.matches("/usr/bin/x/sort".as_ref()));
/// let file: ExecRule = "/bin/true".parse()?;
/// assert!(file.matches("/bin/true".as_ref()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecRule {
    /// Exactly this executable (an absolute, normalized path).
    File(PathBuf),
    /// Every file directly beneath this directory (absolute, normalized).
    Dir(PathBuf),
}

impl ExecRule {
    /// Whether `path` (absolute and normalized, see `normalize`) is granted.
    pub fn matches(&self, path: &Path) -> bool {
        match self {
            ExecRule::File(file) => file == path,
            ExecRule::Dir(dir) => path.parent() == Some(dir.as_path()),
        }
    }
}

impl FromStr for ExecRule {
    type Err = RuleError;

    fn from_str(input: &str) -> Result<ExecRule, RuleError> {
        let path = Path::new(input);
        if !path.is_absolute() {
            return Err(RuleError::new(
                input,
                "an executable rule must be an absolute path",
            ));
        }
        let Some(normal) = normalize(path) else {
            return Err(RuleError::new(input, "a path with `..` is never granted"));
        };
        if input.ends_with('/') || path.is_dir() {
            Ok(ExecRule::Dir(normal))
        } else {
            Ok(ExecRule::File(normal))
        }
    }
}

impl fmt::Display for ExecRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecRule::File(path) => write!(f, "{}", path.display()),
            ExecRule::Dir(path) => write!(f, "{}/", path.display()),
        }
    }
}

/// `path` without `.` components and repeated slashes; `None` if it has a `..` or is not
/// absolute (an executable is never named relative to the host's current directory).
pub fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    super::paths::normalize(path, || PathBuf::from("/"))
}

/// A refused subprocess request: what the workload tried and on what. Displays as the
/// guest reads it: `policy denies exec of /usr/bin/curl`, `policy denies the shell`,
/// `policy denies the child environment variable HOME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecDenied {
    /// The program is not granted (or, for a bare name, found in no granted place).
    #[error("policy denies exec of {0}")]
    Exec(String),
    /// `subprocess_shell` without `allow_shell`.
    #[error("policy denies the shell")]
    Shell,
    /// An environment variable not in `child_env`.
    #[error("policy denies the child environment variable {0}")]
    Env(String),
}

/// The executable `program` runs as, if the rules grant it: an absolute program must match
/// a rule; a bare name is the first granted file of that name, in rule order (a
/// directory rule only if the file exists there).
pub(crate) fn resolve(rules: &[ExecRule], program: &str) -> Result<PathBuf, ExecDenied> {
    let found = if program.contains('/') {
        normalize(Path::new(program)).filter(|path| rules.iter().any(|rule| rule.matches(path)))
    } else if program.is_empty() || program == "." || program == ".." {
        None
    } else {
        rules.iter().find_map(|rule| match rule {
            ExecRule::File(file) => (file.file_name()? == program).then(|| file.clone()),
            ExecRule::Dir(dir) => Some(dir.join(program)).filter(|path| path.is_file()),
        })
    };
    found.ok_or_else(|| audit(ExecDenied::Exec(program.to_owned())))
}

/// Logs `denied` for audit and returns it.
pub(crate) fn audit(denied: ExecDenied) -> ExecDenied {
    let (operation, target) = match &denied {
        ExecDenied::Exec(program) => ("exec", program.as_str()),
        ExecDenied::Shell => ("shell", "/bin/sh"),
        ExecDenied::Env(name) => ("child env", name.as_str()),
    };
    super::audit::denied(operation, target, &denied.to_string());
    denied
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<ExecRule> {
        list.iter().map(|rule| rule.parse().unwrap()).collect()
    }

    #[test]
    fn a_file_rule_grants_exactly_that_file() {
        let rules = rules(&["/usr/bin/sort"]);
        assert_eq!(resolve(&rules, "/usr/bin/sort"), Ok("/usr/bin/sort".into()));
        assert_eq!(
            resolve(&rules, "/usr/bin//./sort"),
            Ok("/usr/bin/sort".into())
        );
        assert_eq!(
            resolve(&rules, "/usr/bin/cat"),
            Err(ExecDenied::Exec("/usr/bin/cat".into()))
        );
    }

    #[test]
    fn a_directory_rule_grants_files_directly_beneath() {
        let rules = rules(&["/usr/bin/"]);
        assert!(resolve(&rules, "/usr/bin/cat").is_ok());
        assert!(resolve(&rules, "/usr/bin/sub/cat").is_err());
        assert!(resolve(&rules, "/usr/bin").is_err());
    }

    #[test]
    fn dot_dot_and_relative_paths_are_never_granted() {
        let rules = rules(&["/usr/bin/"]);
        assert!(resolve(&rules, "/usr/bin/../bin/cat").is_err());
        assert!(resolve(&rules, "bin/cat").is_err());
        assert!("/usr/../bin/".parse::<ExecRule>().is_err());
        assert!("usr/bin/".parse::<ExecRule>().is_err());
    }

    #[test]
    fn bare_names_are_looked_up_only_in_granted_places() {
        let dirs = rules(&["/usr/bin/"]);
        assert_eq!(resolve(&dirs, "sort"), Ok("/usr/bin/sort".into()));
        assert!(resolve(&dirs, "no-such-program-here").is_err());
        let files = rules(&["/usr/bin/sort"]);
        assert_eq!(resolve(&files, "sort"), Ok("/usr/bin/sort".into()));
        assert!(resolve(&files, "cat").is_err());
        assert!(resolve(&[], "sh").is_err());
    }

    #[test]
    fn denials_read_as_the_guest_sees_them() {
        assert_eq!(
            ExecDenied::Exec("/usr/bin/curl".into()).to_string(),
            "policy denies exec of /usr/bin/curl"
        );
        assert_eq!(ExecDenied::Shell.to_string(), "policy denies the shell");
        assert_eq!(
            ExecDenied::Env("HOME".into()).to_string(),
            "policy denies the child environment variable HOME"
        );
    }

    #[test]
    fn rules_print_as_they_parse() {
        assert_eq!(rules(&["/usr/bin"])[0].to_string(), "/usr/bin/");
        assert_eq!(rules(&["/bin/true"])[0].to_string(), "/bin/true");
    }
}
