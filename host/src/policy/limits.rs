//! How much of the host one workload may use: linear memory, the time a callback may run
//! without returning to its loop, open handles, host-buffered bytes and children.
//!
//! [`Limits::default`] sets none of them: a workload is then bounded only by what the
//! runtime itself allows (a wasm32 memory tops out at 4 GiB, the resource table at
//! wasmtime's default of about a million entries). An embedding serving untrusted code
//! sets all of them; the `sandloop` CLI sets them with `--max-memory`,
//! `--max-callback-time`, `--max-handles`, `--max-buffered` and `--max-children`.
//!
//! [`Limits::check`] refuses the values that cannot be what their author meant: 0 for the
//! memory, the callback time or the handles (many tools read a 0 limit as "no limit"; here
//! it would allow nothing, and leaving the limit unset is how to say "no limit"), and a
//! memory limit above 4 GiB, which no wasm32 memory can ever reach, so it would limit
//! nothing (a typo for a smaller number, most likely).
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

/// The most a wasm32 linear memory can ever hold: 65,536 pages of 64 KiB.
const WASM32_MEMORY_MAX: u64 = 1 << 32;

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

/// A limit no workload can run under, or one that limits nothing (see [`Limits::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A memory limit of 0 bytes: no workload can even be instantiated.
    #[error(
        "a memory limit of 0 bytes lets no workload start (leave the limit unset for no limit)"
    )]
    NoMemory,
    /// A memory limit above 4 GiB, the most a wasm32 memory can hold.
    #[error(
        "a memory limit of {0} bytes is more than a wasm32 memory can ever hold (4 GiB), so \
         it would limit nothing (leave the limit unset for no limit)"
    )]
    MemoryBeyondWasm32(u64),
    /// A callback time limit of 0: every callback the runtime's tick finds running traps.
    #[error(
        "a callback time limit of 0 ms traps whatever callback runs when the runtime's tick \
         comes (leave the limit unset for no limit)"
    )]
    NoCallbackTime,
    /// A handle limit of 0: no socket, pipe, timer source or child could ever be opened.
    #[error(
        "a handle limit of 0 refuses every socket, pipe and child the workload would open \
         (leave the limit unset for no limit)"
    )]
    NoHandles,
}

impl Limits {
    /// `Ok` unless a limit is set to a value no workload can run under or that limits
    /// nothing: 0 for `memory_bytes`, `callback_cpu` or `handles`, or a `memory_bytes`
    /// above 4 GiB. A limit of 0 children or buffered bytes is
    /// meaningful (no subprocess; no write buffered in the host) and accepted.
    pub fn check(&self) -> Result<(), LimitError> {
        match self.memory_bytes {
            Some(0) => return Err(LimitError::NoMemory),
            Some(bytes) if bytes > WASM32_MEMORY_MAX => {
                return Err(LimitError::MemoryBeyondWasm32(bytes));
            }
            _ => {}
        }
        if self.callback_cpu.is_some_and(|limit| limit.is_zero()) {
            return Err(LimitError::NoCallbackTime);
        }
        if self.handles == Some(0) {
            return Err(LimitError::NoHandles);
        }
        Ok(())
    }

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
    use std::time::Duration;

    use super::{LimitError, Limits, WASM32_MEMORY_MAX};

    #[test]
    fn limits_that_allow_nothing_or_limit_nothing_are_refused() {
        let with = |limits: Limits| limits.check();
        assert_eq!(with(Limits::default()), Ok(()));
        let zero_children_and_buffers = Limits {
            children: Some(0),
            buffered_bytes: Some(0),
            ..Limits::default()
        };
        assert_eq!(with(zero_children_and_buffers), Ok(()));
        let memory = |bytes| Limits {
            memory_bytes: Some(bytes),
            ..Limits::default()
        };
        assert_eq!(with(memory(WASM32_MEMORY_MAX)), Ok(()));
        assert_eq!(
            with(memory(WASM32_MEMORY_MAX + 1)),
            Err(LimitError::MemoryBeyondWasm32(WASM32_MEMORY_MAX + 1))
        );
        assert_eq!(with(memory(0)), Err(LimitError::NoMemory));
        let callback = Limits {
            callback_cpu: Some(Duration::ZERO),
            ..Limits::default()
        };
        assert_eq!(with(callback), Err(LimitError::NoCallbackTime));
        let handles = Limits {
            handles: Some(0),
            ..Limits::default()
        };
        assert_eq!(with(handles), Err(LimitError::NoHandles));
    }

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
