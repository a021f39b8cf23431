//! Which signals a workload may handle (`--allow-signal`), and the names of signals for
//! rules and messages (Linux numbers).

use std::fmt;

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
    fn names_for_messages() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(34), "SIGRTMIN+0");
        assert_eq!(signal_name(40), "SIGRTMIN+6");
        assert_eq!(signal_name(99), "signal 99");
    }

    #[test]
    fn only_granted_signals_pass() {
        let policy = Policy::new().allow_signal(2).allow_signal(15);
        assert!(policy.check_signal(2).is_ok());
        assert!(policy.check_signal(15).is_ok());
        let denied = policy.check_signal(10).unwrap_err();
        assert_eq!(denied.to_string(), "policy denies handling signal SIGUSR1");
        assert!(Policy::default().check_signal(15).is_err());
    }
}
