//! The `--max-*` flags of `sandloop run`: the workload's [`Limits`].

use std::time::Duration;

use clap::Args;
use sandloop_host::Limits;

/// Limits on what the workload may use of the host (none by default).
#[derive(Args, Debug, Default)]
pub(crate) struct LimitArgs {
    /// Trap the workload when its linear memory would grow past BYTES (a number with an
    /// optional K, M or G suffix: KiB, MiB, GiB), e.g. `--max-memory 64M`.
    #[arg(long = "max-memory", value_name = "BYTES", value_parser = Limits::parse_bytes)]
    max_memory: Option<u64>,
    /// Trap the workload when it runs longer than MS milliseconds without returning to
    /// its event loop (a callback that spins); time waiting for events is not counted.
    #[arg(long = "max-callback-time", value_name = "MS")]
    max_callback_time: Option<u64>,
    /// The most host handles (sockets, streams, pipes, children, ...) the workload may
    /// hold at once; one more is refused.
    #[arg(long = "max-handles", value_name = "N")]
    max_handles: Option<u32>,
    /// The most bytes the host buffers for the workload's writes, over all its streams
    /// (K, M, G suffixes as for --max-memory). Not supported yet: a run with it is
    /// refused.
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
