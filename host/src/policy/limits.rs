//! How much of the host one workload may use: linear memory, the time a callback may run
//! without returning to its loop, open handles, host-buffered bytes and children.
//!
//! [`Limits::default`] sets none of them: a workload is then bounded only by what the
//! runtime itself allows (a wasm32 memory tops out at 4 GiB, the resource table at
//! wasmtime's default of about a million entries). An embedding serving untrusted code
//! sets all of them; the `sandloop` CLI sets them with `--max-memory`,
//! `--max-callback-time`, `--max-handles`, `--max-buffered` and `--max-children`.
//!
//! ```
//! use std::time::Duration;
//! use sandloop_host::{Limits, Policy};
//!
//! let mut policy = Policy::new();
//! policy.limits = Limits {
//!     memory_bytes: Some(64 << 20),
//!     callback_cpu: Some(Duration::from_millis(200)),
//!     handles: Some(256),
//!     ..Limits::default()
//! };
//! assert_eq!(Limits::parse_bytes("64M"), Ok(64 << 20));
//! # let _ = policy;
//! ```

use std::time::Duration;

/// The limits of one workload (a field of [`Policy`](crate::Policy)); `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes the workload's linear memory may grow to. Growing past it traps the
    /// instance with "memory limit of N bytes exceeded" (the guest's allocator could only
    /// abort anyway). Executor workers of the run get the same limit, each.
    pub memory_bytes: Option<u64>,
    /// The longest the guest may run between two returns to its loop (two calls of
    /// `reactor.wait`): one callback, or one iteration's worth of ready callbacks. It is
    /// wall-clock time spent in the guest, measured by wasmtime's epoch interruption with
    /// a resolution of the runtime's tick (10 ms); time blocked in `reactor.wait` is
    /// never charged. Past it the instance traps with "callback ran longer than the limit
    /// of N ms". Executor jobs are not charged (they are meant to block).
    pub callback_cpu: Option<Duration>,
    /// The most host resources (sockets, streams, pipes, children, lookups, sources,
    /// subscriptions, TLS contexts, WASI streams...) the instance may hold at once.
    pub handles: Option<u32>,
    /// The most bytes the host keeps in memory for the instance's writes, summed over its
    /// streams (write buffers and TLS records not yet sent; queued `sendfile` segments
    /// are on disk and do not count).
    ///
    /// A write sends what the kernel takes and buffers only what fits; the guest keeps
    /// the rest in its own memory, and its transport pauses the protocol's writing
    /// (`pause_writing`) until the host has room, whatever the transport's high-water
    /// mark. A peer that never reads thus costs the host at most this much, plus what the
    /// kernel's socket buffers hold. Without it, the guest's flow control alone (64 KiB
    /// high-water mark by default) bounds what a well-behaved workload buffers; a
    /// workload that ignores it can make the host buffer without end.
    pub buffered_bytes: Option<u64>,
    /// The most live children the instance may have at once.
    pub children: Option<u32>,
}

impl Limits {
    /// Parses a byte count: a number with an optional binary suffix `K`, `M` or `G`
    /// (KiB, MiB, GiB; case-insensitive, an optional trailing `B` or `iB` allowed).
    pub fn parse_bytes(text: &str) -> Result<u64, String> {
        let trimmed = text.trim();
        let upper = trimmed.to_ascii_uppercase();
        let upper = upper
            .strip_suffix("IB")
            .or_else(|| upper.strip_suffix('B'))
            .unwrap_or(&upper);
        let (digits, shift) = match upper.chars().last() {
            Some('K') => (&upper[..upper.len() - 1], 10),
            Some('M') => (&upper[..upper.len() - 1], 20),
            Some('G') => (&upper[..upper.len() - 1], 30),
            _ => (upper, 0),
        };
        let n: u64 = digits.trim().parse().map_err(|_| {
            format!("{text:?} is not a byte count (a number, optionally with K, M or G)")
        })?;
        n.checked_mul(1 << shift)
            .ok_or_else(|| format!("{text:?} is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::Limits;

    #[test]
    fn byte_counts_parse_with_binary_suffixes() {
        assert_eq!(Limits::parse_bytes("4096"), Ok(4096));
        assert_eq!(Limits::parse_bytes("64k"), Ok(64 << 10));
        assert_eq!(Limits::parse_bytes("16M"), Ok(16 << 20));
        assert_eq!(Limits::parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(Limits::parse_bytes("3MB"), Ok(3 << 20));
        assert!(Limits::parse_bytes("").is_err());
        assert!(Limits::parse_bytes("12X").is_err());
        assert!(Limits::parse_bytes("-1").is_err());
        assert!(Limits::parse_bytes("99999999999999999G").is_err());
    }
}
