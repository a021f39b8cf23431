//! The loop's own log lines (asyncio's `logging.getLogger("asyncio")`), written to stderr.
//!
//! A workload's stderr passes through the host, so these lines reach the operator with no
//! logging setup in the guest.

use std::fmt;
use std::io::Write;

/// How serious a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Debug,
    Warning,
    Error,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Debug => "DEBUG",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        })
    }
}

/// Writes one log line (one write, so lines of interleaved writers stay whole).
pub(crate) fn log(level: Level, msg: fmt::Arguments<'_>) {
    let line = format!("sandloop {level}: {msg}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
