//! Which signals a workload may handle (`--allow-signal`), and the names of signals for
//! rules and messages (Linux numbers).
//!
//! A grant of a signal no workload can ever handle (SIGKILL, say) is refused when the policy
//! is written, not accepted to fail at the first `add_signal_handler`: whoever wrote it
//! believes the workload can react to that signal, and it never will.

use std::fmt;

use super::RuleError;

/// Linux's signal names and numbers (the real-time signals are `SIGRTMIN+N`, 34..=64).
const NAMES: &[(&str, i32)] = &[
    ("SIGHUP", 1),
    ("SIGINT", 2),
    ("SIGQUIT", 3),
    ("SIGILL", 4),
    ("SIGTRAP", 5),
    ("SIGABRT", 6),
    ("SIGBUS", 7),
    ("SIGFPE", 8),
    ("SIGKILL", 9),
    ("SIGUSR1", 10),
    ("SIGSEGV", 11),
    ("SIGUSR2", 12),
    ("SIGPIPE", 13),
    ("SIGALRM", 14),
    ("SIGTERM", 15),
    ("SIGSTKFLT", 16),
    ("SIGCHLD", 17),
    ("SIGCONT", 18),
    ("SIGSTOP", 19),
    ("SIGTSTP", 20),
    ("SIGTTIN", 21),
    ("SIGTTOU", 22),
    ("SIGURG", 23),
    ("SIGXCPU", 24),
    ("SIGXFSZ", 25),
    ("SIGVTALRM", 26),
    ("SIGPROF", 27),
    ("SIGWINCH", 28),
    ("SIGIO", 29),
    ("SIGPWR", 30),
    ("SIGSYS", 31),
];

/// The highest signal number (SIGRTMAX on Linux).
pub const MAX_SIGNAL: i32 = 64;

/// Signals that cannot be caught (SIGKILL, SIGSTOP) or whose delivery means the host
/// itself failed (SIGSEGV, SIGILL, SIGFPE, SIGBUS): never granted, never handed to a
/// workload.
pub(crate) const NEVER_HANDLED: [i32; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGBUS,
];

/// A signal's name for messages: `SIGTERM`, `SIGRTMIN+2`, or `signal N` for a number
/// that names none.
pub fn signal_name(signum: i32) -> String {
    if let Some((name, _)) = NAMES.iter().find(|(_, n)| *n == signum) {
        return (*name).to_owned();
    }
    match signum {
        34..=MAX_SIGNAL => format!("SIGRTMIN+{}", signum - 34),
        _ => format!("signal {signum}"),
    }
}

/// Parses a signal as `SIGTERM`, `TERM` (any case) or a number in `1..=64`.
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let text = text.trim();
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=MAX_SIGNAL).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "signal number {n} is out of range (1 to {MAX_SIGNAL})"
            ))
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .find(|(full, _)| &full[3..] == name)
        .map(|(_, n)| *n)
        .ok_or_else(|| format!("unknown signal {text:?} (like SIGTERM, TERM or 15)"))
}

/// Parses a signal to grant (`--allow-signal`, a policy file's `[signals] allow`): as
/// [`parse_signal`], refusing the signals no workload can ever handle.
pub fn parse_signal_grant(text: &str) -> Result<i32, String> {
    let signum = parse_signal(text)?;
    grantable(signum)?;
    Ok(signum)
}

/// `Ok` if a workload may be granted `signum`; else a rule error saying why it can never
/// handle it.
pub(super) fn check_grant(signum: i32) -> Result<(), RuleError> {
    grantable(signum).map_err(|reason| RuleError::new(&signal_name(signum), reason))
}

/// `Ok` if a workload may be granted `signum`; else why it can never handle it.
fn grantable(signum: i32) -> Result<(), String> {
    if !(1..=MAX_SIGNAL).contains(&signum) {
        return Err(format!(
            "signal number {signum} is out of range (1 to {MAX_SIGNAL})"
        ));
    }
    if NEVER_HANDLED.contains(&signum) {
        let name = signal_name(signum);
        return Err(match signum {
            libc::SIGKILL | libc::SIGSTOP => {
                format!("{name} can never be handled: the kernel does not let a process catch it")
            }
            _ => format!("{name} can never be handled: its delivery means the host itself faulted"),
        });
    }
    Ok(())
}

/// A signal the policy does not let the workload handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SignalDenied {
    /// The signal's number.
    pub signum: i32,
}

impl fmt::Display for SignalDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "policy denies handling signal {}",
            signal_name(self.signum)
        )
    }
}

/// Whether `signum` is among `allowed`; a denial is logged for audit.
pub(super) fn check(allowed: &[i32], signum: i32) -> Result<(), SignalDenied> {
    if allowed.contains(&signum) {
        return Ok(());
    }
    let denied = SignalDenied { signum };
    super::audit::denied(
        "handle signal",
        &signal_name(signum),
        &format!("denied: {denied}"),
    );
    Err(denied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn names_and_numbers_parse() {
        assert_eq!(parse_signal("SIGINT"), Ok(2));
        assert_eq!(parse_signal("term"), Ok(15));
        assert_eq!(parse_signal("SigUsr1"), Ok(10));
        assert_eq!(parse_signal("12"), Ok(12));
        assert_eq!(parse_signal("64"), Ok(64));
        assert!(parse_signal("0").unwrap_err().contains("out of range"));
        assert!(parse_signal("65").unwrap_err().contains("out of range"));
        assert!(
            parse_signal("SIGNOPE")
                .unwrap_err()
                .contains("unknown signal")
        );
        assert!(parse_signal("").is_err());
    }

    #[test]
    fn grants_of_signals_no_workload_can_handle_are_refused() {
        assert_eq!(parse_signal_grant("usr1"), Ok(10));
        for name in ["SIGKILL", "STOP", "9"] {
            let err = parse_signal_grant(name).unwrap_err();
            assert!(
                err.contains("the kernel does not let a process catch it"),
                "{err}"
            );
        }
        for name in ["SIGSEGV", "ILL", "FPE", "BUS"] {
            let err = parse_signal_grant(name).unwrap_err();
            assert!(err.contains("the host itself faulted"), "{err}");
        }
        let refused = Policy::new().allow_signal(libc::SIGKILL).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "invalid rule \"SIGKILL\": SIGKILL can never be handled: the kernel does not let \
             a process catch it"
        );
        assert!(Policy::new().allow_signal(0).is_err());
    }

    #[test]
    fn names_for_messages() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(34), "SIGRTMIN+0");
        assert_eq!(signal_name(40), "SIGRTMIN+6");
        assert_eq!(signal_name(99), "signal 99");
    }

    #[test]
    fn only_granted_signals_pass() {
        let policy = Policy::new()
            .allow_signal(2)
            .and_then(|p| p.allow_signal(15))
            .expect("grantable signals");
        assert!(policy.check_signal(2).is_ok());
        assert!(policy.check_signal(15).is_ok());
        let denied = policy.check_signal(10).unwrap_err();
        assert_eq!(denied.to_string(), "policy denies handling signal SIGUSR1");
        assert!(Policy::default().check_signal(15).is_err());
    }
}
