//! The loop's own log records (asyncio's `logging.getLogger("asyncio")`), through the `log`
//! facade, or as lines on stderr when the workload set up no logger.
//!
//! Every record has the target [`TARGET`] (`"sandloop"`, one logger as asyncio has one) and
//! asyncio's level for it: `Debug` for debug mode's notes (the selector in use, closing the
//! loop, a transport's error while it closes), `Warn` for slow callbacks, `Error` for what
//! the default exception handler reports. A workload's `log` logger (`env_logger`, or
//! `tracing` through `tracing-log`) receives them like its own records.
//!
//! "No logger" is `log::max_level() == LevelFilter::Off`: the facade's value until a logger
//! is installed and raises it with `log::set_max_level` (every logger crate does). Then each
//! record is written as one line, `sandloop DEBUG|WARNING|ERROR: message`, to stderr, which
//! the host passes through: the operator sees them with no logging setup in the guest. A
//! workload that wants them nowhere installs a logger that drops them.

use std::fmt;
use std::io::Write;

pub(crate) use ::log::Level;
use ::log::LevelFilter;

/// The target of every record the loop logs.
pub(crate) const TARGET: &str = "sandloop";

/// Logs one record at `level`: to the workload's logger if it installed one, else as one
/// line on stderr (one write, so lines of interleaved writers stay whole).
pub(crate) fn log(level: Level, msg: fmt::Arguments<'_>) {
    if ::log::max_level() == LevelFilter::Off {
        let line = format!("sandloop {}: {msg}\n", stderr_name(level));
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    } else {
        ::log::log!(target: TARGET, level, "{msg}");
    }
}

/// The level's name on a stderr line, as Python's `logging` spells it (tests and operators
/// grep `WARNING`, not `log`'s `WARN`).
fn stderr_name(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug => "DEBUG",
        Level::Trace => "TRACE",
    }
}
