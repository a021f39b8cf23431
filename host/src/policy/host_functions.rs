//! Which functions of the embedding application a workload may call (its host functions,
//! see `crate::host_functions`).
//!
//! A grant is a name, matched exactly. A name not granted is refused whether or not the
//! application provides a function under it, in the same words either way: a workload
//! must not be able to probe what an application offers to other workloads.

use std::fmt;

use super::RuleError;

/// The longest name a grant may have, in bytes: names are identifiers, not payloads.
pub const MAX_HOST_FUNCTION_NAME: usize = 256;

/// A call of a host function the policy does not grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct HostFunctionDenied {
    /// The name the workload called.
    pub name: String,
}

impl fmt::Display for HostFunctionDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "policy denies calling host function {:?}", self.name)
    }
}

/// `Ok` if `name` can be granted: not empty, at most [`MAX_HOST_FUNCTION_NAME`] bytes,
/// no control characters (it appears in audit lines).
pub(super) fn check_grant(name: &str) -> Result<(), RuleError> {
    if name.is_empty() {
        return Err(RuleError::new(
            name,
            "a host function's name cannot be empty",
        ));
    }
    if name.len() > MAX_HOST_FUNCTION_NAME {
        return Err(RuleError::new(
            name,
            format!("a host function's name has at most {MAX_HOST_FUNCTION_NAME} bytes"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(RuleError::new(
            name,
            "a host function's name cannot hold control characters",
        ));
    }
    Ok(())
}

/// Whether `name` is among `allowed`; a denial is logged for audit.
pub(super) fn check(allowed: &[String], name: &str) -> Result<(), HostFunctionDenied> {
    if allowed.iter().any(|granted| granted == name) {
        return Ok(());
    }
    let denied = HostFunctionDenied {
        name: name.to_owned(),
    };
    super::audit::denied("call host function", name, &format!("denied: {denied}"));
    Err(denied)
}

#[cfg(test)]
mod tests {
    use crate::Policy;

    #[test]
    fn only_granted_names_pass() {
        let policy = Policy::new()
            .allow_host_function("db.get")
            .expect("a valid name");
        assert!(policy.check_host_function("db.get").is_ok());
        let denied = policy.check_host_function("db.put").unwrap_err();
        assert_eq!(
            denied.to_string(),
            "policy denies calling host function \"db.put\""
        );
        assert!(Policy::default().check_host_function("db.get").is_err());
    }

    #[test]
    fn names_that_cannot_be_names_are_refused() {
        assert!(Policy::new().allow_host_function("").is_err());
        assert!(Policy::new().allow_host_function("a\nb").is_err());
        let long = "x".repeat(super::MAX_HOST_FUNCTION_NAME + 1);
        assert!(Policy::new().allow_host_function(&long).is_err());
        let written = Policy {
            allow_host_functions: vec![String::new()],
            ..Policy::default()
        };
        assert!(written.check().is_err());
    }
}
