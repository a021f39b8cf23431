//! Which way a pipe end carries bytes, public as `sandloop::os::PipeEnd`.

/// Which way a pipe end carries bytes.
///
/// ```no_run
/// # fn demo(transport: &sandloop::ReadPipeTransport) {
/// use sandloop::ExtraInfo;
/// use sandloop::os::PipeEnd;
/// if let Some(ExtraInfo::Pipe(info)) = transport.get_extra_info("pipe") {
///     assert_eq!(info.end, PipeEnd::Read);
///     println!("reading {}", info.name);
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeEnd {
    /// The end that reads.
    Read,
    /// The end that writes.
    Write,
}
