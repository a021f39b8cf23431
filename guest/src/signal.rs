//! Signal numbers (Linux's, as the host runs on Linux) for
//! [`EventLoop::add_signal_handler`](crate::EventLoop::add_signal_handler), their names
//! for messages, and the pid of the host process (where signals are sent).
//!
//! ```no_run
//! use sandloop::signal::{SIGTERM, name};
//!
//! assert_eq!(name(SIGTERM), "SIGTERM");
//! ```

/// Hangup.
pub const SIGHUP: i32 = 1;
/// Interrupt from the keyboard (Ctrl+C).
pub const SIGINT: i32 = 2;
/// Quit from the keyboard.
pub const SIGQUIT: i32 = 3;
/// Illegal instruction (never handed to a workload).
pub const SIGILL: i32 = 4;
/// Trace trap.
pub const SIGTRAP: i32 = 5;
/// Abort.
pub const SIGABRT: i32 = 6;
/// Bus error (never handed to a workload).
pub const SIGBUS: i32 = 7;
/// Floating-point exception (never handed to a workload).
pub const SIGFPE: i32 = 8;
/// Kill (cannot be caught).
pub const SIGKILL: i32 = 9;
/// User-defined signal 1.
pub const SIGUSR1: i32 = 10;
/// Invalid memory reference (never handed to a workload).
pub const SIGSEGV: i32 = 11;
/// User-defined signal 2.
pub const SIGUSR2: i32 = 12;
/// Broken pipe.
pub const SIGPIPE: i32 = 13;
/// Timer signal of `alarm`.
pub const SIGALRM: i32 = 14;
/// Termination request.
pub const SIGTERM: i32 = 15;
/// Urgent data on a socket.
pub const SIGURG: i32 = 23;
/// A child stopped or ended.
pub const SIGCHLD: i32 = 17;
/// Continue if stopped.
pub const SIGCONT: i32 = 18;
/// Stop (cannot be caught).
pub const SIGSTOP: i32 = 19;
/// Stop from the terminal.
pub const SIGTSTP: i32 = 20;
/// The terminal's window size changed.
pub const SIGWINCH: i32 = 28;
/// The lowest real-time signal (`SIGRTMIN + n` for the others).
pub const SIGRTMIN: i32 = 34;
/// The highest signal number.
pub const SIGRTMAX: i32 = 64;

const NAMES: [&str; 32] = [
    "",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// A signal's name: `SIGTERM`, `SIGRTMIN+2`, or `signal N` for a number that names none.
///
/// ```
/// use sandloop::signal::{SIGRTMIN, SIGUSR1, name};
/// assert_eq!(name(SIGUSR1), "SIGUSR1");
/// assert_eq!(name(SIGRTMIN + 2), "SIGRTMIN+2");
/// assert_eq!(name(99), "signal 99");
/// ```
pub fn name(signum: i32) -> String {
    match signum {
        1..=31 => NAMES[signum as usize].to_owned(),
        SIGRTMIN..=SIGRTMAX => format!("SIGRTMIN+{}", signum - SIGRTMIN),
        _ => format!("signal {signum}"),
    }
}

/// Whether `signum` is a signal number at all (`1..=64`).
pub(crate) fn in_range(signum: i32) -> bool {
    (1..=SIGRTMAX).contains(&signum)
}

/// Signals a workload can never handle: SIGKILL and SIGSTOP cannot be caught, and the
/// host keeps the ones that mean it failed itself (SIGSEGV, SIGILL, SIGFPE, SIGBUS).
pub(crate) fn uncatchable(signum: i32) -> bool {
    matches!(
        signum,
        SIGKILL | SIGSTOP | SIGSEGV | SIGILL | SIGFPE | SIGBUS
    )
}

/// The pid of the host process that runs this workload: signals sent to it reach the
/// handlers of [`EventLoop::add_signal_handler`](crate::EventLoop::add_signal_handler).
/// (Inside the sandbox, `std::process::id` has no meaning.)
///
/// ```no_run
/// println!("stop me with: kill -TERM {}", sandloop::signal::host_pid());
/// ```
pub fn host_pid() -> u32 {
    crate::sys::signal::host_pid()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(name(SIGINT), "SIGINT");
        assert_eq!(name(SIGTERM), "SIGTERM");
        assert_eq!(name(SIGSYS), "SIGSYS");
        assert_eq!(name(SIGRTMIN + 2), "SIGRTMIN+2");
        assert_eq!(name(0), "signal 0");
        assert_eq!(name(65), "signal 65");
        assert!(uncatchable(SIGKILL) && uncatchable(SIGSTOP) && !uncatchable(SIGTERM));
        assert!(in_range(1) && in_range(64) && !in_range(0) && !in_range(65));
    }

    const SIGSYS: i32 = 31;
}
