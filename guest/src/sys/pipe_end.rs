//! Which way a pipe end carries bytes, public as `sandloop::os::PipeEnd`.

/// Which way a pipe end carries bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeEnd {
    /// The end that reads.
    Read,
    /// The end that writes.
    Write,
}
