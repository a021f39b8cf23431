//! The `--max-*` flags of `sandloop run`: the workload's [`Limits`].
//!
//! A value [`Limits::check`] refuses (0 handles, 0 ms, a memory above 4 GiB) is a usage
//! error of its flag, as a malformed number is: the library's rule, so that a flag and a
//! policy file's `[limits]` refuse the same values.

use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use sandloop_host::Limits;

/// Limits on what the workload may use of the host (none by default).
#[derive(Args, Debug, Default)]
pub(crate) struct LimitArgs {
    /// Trap the workload when its linear memory would grow past BYTES (a number with an
    /// optional K, M or G suffix: KiB, MiB, GiB), e.g. `--max-memory 64M`.
    #[arg(long = "max-memory", value_name = "BYTES", value_parser = parse_max_memory)]
    max_memory: Option<u64>,
    /// Trap the workload when it runs longer than MS milliseconds without returning to
    /// its event loop (a callback that spins); time waiting for events is not counted.
    #[arg(long = "max-callback-time", value_name = "MS", value_parser = parse_max_callback_time)]
    max_callback_time: Option<u64>,
    /// The most host handles (sockets, streams, pipes, children, ...) the workload may
    /// hold at once; one more is refused.
    #[arg(long = "max-handles", value_name = "N", value_parser = parse_max_handles)]
    max_handles: Option<u32>,
    /// The most bytes the host buffers for the workload's writes, over all its streams
    /// (K, M, G suffixes as for --max-memory): a write takes what fits, the workload keeps
    /// the rest and its transport pauses writing until the host has room.
    #[arg(long = "max-buffered", value_name = "BYTES", value_parser = Limits::parse_bytes)]
    max_buffered: Option<u64>,
    /// The most live children the workload may have at once; one more spawn is refused.
    #[arg(long = "max-children", value_name = "N")]
    max_children: Option<u32>,
}

impl LimitArgs {
    /// The limits the flags set (`None` where a flag is absent).
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            memory_bytes: self.max_memory,
            callback_cpu: self.max_callback_time.map(Duration::from_millis),
            handles: self.max_handles,
            buffered_bytes: self.max_buffered,
            children: self.max_children,
        }
    }
}

fn parse_max_memory(text: &str) -> Result<u64, String> {
    checked(text, Limits::parse_bytes, |limits, bytes| {
        limits.memory_bytes = Some(bytes)
    })
}

fn parse_max_callback_time(text: &str) -> Result<u64, String> {
    checked(text, parse_number, |limits, ms| {
        limits.callback_cpu = Some(Duration::from_millis(ms))
    })
}

fn parse_max_handles(text: &str) -> Result<u32, String> {
    checked(text, parse_number, |limits, n| limits.handles = Some(n))
}

/// Parses a flag's value with `parse`, then refuses it if [`Limits::check`] refuses
/// limits where `set` put it alone.
fn checked<T: Copy>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, String>,
    set: impl FnOnce(&mut Limits, T),
) -> Result<T, String> {
    let value = parse(text)?;
    let mut limits = Limits::default();
    set(&mut limits, value);
    limits.check().map_err(|err| err.to_string())?;
    Ok(value)
}

fn parse_number<T: FromStr<Err: std::fmt::Display>>(text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|err| format!("{text:?}: {err}"))
}
